package metrics

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// sample is one scraped series value, flattened the way Prometheus stores
// it: a histogram h becomes h_bucket{le=…}, h_sum and h_count.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// point is a series at a scrape: its value counted since the series was
// first seen, across resets (a value lower than the one before is a reset,
// and the new value is what was counted since, as in PromQL's increase).
// Keeping the count rather than the raw value makes any increase the
// difference of two points, so points between them can be dropped without
// losing resets. Times are Unix nanoseconds rather than time.Time to halve
// the history's memory.
type point struct {
	t int64
	c float64
}

type series struct {
	name   string
	labels map[string]string
	points []point // in scrape order
	last   float64 // the raw value at the last point
}

// attempt is one scrape of a target, successful or not.
type attempt struct {
	t   int64
	err error
}

// history is the bounded, timestamped record of one target's scrapes.
// It is not safe for concurrent use; its target's mutex guards it.
type history struct {
	attempts []attempt
	series   map[string]*series
	// thinnedTo: scrapes before it are already one per coarse slot.
	thinnedTo int64
}

// add records a scrape at t: its samples, or the error that spoiled it.
// Scrapes of one target must be added in time order.
func (h *history) add(t time.Time, samples []sample, err error) {
	ts := t.UnixNano()
	h.attempts = append(h.attempts, attempt{t: ts, err: err})
	if err != nil {
		return
	}
	if h.series == nil {
		h.series = map[string]*series{}
	}
	for _, s := range samples {
		k := seriesKey(s.name, s.labels)
		sr := h.series[k]
		if sr == nil {
			sr = &series{name: s.name, labels: s.labels}
			h.series[k] = sr
		}
		c := s.value // a new series counts from 0
		if n := len(sr.points); n > 0 {
			c = sr.points[n-1].c + s.value
			if s.value >= sr.last {
				c -= sr.last
			}
		}
		sr.points = append(sr.points, point{t: ts, c: c})
		sr.last = s.value
	}
}

// Resolution of the history: every scrape of the last fullResolution is
// kept; older ones, one per coarseSlot, until retention. An experiment's
// evidence can reach back hours; its latest step is read at full
// resolution.
const (
	fullResolution = 15 * time.Minute
	coarseSlot     = 30 * time.Second
)

// prune forgets scrapes before now−retention, and series left with no
// point, and keeps scrapes older than fullResolution one per coarseSlot
// (the last successful one of each slot), so memory is bounded by the
// number of kept series × (fullResolution × scrape rate + retention ÷
// coarseSlot).
func (h *history) prune(now time.Time, retention time.Duration) {
	c := now.Add(-retention).UnixNano()
	i := sort.Search(len(h.attempts), func(i int) bool { return h.attempts[i].t >= c })
	h.attempts = append(h.attempts[:0], h.attempts[i:]...)
	thinTo := now.Add(-fullResolution).UnixNano()
	// Thin at most once a slot: a pass costs a walk over the history.
	thin := thinTo-h.thinnedTo >= int64(coarseSlot)
	var kept map[int64]bool
	if thin {
		kept = map[int64]bool{}
		out := h.attempts[:0]
		for j, a := range h.attempts {
			switch {
			case a.t >= thinTo:
				out = append(out, a)
			case a.err != nil:
				// Only the latest scrapes' errors matter: they fail queries.
			case j+1 < len(h.attempts) && h.attempts[j+1].t < thinTo && h.attempts[j+1].t/int64(coarseSlot) == a.t/int64(coarseSlot) && h.attempts[j+1].err == nil:
				// A later successful scrape in the same slot stands for it.
			default:
				out = append(out, a)
				kept[a.t] = true
			}
		}
		h.attempts = out
		h.thinnedTo = thinTo
	}
	for k, sr := range h.series {
		j := sort.Search(len(sr.points), func(j int) bool { return sr.points[j].t >= c })
		pts := append(sr.points[:0], sr.points[j:]...)
		if thin {
			out := pts[:0]
			for _, p := range pts {
				if p.t >= thinTo || kept[p.t] {
					out = append(out, p)
				}
			}
			pts = out
		}
		if len(pts) == 0 {
			delete(h.series, k)
			continue
		}
		sr.points = pts
	}
}

// span picks the two scrapes a window [start, end] is measured between:
// from, the last successful scrape at or before start (or, when history
// begins later, the first successful one after it); to, the last scrape at
// or before end, which must have succeeded and be at most maxStale old.
// A failed or stale end is an error: a sum over targets that silently
// left one out would be wrong, not merely late.
func (h *history) span(start, end time.Time, maxStale time.Duration) (from, to int64, err error) {
	s, e := start.UnixNano(), end.UnixNano()
	n := sort.Search(len(h.attempts), func(i int) bool { return h.attempts[i].t > e })
	if n == 0 {
		return 0, 0, fmt.Errorf("not scraped at or before %s: %w", end.Format(time.RFC3339Nano), ErrNoData)
	}
	last := h.attempts[n-1]
	if last.err != nil {
		return 0, 0, fmt.Errorf("scrape at %s failed: %w", time.Unix(0, last.t).Format(time.RFC3339Nano), last.err)
	}
	if age := time.Duration(e - last.t); age > maxStale {
		return 0, 0, fmt.Errorf("last scrape at or before the window's end is %s old (stale beyond %s): is the scraper running?", age.Round(time.Millisecond), maxStale)
	}
	from = -1
	for _, a := range h.attempts[:n] {
		if a.err != nil {
			continue
		}
		if a.t <= s || from < 0 {
			from = a.t
		}
		if a.t > s {
			break
		}
	}
	return from, last.t, nil
}

// increases sums, over the series named name that sel selects, each
// series' increase between the scrapes at from and to, grouped by the
// value of the label by ("" for one group). A series absent at from was
// created after it and counts from 0; resets are counted as PromQL's
// increase counts them (see point). matched counts the series selected
// that were scraped within [from, to].
func (h *history) increases(name string, sel compiledSelector, from, to int64, by string) (sums map[string]float64, matched int) {
	sums = map[string]float64{}
	for _, sr := range h.series {
		if sr.name != name || !sel.matches(sr.labels) {
			continue
		}
		// The last point at or before each end.
		end := sort.Search(len(sr.points), func(i int) bool { return sr.points[i].t > to }) - 1
		if end < 0 || sr.points[end].t < from {
			continue // not scraped within the window
		}
		start := sort.Search(len(sr.points), func(i int) bool { return sr.points[i].t > from }) - 1
		before := 0.0
		if start >= 0 {
			before = sr.points[start].c
		}
		matched++
		sums[sr.labels[by]] += sr.points[end].c - before
	}
	return sums, matched
}

// seriesKey identifies a series by name and sorted labels.
func seriesKey(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(labels[k])
	}
	return b.String()
}
