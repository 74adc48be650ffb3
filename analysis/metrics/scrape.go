package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/shadowplane/shadowplane/internal/redact"
)

// AllVersions as a Target's Version shares the target among versions: an
// Envoy's /stats/prometheus, where envoy_cluster_name tells versions apart.
const AllVersions = "*"

// Target is a Prometheus-text endpoint: an Envoy admin /stats/prometheus or
// an app's /metrics.
type Target struct {
	URL string
	// Version is the only version the target's series count for;
	// AllVersions or "" for every version.
	Version string
}

func (t Target) serves(version string) bool {
	return t.Version == "" || t.Version == AllVersions || t.Version == version
}

// Scraper defaults.
const (
	DefaultScrapeInterval = time.Second
	DefaultRetention      = 12 * time.Hour
	// maxBody bounds a scrape: Envoy's stats with thousands of clusters are
	// a few MiB.
	maxBody = 64 << 20
)

// ScraperOptions configure a Scraper; zero fields take defaults.
type ScraperOptions struct {
	// Targets to scrape.
	Targets []Target
	// Definitions the scraper will be asked for; only their families are
	// kept. Nil means Builtin().
	Definitions []Definition
	// Interval between scrapes in Run. Default 1s.
	Interval time.Duration
	// Timeout of one scrape. Default Interval.
	Timeout time.Duration
	// Retention is how long scrapes are kept: windows reaching further
	// back are measured from the oldest scrape kept. Scrapes of the last
	// 15 minutes are all kept; older ones one per 30 s (a window starting
	// then may begin up to 30 s early). Default 12h: an experiment's
	// evidence reaches back to its start.
	Retention time.Duration
	// MaxStaleness is how old the last scrape before a window's end may be
	// before queries fail rather than use it. Default 3×Interval+Timeout.
	MaxStaleness time.Duration
	// Client fetches targets. Default: a client with no overall timeout
	// (Timeout applies per scrape).
	Client *http.Client
	// Logger logs failed scrapes (once per target until it recovers); nil
	// logs nothing.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. For tests.
	Now func() time.Time
}

// Scraper is the embedded metrics provider: it scrapes Prometheus text
// from its targets, keeps a bounded history of the series its definitions
// need, and computes queries from the increases between two scrapes. It is
// safe for concurrent use.
type Scraper struct {
	opts    ScraperOptions
	keep    map[string]bool // series names to keep
	targets []*target
}

var _ Provider = (*Scraper)(nil)

type target struct {
	Target
	scrapeMu sync.Mutex // one scrape at a time, so history stays in time order
	mu       sync.Mutex // guards hist and failing
	hist     history
	failing  bool
}

// NewScraper checks opts and returns a Scraper that has not scraped yet.
func NewScraper(opts ScraperOptions) (*Scraper, error) {
	if opts.Definitions == nil {
		opts.Definitions = Builtin()
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultScrapeInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = opts.Interval
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.MaxStaleness <= 0 {
		opts.MaxStaleness = 3*opts.Interval + opts.Timeout
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var errs []error
	if len(opts.Targets) == 0 {
		errs = append(errs, errors.New("no targets to scrape"))
	}
	s := &Scraper{opts: opts, keep: map[string]bool{}}
	for _, d := range opts.Definitions {
		if err := d.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("metric %q: %w", d.Name, err))
		}
		for _, name := range scrapedNames(d) {
			s.keep[name] = true
		}
	}
	for _, t := range opts.Targets {
		if t.URL == "" {
			errs = append(errs, errors.New("a target has no URL"))
		}
		s.targets = append(s.targets, &target{Target: t})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("metrics scraper: %w", err)
	}
	return s, nil
}

// scrapedNames are the series names a definition reads.
func scrapedNames(d Definition) []string {
	var out []string
	if h := d.Scrape.Histogram.Family; h != "" {
		out = append(out, h+"_bucket", h+"_sum", h+"_count")
	}
	for _, sel := range []Selector{d.Scrape.Numerator, d.Scrape.Denominator, d.Scrape.Counter} {
		if sel.Family != "" {
			out = append(out, sel.Family)
		}
	}
	return out
}

// Run scrapes every target each Interval until ctx is done, then returns
// nil. Failed scrapes are recorded and fail the queries that need them.
func (s *Scraper) Run(ctx context.Context) error {
	tick := time.NewTicker(s.opts.Interval)
	defer tick.Stop()
	for {
		_ = s.ScrapeNow(ctx) // recorded per target; queries report them
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// ScrapeNow scrapes every target once, concurrently, records the results
// and returns the failures joined.
func (s *Scraper) ScrapeNow(ctx context.Context) error {
	errs := make([]error, len(s.targets))
	var wg sync.WaitGroup
	for i, t := range s.targets {
		wg.Go(func() { errs[i] = s.scrape(ctx, t) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Scraper) scrape(ctx context.Context, t *target) error {
	t.scrapeMu.Lock()
	defer t.scrapeMu.Unlock()
	// Stamped at the start, as Prometheus stamps its samples; the values
	// may include requests up to one scrape duration later.
	at := s.opts.Now()
	samples, err := s.fetch(ctx, t.URL)
	if err != nil && ctx.Err() != nil {
		// The scraper is stopping: that says nothing of the target, and
		// queries after it should see staleness, not a failed target.
		return ctx.Err()
	}
	if err != nil {
		err = fmt.Errorf("scrape %s: %w", t.URL, err)
	}

	t.mu.Lock()
	t.hist.add(at, samples, err)
	t.hist.prune(at, s.opts.Retention)
	wasFailing := t.failing
	t.failing = err != nil
	t.mu.Unlock()

	if log := s.opts.Logger; log != nil {
		switch {
		case err != nil && !wasFailing:
			// A target's URL may carry a password or token, and the
			// error quotes it.
			log.Warn("metrics target failing", "url", redact.URL(t.URL), "err", redact.Text(err.Error()))
		case err == nil && wasFailing:
			log.Info("metrics target recovered", "url", redact.URL(t.URL))
		}
	}
	return err
}

// Value computes q from the scrapes of every target serving q.Version.
func (s *Scraper) Value(ctx context.Context, q Query) (Value, error) {
	if err := ctx.Err(); err != nil {
		return Value{}, err
	}
	d := q.Definition
	if d.Scrape.IsZero() {
		return Value{}, fmt.Errorf("metric %s has no scrape spec", d.Name)
	}
	for _, name := range scrapedNames(d) {
		if !s.keep[name] {
			return Value{}, fmt.Errorf("metric %s: series %s is not kept by this scraper: add the definition to ScraperOptions.Definitions", d.Name, name)
		}
	}
	vars, err := q.vars()
	if err != nil {
		return Value{}, err
	}
	w, err := s.window(q, vars)
	if err != nil {
		return Value{}, fmt.Errorf("metric %s of %s/%s: %w", d.Name, q.App, q.Version, err)
	}
	v, err := w.value(d)
	if err != nil {
		return Value{}, fmt.Errorf("metric %s of %s/%s: %w", d.Name, q.App, q.Version, err)
	}
	return v, nil
}

// window sums, over the targets serving q's version, the increases of
// every series q's definition reads.
func (s *Scraper) window(q Query, vars Vars) (increases, error) {
	sels, err := compileScrape(q.Definition.Scrape, vars)
	if err != nil {
		return increases{}, err
	}
	inc := newIncreases()
	var errs []error
	served := 0
	for _, t := range s.targets {
		if !t.serves(q.Version) {
			continue
		}
		served++
		t.mu.Lock()
		from, to, err := t.hist.span(q.Start, q.End, s.opts.MaxStaleness)
		if err == nil {
			for _, rs := range sels {
				sums, n := t.hist.increases(rs.name, rs.sel, from, to, rs.by)
				inc.add(rs, sums, n)
			}
		}
		t.mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", t.URL, err))
		}
	}
	if served == 0 {
		return increases{}, fmt.Errorf("no target serves version %q: %w", q.Version, ErrNoData)
	}
	return inc, joinTargetErrors(errs)
}

// joinTargetErrors joins per-target errors so that the result wraps
// ErrNoData only when every one of them does: a target that could not be
// read is a failure even while another merely has no data yet.
func joinTargetErrors(errs []error) error {
	var failures []error
	for _, err := range errs {
		if !errors.Is(err, ErrNoData) {
			failures = append(failures, err)
		}
	}
	if len(failures) > 0 {
		return errors.Join(failures...)
	}
	return errors.Join(errs...)
}
