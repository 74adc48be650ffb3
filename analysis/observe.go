package analysis

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds"
)

// MetricsObserver reads experiments' metrics through the providers their
// specs name: a Prometheus server, or targets it scrapes itself. It keeps
// one provider per experiment and metrics source, started by Prepare so
// that a scraper has history before the first window opens.
type MetricsObserver struct {
	log *slog.Logger
	// ScrapeInterval is the scrapers' period; default 1s.
	ScrapeInterval time.Duration

	mu        sync.Mutex
	defs      *metrics.Definitions
	ctx       context.Context
	providers map[string]*source
}

type source struct {
	// key identifies the source by content: a policy reload builds new
	// but equal definitions, and must not restart the scrapers (their
	// history is the metric window).
	key      string
	provider metrics.Provider
	stop     context.CancelFunc
	// since is when the source's history begins: a scraper's start; zero
	// for a Prometheus server, whose data outlive this process.
	since time.Time
}

var _ Observer = (*MetricsObserver)(nil)

// NewMetricsObserver reads metrics defined in defs; scrapers it starts run
// until ctx ends.
func NewMetricsObserver(ctx context.Context, defs *metrics.Definitions, log *slog.Logger) *MetricsObserver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &MetricsObserver{defs: defs, log: log, ctx: ctx, providers: map[string]*source{}}
}

// UnknownMetrics lists the metrics an experiment names that defs lacks.
func UnknownMetrics(e *policy.Experiment, defs *metrics.Definitions) []string {
	var out []string
	for _, m := range experimentMetrics(e) {
		if _, ok := defs.Lookup(m); !ok {
			out = append(out, m)
		}
	}
	return out
}

func experimentMetrics(e *policy.Experiment) []string {
	var out []string
	for _, o := range e.Objectives {
		if !slices.Contains(out, o.Metric) {
			out = append(out, o.Metric)
		}
	}
	if e.Reward != nil && !slices.Contains(out, e.Reward.Metric) {
		out = append(out, e.Reward.Metric)
	}
	return out
}

// SetDefinitions replaces the metric definitions, when the policy's
// Metric documents change. Scrapers restart, as they keep only the series
// their definitions read.
func (o *MetricsObserver) SetDefinitions(defs *metrics.Definitions) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.defs = defs
}

// experimentDefinitions are the definitions of the metrics e names, and a
// key of their content: editing a metric the experiment does not use
// leaves its source, and the history in it, alone.
func experimentDefinitions(e *policy.Experiment, defs *metrics.Definitions) ([]metrics.Definition, string) {
	var out []metrics.Definition
	for _, m := range experimentMetrics(e) {
		if d, ok := defs.Lookup(m); ok {
			out = append(out, d)
		}
	}
	// The key is what the definitions compute, not where they are
	// written: moving a Metric document in its file keeps the source.
	keyed := make([]metrics.Definition, len(out))
	for i, d := range out {
		d.Source, d.Kind, d.APIVersion = policy.Source{}, "", ""
		keyed[i] = d
	}
	b, _ := json.Marshal(keyed)
	return out, hex.EncodeToString(fnvSum(b))
}

func fnvSum(b []byte) []byte {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum(nil)
}

func (o *MetricsObserver) definitions() *metrics.Definitions {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.defs
}

// Prepare starts the experiment's metrics source, if it has none yet.
func (o *MetricsObserver) Prepare(e *policy.Experiment) {
	if _, err := o.provider(e); err != nil {
		o.log.Error("metrics source", "experiment", e.Name, "error", err)
	}
}

// provider returns the experiment's provider, replacing it when the spec's
// metrics source changed.
func (o *MetricsObserver) provider(e *policy.Experiment) (metrics.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	defs, defsKey := experimentDefinitions(e, o.defs)
	key := sourceKey(e.Metrics) + "|" + defsKey
	if s, ok := o.providers[e.Name]; ok {
		if s.key == key {
			return s.provider, nil
		}
		s.stop()
		delete(o.providers, e.Name)
	}
	var p metrics.Provider
	var since time.Time
	stop := func() {}
	switch e.Metrics.Provider {
	case policy.ProviderPrometheus:
		prom, err := metrics.NewPrometheus(metrics.PrometheusOptions{Address: e.Metrics.Prometheus})
		if err != nil {
			return nil, err
		}
		p = prom
	default:
		var targets []metrics.Target
		for version, urls := range e.Metrics.Targets {
			for _, u := range urls {
				targets = append(targets, metrics.Target{URL: u, Version: version})
			}
		}
		sort.Slice(targets, func(i, j int) bool { return targets[i].URL+targets[i].Version < targets[j].URL+targets[j].Version })
		sc, err := metrics.NewScraper(metrics.ScraperOptions{
			Targets: targets, Definitions: defs, Interval: o.ScrapeInterval, Logger: o.log,
		})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(o.ctx)
		go sc.Run(ctx)
		p, stop, since = sc, cancel, time.Now()
	}
	o.providers[e.Name] = &source{key: key, provider: p, stop: stop, since: since}
	return p, nil
}

// Since is when the experiment's metrics history begins: a window that
// starts earlier is measured from then. Zero when the source keeps its
// own history (Prometheus) or has not started.
func (o *MetricsObserver) Since(e *policy.Experiment) time.Time {
	if _, err := o.provider(e); err != nil {
		return time.Time{}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if s := o.providers[e.Name]; s != nil {
		return s.since
	}
	return time.Time{}
}

// Release stops the experiment's metrics source.
func (o *MetricsObserver) Release(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.providers[name]; ok {
		s.stop()
		delete(o.providers, name)
	}
}

func sourceKey(m policy.MetricsSource) string {
	var parts []string
	for v, urls := range m.Targets {
		parts = append(parts, v+"="+strings.Join(urls, ","))
	}
	sort.Strings(parts)
	return m.Provider + "|" + m.Prometheus + "|" + strings.Join(parts, ";")
}

// Observe reads every metric of the experiment for each of its versions
// over [from, to), with the counts behind each value. A metric that cannot
// be read carries an Error; one with nothing to judge yet (no requests, no
// series) also NoData.
func (o *MetricsObserver) Observe(ctx context.Context, e *policy.Experiment, from, to time.Time) Observations {
	obs := Observations{}
	defs := o.definitions()
	p, err := o.provider(e)
	for _, v := range e.Versions() {
		obs[v] = map[string]Observation{}
		for _, m := range experimentMetrics(e) {
			if err != nil {
				obs[v][m] = Observation{Error: "metrics source: " + err.Error()}
				continue
			}
			def, ok := defs.Lookup(m)
			if !ok {
				obs[v][m] = Observation{Error: fmt.Sprintf("unknown metric %q", m)}
				continue
			}
			val, qerr := p.Value(ctx, metrics.Query{
				Definition: def, App: e.App, Version: v, Cluster: xds.ClusterName(e.App, v), Start: from, End: to,
			})
			obs[v][m] = ObservationOf(def, val, qerr)
		}
	}
	return obs
}

// ObservationOf is what a provider's answer for def says: the value with
// its counts, or why there is none. err wrapping metrics.ErrNoData means
// no requests yet, not a source down.
func ObservationOf(def metrics.Definition, val metrics.Value, err error) Observation {
	o := Observation{Type: def.Type, Quantile: def.Quantile, Scale: def.Scale, Unit: def.Unit}
	switch {
	case errors.Is(err, metrics.ErrNoData):
		o.Error, o.NoData = "no requests yet: "+err.Error(), true
	case err != nil:
		o.Error = err.Error()
	default:
		o.Value, o.Samples, o.Events, o.Sum, o.Buckets = val.Value, val.Samples, val.Events, val.Sum, val.Buckets
	}
	return o
}
