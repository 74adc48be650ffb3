package main

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// writePlot draws propagation time (p50 and p99) against the number of
// proxies, one line per implementation, as a self-contained SVG with log
// scales on both axes.
func writePlot(path string, rs []result) error {
	const w, h, left, right, top, bottom = 720.0, 420.0, 70.0, 160.0, 30.0, 50.0
	type point struct {
		n int
		d time.Duration
	}
	series := map[string][]point{}
	var minN, maxN = math.MaxInt, 0
	var minD, maxD = time.Duration(math.MaxInt64), time.Duration(0)
	for _, r := range rs {
		if r.err != nil || len(r.lat) == 0 {
			continue
		}
		for _, q := range []struct {
			name string
			p    float64
		}{{"p50", 0.5}, {"p99", 0.99}} {
			d := r.pct(q.p)
			key := r.impl + " " + q.name
			series[key] = append(series[key], point{r.n, d})
			minN, maxN = min(minN, r.n), max(maxN, r.n)
			minD, maxD = min(minD, d), max(maxD, d)
		}
	}
	if len(series) == 0 {
		return fmt.Errorf("nothing to plot")
	}
	lx := func(n int) float64 {
		if maxN == minN {
			return left
		}
		return left + (w-left-right)*(math.Log10(float64(n))-math.Log10(float64(minN)))/(math.Log10(float64(maxN))-math.Log10(float64(minN)))
	}
	lo, hi := math.Floor(math.Log10(millis(minD))), math.Ceil(math.Log10(millis(maxD)))
	if hi == lo {
		hi++
	}
	ly := func(d time.Duration) float64 {
		return top + (h-top-bottom)*(1-(math.Log10(millis(d))-lo)/(hi-lo))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="14">change → every proxy ACKed (log–log), one connection per proxy</text>`+"\n", left)
	for e := lo; e <= hi; e++ {
		y := top + (h-top-bottom)*(1-(e-lo)/(hi-lo))
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n",
			left, w-right, y, y, left-6, y+4, msLabel(math.Pow(10, e)))
	}
	var ns []int
	seen := map[int]bool{}
	for _, pts := range series {
		for _, p := range pts {
			if !seen[p.n] {
				seen[p.n] = true
				ns = append(ns, p.n)
			}
		}
	}
	sort.Ints(ns)
	for _, n := range ns {
		x := lx(n)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="#eee"/><text x="%.1f" y="%.0f" text-anchor="middle">%d</text>`+"\n",
			x, x, top, h-bottom, x, h-bottom+18, n)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">proxies</text>`+"\n", (left+w-right)/2, h-10)
	colors := map[string]string{"ours p50": "#1f6feb", "ours p99": "#1f6feb", "baseline p50": "#d1242f", "baseline p99": "#d1242f"}
	var keys []string
	for k := range series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		pts := series[k]
		sort.Slice(pts, func(a, b int) bool { return pts[a].n < pts[b].n })
		var path []string
		for _, p := range pts {
			path = append(path, fmt.Sprintf("%.1f,%.1f", lx(p.n), ly(p.d)))
		}
		dash := ""
		if strings.HasSuffix(k, "p99") {
			dash = ` stroke-dasharray="6 4"`
		}
		c := colors[k]
		if c == "" {
			c = "#555"
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", c, dash, strings.Join(path, " "))
		y := top + 10 + float64(i)*18
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" stroke="%s" stroke-width="2"%s/><text x="%.0f" y="%.0f">%s</text>`+"\n",
			w-right+12, w-right+40, y, y, c, dash, w-right+46, y+4, k)
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func millis(d time.Duration) float64 { return math.Max(float64(d)/float64(time.Millisecond), 0.01) }

func msLabel(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%gs", v/1000)
	}
	return fmt.Sprintf("%gms", v)
}
