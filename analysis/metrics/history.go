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

// point is a series value at a scrape. Times are Unix nanoseconds rather
// than time.Time to halve the history's memory.
type point struct {
	t int64
	v float64
}

type series struct {
	name   string
	labels map[string]string
	points []point // in scrape order
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
		sr.points = append(sr.points, point{t: ts, v: s.value})
	}
}

// prune forgets scrapes before cutoff, and series left with no point, so
// memory is bounded by retention × scrape rate × kept series.
func (h *history) prune(cutoff time.Time) {
	c := cutoff.UnixNano()
	i := sort.Search(len(h.attempts), func(i int) bool { return h.attempts[i].t >= c })
	h.attempts = append(h.attempts[:0], h.attempts[i:]...)
	for k, sr := range h.series {
		j := sort.Search(len(sr.points), func(j int) bool { return sr.points[j].t >= c })
		if j == len(sr.points) {
			delete(h.series, k)
			continue
		}
		sr.points = append(sr.points[:0], sr.points[j:]...)
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
// created after it and counts from 0. A value lower than the one before is
// a counter reset (the process restarted): the increase across it is the
// new value, as in PromQL's increase. matched counts the series selected.
func (h *history) increases(name string, sel compiledSelector, from, to int64, by string) (sums map[string]float64, matched int) {
	sums = map[string]float64{}
	for _, sr := range h.series {
		if sr.name != name || !sel.matches(sr.labels) {
			continue
		}
		i := sort.Search(len(sr.points), func(i int) bool { return sr.points[i].t >= from })
		prev, inc, seen := 0.0, 0.0, false
		for _, p := range sr.points[i:] {
			if p.t > to {
				break
			}
			seen = true
			switch {
			case p.t == from:
				prev = p.v
				continue
			case p.v >= prev:
				inc += p.v - prev
			default:
				inc += p.v
			}
			prev = p.v
		}
		if !seen {
			continue
		}
		matched++
		sums[sr.labels[by]] += inc
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
