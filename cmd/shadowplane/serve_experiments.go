package main

import (
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/analysis/notify"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/policy/files"
)

// experimentHooks are what serve gives the runner besides its store,
// observer and publisher: the webhooks, the write-back of promotions into
// policy files, and who leads. They are built before the runner, which
// they call back through runner once it exists.
type experimentHooks struct {
	notifier *notify.Notifier
	runner   *analysis.Runner
	// model is the policy model now served (the watcher's), read at the
	// time of a write-back: the file an app lives in may have moved.
	model func() *policy.Model
}

// newExperimentHooks starts the notifier. Under leader election only the
// leader sends webhooks (active); every replica sees the same states.
func newExperimentHooks(log hclog.Logger, active func() bool) *experimentHooks {
	h := &experimentHooks{}
	h.notifier = notify.New(notify.Options{
		Log: log.Named("webhooks"),
		// Deliveries are recorded in the experiment's history; the
		// notifier never calls this under the runner's lock.
		Record: func(name string, e analysis.HistoryEntry) error {
			if h.runner == nil {
				return nil
			}
			return h.runner.Record(name, e)
		},
		Active: active,
	})
	return h
}

// configure fills the runner's hooks into cfg. leader names the leading
// replica for a follower's refusals (nil outside leader election).
func (h *experimentHooks) configure(cfg *analysis.RunnerConfig, leader func() string) {
	prev := cfg.OnChange
	cfg.OnChange = func(st *analysis.State) {
		if prev != nil {
			prev(st)
		}
		h.notifier.Observe(st)
	}
	cfg.Gate = h.notifier.Gate
	cfg.WriteBack = h.writeBack
	cfg.Leader = leader
}

// writeBack writes a promoted route into the policy file its app is
// declared in, keeping every variant the policy's route names (at weight
// 0 when the promotion gave it none) so that an experiment naming it stays
// valid until it is removed. The watcher then takes the file as any edit.
func (h *experimentHooks) writeBack(e *policy.Experiment, st analysis.State) error {
	if h.model == nil {
		return fmt.Errorf("no policy model is served yet")
	}
	m := h.model()
	app, ok := m.App(e.App)
	if !ok {
		return fmt.Errorf("app %q is not in the policies", e.App)
	}
	for i := range app.Routes {
		r := &app.Routes[i]
		if r.Name != e.Route {
			continue
		}
		split := files.KeepVariants(r.Split, st.Route.Split)
		return files.WriteRoute(app.Source.File, e.App, e.Route, split, st.Route.MirrorOff && r.Mirror != nil)
	}
	return fmt.Errorf("app %q has no route %q", e.App, e.Route)
}

// close stops the webhooks' workers; queued deliveries are dropped.
func (h *experimentHooks) close() { h.notifier.Close() }
