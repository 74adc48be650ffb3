// Package pipeline is the one path from a policy model to the proxies: a
// source's latest model, the experiment overrides on it, its translation
// to xDS, and its publication, staged make before break. cmd only wires
// it (decision 0015).
//
// Its inputs are the policy — the documents of every source (the
// directory's files, the Kubernetes source's ConfigMaps), merged by the
// one set policy/files keeps (decision 0017), which calls SetModel with
// each new model — and the endpoints of the Services variants name, from
// the Kubernetes source (Endpoints). The runner lays the experiments on
// the policy; Publish resolves the Services against the endpoints and
// translates. An endpoint change alone re-sends only endpoints (see
// endpoints.go).
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds/server"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// Runner is what the pipeline needs of the experiment runner
// (*analysis.Runner): the overrides step. It takes each model and
// publishes its effective model — the policy with every experiment's
// current route — back through the pipeline (Publish).
type Runner interface {
	// Effective is the model to serve for m under the experiments'
	// current states.
	Effective(m *policy.Model) *policy.Model
	// Start lets SetModel start experiments, under ctx.
	Start(ctx context.Context)
	// SetModel takes a new model and publishes its effective model.
	SetModel(ctx context.Context, m *policy.Model) error
}

// Observer is what the pipeline needs of the metrics observer
// (*analysis.MetricsObserver): the metric definitions of each model.
type Observer interface {
	SetDefinitions(defs *metrics.Definitions)
}

// Stager serves generations make before break (*server.Publisher). An
// error means the generation was not served and proxies keep what they
// had.
type Stager interface {
	Publish(ctx context.Context, next *snapshot.Generation) error
}

// RouteWaiter waits for proxies to hold the routes served now
// (*server.Registry); it fails with a *server.RejectedError when one
// rejects them.
type RouteWaiter interface {
	WaitRoutes(ctx context.Context, app string) error
}

// Metrics counts what the pipeline fails to serve (*server.Metrics).
type Metrics interface {
	SnapshotError()
}

// Config wires a Pipeline. Every field is required but Endpoints.
type Config struct {
	Stager   Stager
	Routes   RouteWaiter
	Observer Observer
	Metrics  Metrics
	Log      hclog.Logger
	// Endpoints resolves the Services variants name; nil leaves them
	// without endpoints (no Kubernetes source).
	Endpoints EndpointSource
}

// Pipeline serves each model it is given: see the package comment. It is
// the runner's analysis.Publisher, so the runner is made after it and
// handed over with SetRunner, before Start.
type Pipeline struct {
	cfg    Config
	runner Runner
	ready  atomic.Bool

	// publishMu orders publications: the runner's, and the endpoint
	// changes' (endpoints.go). last is what the last one served.
	publishMu sync.Mutex
	last      *served
	// endpointsChanged asks the endpoints loop to serve new endpoints.
	endpointsChanged chan struct{}
}

var _ analysis.Publisher = (*Pipeline)(nil)

// New returns a pipeline serving through cfg's parts.
func New(cfg Config) *Pipeline {
	return &Pipeline{cfg: cfg, endpointsChanged: make(chan struct{}, 1)}
}

// SetRunner sets the experiment runner, which publishes through p: call
// it once, before Start.
func (p *Pipeline) SetRunner(r Runner) { p.runner = r }

// Ready reports whether a configuration has been served.
func (p *Pipeline) Ready() bool { return p.ready.Load() }

// Start serves initial, the source's model at start, then starts the
// runner and hands it initial. An error means nothing could be served.
func (p *Pipeline) Start(ctx context.Context, initial *policy.Model) error {
	if p.runner == nil {
		return errors.New("pipeline: Start before SetRunner")
	}
	// The first snapshot already carries the saved experiment steps, so a
	// restart never shows proxies the policy's weights in between.
	if err := p.Publish(ctx, p.runner.Effective(initial)); err != nil {
		return err
	}
	p.runner.Start(ctx)
	p.SetModel(ctx, initial)
	if p.cfg.Endpoints != nil {
		go p.serveEndpoints(ctx)
	}
	return nil
}

// SetModel takes the source's latest model: its metrics define what the
// observer reads, its experiments are checked, and the runner serves it
// with their overrides. Problems are logged, never returned: the last
// good configuration stays served. Calls must not overlap (the watcher
// makes them one at a time).
//
// The seam for a second source is here: m would be the merge of every
// source's latest model.
func (p *Pipeline) SetModel(ctx context.Context, m *policy.Model) {
	log := p.cfg.Log
	// A bad metric leaves out that metric alone; from policy files it
	// never comes this far, as its file is refused whole.
	defs, err := metrics.NewDefinitions(m.Metrics...)
	if err != nil {
		log.Error("metrics not defined; experiments naming them cannot be judged", "problems", err.Error())
	}
	p.cfg.Observer.SetDefinitions(defs)
	problems, warnings := analysis.CheckModel(m, defs)
	for _, pr := range problems {
		log.Error("experiment cannot be decided", "problem", pr.Error())
	}
	for _, w := range warnings {
		log.Warn("experiment", "warning", w.Error())
	}
	if err := p.runner.SetModel(ctx, m); err != nil {
		log.Error("policy not served", "error", err)
		return
	}
	log.Info("policy served", "apps", len(m.Apps), "experiments", len(m.Experiments))
}

// Publish resolves m's Services against the current endpoints, translates
// it and serves it. On an error proxies keep the last good configuration,
// and Ready is unchanged.
func (p *Pipeline) Publish(ctx context.Context, m *policy.Model) error {
	p.publishMu.Lock()
	defer p.publishMu.Unlock()
	start := time.Now()
	table := p.endpoints(m)
	gen := snapshot.NewGeneration(m.WithEndpoints(table))
	if err := p.serve(ctx, gen); err != nil {
		return err
	}
	p.last = &served{model: m, table: table, gen: gen}
	p.cfg.Log.Debug("configuration served", "apps", len(m.Apps), "took", time.Since(start))
	return nil
}

// serve hands gen to the stager; the caller holds publishMu.
func (p *Pipeline) serve(ctx context.Context, gen *snapshot.Generation) error {
	if err := p.cfg.Stager.Publish(ctx, gen); err != nil {
		p.cfg.Metrics.SnapshotError()
		p.cfg.Log.Error("new configuration not served; proxies keep the last good one", "error", err)
		return err
	}
	p.ready.Store(true)
	return nil
}

// WaitRoutes waits for the proxies that receive app to hold the routes
// served now; a rejection wraps analysis.ErrRejected.
func (p *Pipeline) WaitRoutes(ctx context.Context, app string) error {
	err := p.cfg.Routes.WaitRoutes(ctx, app)
	var rejected *server.RejectedError
	if errors.As(err, &rejected) {
		return fmt.Errorf("%w: %v", analysis.ErrRejected, err)
	}
	return err
}
