package analysis

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// explain says in words what a check saw and why it passed, failed, or is
// not decided yet.
func (j *judge) explain(c condition, ck Check) string {
	var b strings.Builder
	if !strings.HasPrefix(c.quantity, c.metric) {
		b.WriteString(c.metric + " ")
	}
	fmt.Fprintf(&b, "%s %s", c.quantity, formatValue(ck.Estimate, c.unit))
	fmt.Fprintf(&b, " (interval %s) after %s requests", formatInterval(ck, c.unit), formatCount(c.samples))
	limit := opText(c.op) + " " + formatValue(c.limit, c.unit)
	switch ck.Outcome {
	case Pass:
		fmt.Fprintf(&b, ": shown %s", limit)
	case Fail:
		fmt.Fprintf(&b, ": shown not %s", limit)
	default:
		b.WriteString(": " + j.needText(c, ck, limit))
	}
	if c.note != "" {
		fmt.Fprintf(&b, " (%s)", c.note)
	}
	return b.String()
}

// needText says how much more data would decide a pending check, and
// about how long that takes at the rate seen so far.
func (j *judge) needText(c condition, ck Check, limit string) string {
	if ck.Need == nil {
		return "at the rate seen so far, more data may never tell it from " + formatValue(c.limit, c.unit)
	}
	side := limit
	if est := ck.Estimate; (c.op == "<=" && est > c.limit) || (c.op == ">=" && est < c.limit) {
		side = "not " + limit
	}
	s := fmt.Sprintf("about %s requests in this step would show it %s", formatCount(*ck.Need), side)
	if more := *ck.Need - c.samples; more > 0 && j.elapsed > 0 && c.samples > 0 {
		perSecond := c.samples / j.elapsed.Seconds()
		s += fmt.Sprintf(" (%s more at %s/s: %s)", formatCount(more), formatNumber(perSecond), formatDuration(time.Duration(more/perSecond*float64(time.Second))))
	}
	return s
}

func opText(op string) string {
	if op == ">=" {
		return "≥"
	}
	return "≤"
}

func formatInterval(ck Check, unit string) string {
	lo, hi := "−∞", "∞"
	if ck.Low != nil {
		lo = formatValue(*ck.Low, unit)
	}
	if ck.High != nil {
		hi = formatValue(*ck.High, unit)
	}
	return lo + " to " + hi
}

// formatValue writes v in unit: rates and shares as percentages, ratios
// to the baseline with ×, other units after the number.
func formatValue(v float64, unit string) string {
	switch unit {
	case "ratio", "share":
		return formatNumber(100*v) + " %"
	case "×":
		return formatNumber(v) + "×"
	case "":
		return formatNumber(v)
	}
	return formatNumber(v) + " " + unit
}

// formatNumber writes three significant digits (two below 1), trailing
// zeros dropped, without exponents for everyday magnitudes: 1234, 45.6,
// 1.88, 1, 0.012.
func formatNumber(v float64) string {
	a := math.Abs(v)
	var prec int
	switch {
	case math.IsInf(v, 0) || math.IsNaN(v):
		return fmt.Sprint(v)
	case a < 5e-5:
		return "0" // a bound this close to 0 is 0 to anyone reading it
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		prec = 1
	case a >= 1:
		prec = 2
	case a >= 1e-4:
		prec = 1 - int(math.Floor(math.Log10(a)))
	default:
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}

func formatCount(v float64) string {
	if math.IsInf(v, 0) {
		return "∞"
	}
	return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
}

func formatDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("about %.0f min", d.Minutes())
	}
	return fmt.Sprintf("about %.1f h", d.Hours())
}
