package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func counter(v float64, labels ...string) sample {
	ls := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		ls[labels[i]] = labels[i+1]
	}
	return sample{name: "c_total", labels: ls, value: v}
}

func all() compiledSelector { return compiledSelector{family: "c_total"} }

func TestIncreases(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scrape [][]sample // one per second from t0
		from   float64
		to     float64
		want   float64
	}{{
		name:   "delta between the two scrapes",
		scrape: [][]sample{{counter(10)}, {counter(15)}, {counter(30)}, {counter(31)}},
		from:   1, to: 2, want: 15,
	}, {
		name: "counter reset: the value after a restart counts from zero",
		// 10 → 40 (+30), restart → 5 (+5), → 8 (+3).
		scrape: [][]sample{{counter(10)}, {counter(40)}, {counter(5)}, {counter(8)}},
		from:   0, to: 3, want: 38,
	}, {
		name:   "series absent at the start was created since: counts from 0",
		scrape: [][]sample{{}, {counter(3)}, {counter(7)}},
		from:   0, to: 2, want: 7,
	}, {
		name:   "series gone at the end keeps what it counted",
		scrape: [][]sample{{counter(1)}, {counter(4)}, {}},
		from:   0, to: 2, want: 3,
	}, {
		name: "series are summed after each one's own reset handling",
		scrape: [][]sample{
			{counter(100, "code", "200"), counter(5, "code", "500")},
			{counter(2, "code", "200"), counter(6, "code", "500")},
		},
		from: 0, to: 1, want: 2 + 1,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var h history
			for i, s := range tc.scrape {
				h.add(at(float64(i)), s, nil)
			}
			sums, _ := h.increases("c_total", all(), at(tc.from).UnixNano(), at(tc.to).UnixNano(), "")
			if got := sums[""]; got != tc.want {
				t.Fatalf("increase = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIncreasesGroupsAndMatchers(t *testing.T) {
	var h history
	h.add(at(0), []sample{counter(1, "v", "a", "le", "1"), counter(1, "v", "b", "le", "1"), counter(1, "v", "a", "le", "+Inf")}, nil)
	h.add(at(1), []sample{counter(4, "v", "a", "le", "1"), counter(9, "v", "b", "le", "1"), counter(6, "v", "a", "le", "+Inf")}, nil)
	lm, err := compileMatcher("m", Matcher{Label: "v", Op: Equal, Value: "a"}, Vars{})
	if err != nil {
		t.Fatal(err)
	}
	sums, n := h.increases("c_total", compiledSelector{matchers: []labelMatcher{lm}}, at(0).UnixNano(), at(1).UnixNano(), "le")
	if n != 2 || sums["1"] != 3 || sums["+Inf"] != 5 || len(sums) != 2 {
		t.Fatalf("got %v from %d series, want map[+Inf:5 1:3] from 2", sums, n)
	}
}

func TestSpan(t *testing.T) {
	boom := errors.New("connection refused")
	stale := 3 * time.Second
	for _, tc := range []struct {
		name       string
		attempts   []error // one per second from t0; nil is a success
		start, end float64
		from, to   float64
		err        string // substring; "no data" for ErrNoData
	}{{
		name:     "last success at or before start, last scrape at or before end",
		attempts: []error{nil, nil, nil, nil, nil},
		start:    1.5, end: 3.5, from: 1, to: 3,
	}, {
		name:     "scrape exactly at the bounds",
		attempts: []error{nil, nil, nil, nil},
		start:    1, end: 3, from: 1, to: 3,
	}, {
		name:     "history begins after start: measured from its first scrape",
		attempts: []error{nil, nil, nil},
		start:    -10, end: 2, from: 0, to: 2,
	}, {
		name:     "failed baseline is skipped for an earlier success",
		attempts: []error{nil, boom, nil, nil},
		start:    1.5, end: 3, from: 0, to: 3,
	}, {
		name:     "failed end is an error, not a value",
		attempts: []error{nil, nil, boom},
		start:    0, end: 2.5, err: "connection refused",
	}, {
		name:     "stale end is an error",
		attempts: []error{nil, nil},
		start:    0, end: 10, err: "stale",
	}, {
		name:     "nothing scraped by the end is no data",
		attempts: []error{nil},
		start:    -5, end: -1, err: "no data",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var h history
			for i, err := range tc.attempts {
				h.add(at(float64(i)), []sample{counter(float64(i))}, err)
			}
			from, to, err := h.span(at(tc.start), at(tc.end), stale)
			switch {
			case tc.err == "no data":
				if !errors.Is(err, ErrNoData) {
					t.Fatalf("err = %v, want ErrNoData", err)
				}
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) || errors.Is(err, ErrNoData) {
					t.Fatalf("err = %v, want an error with %q that is not ErrNoData", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case from != at(tc.from).UnixNano() || to != at(tc.to).UnixNano():
				t.Fatalf("span = [%v, %v], want [%v, %v]", time.Unix(0, from).Sub(t0), time.Unix(0, to).Sub(t0), tc.from, tc.to)
			}
		})
	}
}

func TestPruneBoundsMemory(t *testing.T) {
	var h history
	for i := range 1000 {
		s := []sample{counter(float64(i))}
		if i < 10 {
			s = append(s, counter(1, "gone", "soon"))
		}
		h.add(at(float64(i)), s, nil)
		h.prune(at(float64(i)), 99*time.Second)
	}
	if len(h.attempts) != 100 || len(h.series) != 1 {
		t.Fatalf("kept %d attempts and %d series, want 100 and 1", len(h.attempts), len(h.series))
	}
	for _, sr := range h.series {
		if len(sr.points) != 100 {
			t.Fatalf("kept %d points, want 100", len(sr.points))
		}
	}
}

// Six hours of scrapes a second, with counter resets: the history keeps
// the last 15 minutes whole and one scrape per 30 s before, and every
// increase from a kept scrape is what the counter really counted.
func TestThinnedHistoryKeepsIncreases(t *testing.T) {
	var h history
	const hours = 6
	raw, counted := 0.0, make([]float64, hours*3600)
	total := 0.0
	for i := range hours * 3600 {
		if i%1000 == 999 {
			raw = 0 // the process restarted
		}
		raw += float64(i % 7)
		total += float64(i % 7)
		counted[i] = total
		h.add(at(float64(i)), []sample{counter(raw)}, nil)
		h.prune(at(float64(i)), 12*time.Hour)
	}
	want := hours*3600/30 + 15*60
	if n := len(h.attempts); n < want-5 || n > want+5 {
		t.Errorf("kept %d scrapes, want about %d", n, want)
	}
	// Windows from the start, from the middle, and within the last minutes.
	for _, w := range [][2]int{{0, hours*3600 - 1}, {7200, hours*3600 - 1}, {hours*3600 - 600, hours*3600 - 1}} {
		from, to, err := h.span(at(float64(w[0])), at(float64(w[1])), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		sums, matched := h.increases("c_total", all(), from, to, "")
		f, e := int(time.Unix(0, from).Sub(t0)/time.Second), int(time.Unix(0, to).Sub(t0)/time.Second)
		if want := counted[e] - counted[f]; matched != 1 || sums[""] != want {
			t.Errorf("window %v (measured %d–%d): increase %v, want %v", w, f, e, sums[""], want)
		}
		if w[0]-f > 30 {
			t.Errorf("window %v starts at %d: more than a slot early", w, f)
		}
	}
}
