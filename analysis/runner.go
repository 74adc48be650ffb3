package analysis

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/shadowplane/shadowplane/policy"
)

// Observer reads the metric values an experiment needs for each of its
// versions over [from, to). A value it could not read carries an Error;
// it never turns a failure into a number.
type Observer interface {
	Observe(ctx context.Context, e *policy.Experiment, from, to time.Time) Observations
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ctx context.Context, e *policy.Experiment, from, to time.Time) Observations

func (f ObserverFunc) Observe(ctx context.Context, e *policy.Experiment, from, to time.Time) Observations {
	return f(ctx, e, from, to)
}

var _ Observer = ObserverFunc(nil)

// Publisher serves models to the proxies. Both methods must be safe to
// call from several goroutines.
type Publisher interface {
	// Publish serves m.
	Publish(ctx context.Context, m *policy.Model) error
	// WaitRoutes returns once every connected proxy that receives app
	// holds the routes served now; with an error wrapping ErrRejected as
	// soon as one rejects them; or with ctx's error.
	WaitRoutes(ctx context.Context, app string) error
}

// RunnerConfig wires a Runner.
type RunnerConfig struct {
	Store     StateStore
	Observer  Observer
	Publisher Publisher
	Log       hclog.Logger
	// Now and After are the clock; they default to time.Now and
	// time.After. Every wait of the Runner goes through After, so a test
	// clock (or testing/synctest) controls all of its timing.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// OnChange is told after every state change (for metrics, live views).
	OnChange func(*State)
	// Follower makes the runner start as a follower, for replicas under
	// leader election: it serves the model with the states the leader
	// saved (SetStates), and runs, saves and deletes nothing until Lead.
	// Without it the runner leads from the start, as a single process
	// does.
	Follower bool
	// Leader names the current leader, for ErrNotLeader's message; nil or
	// "" when unknown.
	Leader func() string
	// Gate, when set, is asked before a step moves the weights (GateStep)
	// and before a promotion (GatePromotion); a non-nil error holds the
	// decision (the stage stays, the reason says the error) until the
	// next look, which asks again. It is never called with the runner's
	// lock held, and must return once ctx ends. A person's approve or
	// promote does not ask it.
	Gate func(ctx context.Context, st State, gate GateKind) error
	// WriteBack, when set, is called after a promotion of an experiment
	// with writeBack: true, or a promote with ControlOptions.Write, with
	// the final state: it writes the route's weights back to the policy.
	// Its error is logged and recorded in the state's Events; the
	// promotion stands.
	WriteBack func(e *policy.Experiment, st State) error
}

// Runner runs every experiment of the served model, one goroutine each,
// and keeps their states durable. Under leader election only the leader
// does; a follower serves the leader's states (see Lead, Follow and
// SetStates).
type Runner struct {
	cfg RunnerConfig

	mu  sync.Mutex
	ctx context.Context
	// leading: this runner runs the experiments and writes their states.
	// Every write to the store checks it under mu (storeLocked), so once
	// Follow has cleared it nothing more is written.
	leading bool
	// term counts leaderships, so that the end of an earlier one (its
	// context's AfterFunc) cannot end a later one.
	term uint64
	// loops are the goroutines of the current leadership, which Follow
	// waits for.
	loops *sync.WaitGroup
	// saved is the last SetStates, taken while following.
	saved    *savedStates
	model    *policy.Model
	modelSet bool
	states   map[string]*State
	// heldLogged is the reason last logged for each held experiment, so
	// that states taken again and again log a hold once.
	heldLogged map[string]string
	cancels    map[string]context.CancelFunc
	// loaded are the states read at start not yet checked against a
	// policy that has their experiment (see checkLoadedLocked).
	loaded map[string]bool
	// finishing are the experiments whose promotion's write-back is
	// running (writeback.go).
	finishing map[string]bool
	wg        sync.WaitGroup
	// publishMu orders publications, so that a slower one never
	// overwrites a newer model.
	publishMu sync.Mutex
}

// NewRunner loads the saved states. Call Effective to serve them before
// the first snapshot, then Start.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.OnChange == nil {
		cfg.OnChange = func(*State) {}
	}
	states, invalid, err := cfg.Store.LoadAll()
	if err != nil {
		return nil, fmt.Errorf("loading experiment state: %w", err)
	}
	r := &Runner{
		cfg: cfg, leading: !cfg.Follower, loops: &sync.WaitGroup{}, model: &policy.Model{},
		cancels: map[string]context.CancelFunc{}, heldLogged: map[string]string{},
	}
	r.mu.Lock()
	r.takeStatesLocked(&savedStates{states: states, invalid: invalid})
	r.mu.Unlock()
	return r, nil
}

// Effective is the model to serve for m under the current states. States
// read at start are served only once checked against m: one whose
// experiment m has made a new one (SetModel restarts it) is not.
func (r *Runner) Effective(m *policy.Model) *policy.Model {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checkLoadedLocked(m)
	return Effective(m, r.servedLocked(m))
}

// servedLocked are the states served under m: every state but those read
// (or taken from the leader) not yet checked against the model. A
// follower also serves, for each experiment of m the leader has given no
// state it can serve yet (a new experiment, or one an edit made new), the
// state the leader starts it with (Start is a function of the policy):
// otherwise, until the leader's first save reached it, a follower's
// proxies would take the policy's weights while the leader's took the
// first step.
func (r *Runner) servedLocked(m *policy.Model) map[string]*State {
	if len(r.loaded) == 0 && r.leading {
		return r.states
	}
	states := maps.Clone(r.states)
	for name := range r.loaded {
		delete(states, name)
	}
	if r.leading {
		return states
	}
	for i := range m.Experiments {
		e := &m.Experiments[i]
		if _, ok := states[e.Name]; ok {
			continue
		}
		if st := r.newState(m, e); st != nil {
			states[e.Name] = st
		}
	}
	return states
}

// checkLoadedLocked checks the states read at start against m, each once m
// has its experiment and route: a state naming a variant the app does not
// have is held, as one invalid on its own is (NewRunner). A held state
// takes the experiment's spec, so that only an edit making it a new
// experiment restarts it. A state whose experiment m has made a new one
// is left to SetModel, which restarts it.
func (r *Runner) checkLoadedLocked(m *policy.Model) {
	for name := range r.loaded {
		i := slices.IndexFunc(m.Experiments, func(e policy.Experiment) bool { return e.Name == name })
		if i < 0 {
			continue
		}
		e, st := &m.Experiments[i], r.states[name]
		switch {
		case st.invalid != "":
			st.Spec = *e
		case !sameIdentity(&st.Spec, e) || findRoute(m, e) == nil:
			continue
		default:
			if err := st.checkModel(m, e); err != nil {
				err = fmt.Errorf("%s: %w", r.cfg.Store.Where(name), err)
				r.logHeldLocked(name, err)
				st = held(name, err, r.cfg.Now())
				st.Spec = *e
				r.states[name] = st
			}
		}
		delete(r.loaded, name)
		if st.invalid != "" {
			r.notifyLocked(st)
		}
	}
}

// Start lets SetModel start experiments, under ctx; Wait returns once
// they have all stopped after ctx ends. A Follower's experiments start
// under Lead's context instead: Start does nothing.
func (r *Runner) Start(ctx context.Context) {
	if r.cfg.Follower {
		return
	}
	r.mu.Lock()
	r.ctx = ctx
	r.mu.Unlock()
}

// Wait waits for every experiment goroutine to stop.
func (r *Runner) Wait() { r.wg.Wait() }

// SetModel takes a new policy model: it starts new experiments, restarts
// edited ones whose identity changed, lets the others pick up their new
// settings at the next iteration, forgets removed ones (their routes fall
// back to the policy), and publishes the effective model.
//
// A follower only serves m with the leader's states, each checked against
// m again (followModelLocked).
func (r *Runner) SetModel(ctx context.Context, m *policy.Model) error {
	r.mu.Lock()
	r.model, r.modelSet = m, true
	var unfinished []pendingWrite
	if r.leading {
		r.applyModelLocked()
		unfinished = r.takeUnfinishedWriteBacksLocked()
	} else {
		r.followModelLocked()
	}
	r.mu.Unlock()
	err := r.publish(ctx, "")
	r.finishWriteBacks(unfinished)
	return err
}

// applyModelLocked makes the experiments run as r.model says: see
// SetModel. Called by the leader, with r.mu.
func (r *Runner) applyModelLocked() {
	m := r.model
	r.checkLoadedLocked(m)
	keep := map[string]bool{}
	for i := range m.Experiments {
		e := m.Experiments[i]
		keep[e.Name] = true
		st := r.states[e.Name]
		if st != nil && st.invalid != "" && !r.cfg.Store.Exists(e.Name) {
			r.cfg.Log.Info("invalid experiment state removed: starting the experiment afresh", "experiment", e.Name)
			st = nil
		}
		var anew string // why a saved state is not resumed
		if st != nil && !sameIdentity(&st.Spec, &e) {
			if r.loaded[e.Name] {
				// Edited while the control plane was stopped: a new
				// experiment, as when edited while it runs, but said
				// where it is seen.
				anew = fmt.Sprintf("%s was saved for %s, the policy now says %s: a new experiment",
					r.cfg.Store.Where(e.Name), identity(&st.Spec), identity(&e))
				r.cfg.Log.Warn("experiment edited while stopped: restarting it", "experiment", e.Name, "why", anew)
			} else {
				r.cfg.Log.Info("experiment edited: restarting it", "experiment", e.Name)
			}
			r.stopLocked(e.Name)
			st = nil
		}
		if st == nil {
			st = r.newState(m, &e)
			if st == nil {
				continue
			}
			if anew != "" {
				st.Reason = anew + "; " + st.Reason
			}
			r.states[e.Name] = st
			delete(r.loaded, e.Name)
			if err := r.storeLocked(st); err != nil {
				r.cfg.Log.Error("saving experiment state", "experiment", e.Name, "error", err)
			}
		}
		if st.Stage == Paused && st.invalid == "" && !reflect.DeepEqual(st.Spec, e) {
			// Editing a paused experiment is how a person resumes it, for
			// now: it looks again, with a fresh step window, keeping its
			// evidence and its step.
			r.cfg.Log.Info("paused experiment edited: resuming it", "experiment", e.Name)
			st.Stage, st.NoData, st.Failures = Running, 0, 0
			st.Reason, st.UpdatedAt = "resumed after an edit", r.cfg.Now()
			if err := r.storeLocked(st); err != nil {
				r.cfg.Log.Error("saving experiment state", "experiment", e.Name, "error", err)
			}
		}
		if st.Stage == Running && !st.WindowStart.IsZero() && judgingEdit(&st.Spec, &e) != "" {
			// Evidence gathered to judge other limits is no evidence for
			// these: judging it again would be choosing the test after
			// seeing the data.
			r.restartWindowLocked(st, r.cfg.Now(), judgingEdit(&st.Spec, &e)+" edited: the step's evidence starts again")
		}
		st.Spec = e
		if st.Stage == Running && r.cancels[e.Name] == nil && r.ctx != nil {
			r.startLocked(e.Name)
		}
	}
	for name := range r.states {
		if !keep[name] {
			r.cfg.Log.Info("experiment removed from the policy: its route follows the policy again", "experiment", name)
			r.stopLocked(name)
			invalid := r.states[name].invalid != ""
			delete(r.states, name)
			delete(r.loaded, name)
			if invalid {
				r.cfg.Log.Warn("the experiment's invalid state file is left as it is", "experiment", name, "file", r.cfg.Store.Where(name))
			} else if err := r.cfg.Store.Delete(name); err != nil {
				r.cfg.Log.Error("deleting experiment state", "experiment", name, "error", err)
			}
		}
	}
}

// judgingEdit names what an edit changed in how the experiment judges
// (objectives, alpha, minSamples), or is "" when nothing.
func judgingEdit(a, b *policy.Experiment) string {
	switch {
	case !reflect.DeepEqual(a.Objectives, b.Objectives):
		return "objectives"
	case a.Alpha != b.Alpha:
		return "alpha"
	case a.MinSamples != b.MinSamples:
		return "minSamples"
	}
	return ""
}

// sameIdentity reports whether an edit leaves the experiment the same
// experiment: same route, pattern and versions. Objectives, timing,
// actions and metrics may change under a running experiment.
func sameIdentity(a, b *policy.Experiment) bool {
	return a.App == b.App && a.Route == b.Route && a.Testing == b.Testing &&
		a.Deployment == b.Deployment && a.Baseline == b.Baseline && slices.Equal(a.Candidates, b.Candidates)
}

// identity is what sameIdentity compares, in words.
func identity(e *policy.Experiment) string {
	s := fmt.Sprintf("app %q route %q, %s %s, ", e.App, e.Route, e.Testing, e.Deployment)
	if e.Baseline != "" {
		s += fmt.Sprintf("baseline %q, ", e.Baseline)
	}
	return s + fmt.Sprintf("candidates %q", e.Candidates)
}

func (r *Runner) newState(m *policy.Model, e *policy.Experiment) *State {
	pr := findRoute(m, e)
	if pr == nil {
		return nil
	}
	return Start(e, pr, r.cfg.Now())
}

func findRoute(m *policy.Model, e *policy.Experiment) *policy.Route {
	app, ok := m.App(e.App)
	if !ok {
		return nil
	}
	for i := range app.Routes {
		if app.Routes[i].Name == e.Route {
			return &app.Routes[i]
		}
	}
	return nil
}

func (r *Runner) startLocked(name string) {
	ctx, cancel := context.WithCancel(r.ctx)
	r.cancels[name] = cancel
	loops := r.loops
	r.wg.Add(1)
	loops.Add(1)
	go func() {
		defer r.wg.Done()
		defer loops.Done()
		r.loop(ctx, name)
	}()
}

func (r *Runner) stopLocked(name string) {
	if cancel := r.cancels[name]; cancel != nil {
		cancel()
		delete(r.cancels, name)
	}
}

// publish serves the effective model of the current policy and states,
// and with an app waits until its proxies hold it. Publications are
// ordered, so a slower one never overwrites a newer model; the wait is
// outside that order, so one proxy slow to ACK holds up no one else.
func (r *Runner) publish(ctx context.Context, app string) error {
	r.publishMu.Lock()
	r.mu.Lock()
	m := Effective(r.model, r.servedLocked(r.model))
	r.mu.Unlock()
	err := r.cfg.Publisher.Publish(ctx, m)
	r.publishMu.Unlock()
	if err != nil || app == "" {
		return err
	}
	return r.cfg.Publisher.WaitRoutes(ctx, app)
}

// loop runs one experiment until it ends or ctx does.
func (r *Runner) loop(ctx context.Context, name string) {
	r.mu.Lock()
	mine := r.states[name]
	r.mu.Unlock()
	if mine == nil {
		return // removed before this loop got going
	}
	defer func() {
		r.mu.Lock()
		if r.cancels[name] != nil && ctx.Err() == nil {
			delete(r.cancels, name)
		}
		r.mu.Unlock()
	}()
	if p, ok := r.cfg.Observer.(interface{ Prepare(*policy.Experiment) }); ok {
		if spec, _, ok := r.snapshot(name); ok {
			p.Prepare(&spec)
		}
	}
	if rl, ok := r.cfg.Observer.(interface{ Release(string) }); ok {
		defer func() {
			// A restarted experiment's new loop reuses the source: only
			// the last loop of an experiment releases it.
			r.mu.Lock()
			cur := r.states[name]
			r.mu.Unlock()
			if cur == nil || cur == mine {
				rl.Release(name)
			}
		}()
	}
	// (Re)start the window once every proxy serves the current step: after
	// a restart too, since metrics from before it may be gone.
	if err := r.rollout(ctx, name, mine); err != nil {
		return
	}
	// Looks are one interval apart, the first one interval after the step
	// is in place: evidence accumulates between them.
	var lastLook time.Time
	for {
		spec, st, ok := r.snapshot(name)
		if !ok {
			return
		}
		next := st.WindowStart
		if lastLook.After(next) {
			next = lastLook
		}
		next = next.Add(spec.Interval)
		select {
		case <-ctx.Done():
			return
		case <-r.cfg.After(next.Sub(r.cfg.Now())):
		}
		lastLook = r.cfg.Now()
		if r.iterate(ctx, name, mine) == stop {
			return
		}
	}
}

// next is what a look leaves the loop to do.
type next int

const (
	// carryOn: look again one interval later. A decision that could not
	// be saved was not applied, and is retried then too.
	carryOn next = iota
	stop
)

// snapshot returns copies of an experiment's spec and state.
func (r *Runner) snapshot(name string) (policy.Experiment, State, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.states[name]
	if !ok || st.Stage.Done() {
		return policy.Experiment{}, State{}, false
	}
	return st.Spec, *st, true
}

// iterate observes, judges, records and applies one look. mine is the
// state the loop was started for: an experiment restarted meanwhile has a
// new one, which this loop must not touch.
func (r *Runner) iterate(ctx context.Context, name string, mine *State) next {
	spec, st, ok := r.snapshot(name)
	if !ok {
		return stop
	}
	r.mu.Lock()
	pr := findRoute(r.model, &spec)
	r.mu.Unlock()
	if pr == nil {
		return stop
	}
	now := r.cfg.Now()
	if src, ok := r.cfg.Observer.(interface {
		Since(*policy.Experiment) time.Time
	}); ok {
		if since := src.Since(&spec); since.After(st.WindowStart) && r.restartWindow(name, mine, since,
			"the metrics source started again at "+since.Format(time.TimeOnly)+" (its definitions or targets changed): the step's evidence starts there") {
			return carryOn
		}
	}
	obs := r.cfg.Observer.Observe(ctx, &spec, st.WindowStart, now)
	if ctx.Err() != nil {
		return stop
	}
	d := Evaluate(&spec, pr, &st, obs, now)
	if kind := gateKind(&st, d); kind != "" && r.cfg.Gate != nil {
		if err := r.cfg.Gate(ctx, st, kind); err != nil {
			if ctx.Err() != nil {
				return stop
			}
			r.mu.Lock()
			if r.states[name] == mine && ctx.Err() == nil {
				mine.Reason = fmt.Sprintf("%s held by the %s gate: %v; asking again in %s (decision: %s)", d.Action, kind, err, spec.Interval, d.Reason)
				mine.UpdatedAt = now
				r.notifyLocked(mine)
			}
			r.mu.Unlock()
			r.cfg.Log.Warn("experiment step held by its gate", "experiment", name, "gate", string(kind), "error", err)
			return carryOn
		}
	}

	r.mu.Lock()
	cur := r.states[name]
	if cur != mine || ctx.Err() != nil {
		r.mu.Unlock()
		return stop
	}
	// The decision is made on a copy, saved, and only then becomes the
	// state: a decision that would not survive a restart is never served.
	// One at an approval gate of the policy waits there instead.
	next, moved := cur.Apply(d, obs, now)
	if gate := approvalGate(&spec, cur, d); gate != "" {
		next, moved = waitAt(cur, gate, d, obs, now), false
	}
	writes := next.Stage == Completed && d.Action == PromoteWinner && spec.WriteBack
	if writes {
		next.Events = withWriteBackPending(next.Events, now)
	}
	if err := r.storeLocked(&next); err != nil {
		cur.Reason = fmt.Sprintf("could not save the decision (%s: %s), so it was not applied; retrying in %s: %v", d.Action, d.Reason, spec.Interval, err)
		cur.UpdatedAt = now
		r.notifyLocked(cur)
		r.mu.Unlock()
		r.cfg.Log.Error("saving experiment state; the step is not applied", "experiment", name, "error", err)
		return carryOn
	}
	*cur = next
	r.notifyLocked(cur)
	if writes {
		r.finishingLocked(name)
	}
	r.mu.Unlock()
	r.cfg.Log.Info("experiment look", "experiment", name, "action", string(d.Action), "reason", next.Reason, "weights", fmt.Sprint(next.Route.Weights()))
	if moved {
		if err := r.rollout(ctx, name, mine); err != nil {
			return stop
		}
	}
	if writes {
		r.writeBack(name, &spec, next, "")
	}
	if next.Stage.Done() {
		return stop
	}
	return carryOn
}

// restartWindow starts the step's window again at from, saying why: data
// from before it are gone (a new metrics source) or no longer evidence of
// what is judged (objectives edited). It reports whether it did.
func (r *Runner) restartWindow(name string, mine *State, from time.Time, why string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.states[name] != mine || mine.Stage != Running {
		return false
	}
	r.restartWindowLocked(mine, from, why)
	return true
}

func (r *Runner) restartWindowLocked(st *State, from time.Time, why string) {
	st.WindowStart, st.Failures, st.Reason, st.UpdatedAt = from, 0, why, r.cfg.Now()
	if err := r.saveLocked(st); err != nil {
		r.cfg.Log.Error("saving experiment state", "experiment", st.Experiment, "error", err)
	}
	r.cfg.Log.Info("experiment step window restarted", "experiment", st.Experiment, "reason", why)
}

func weightsList(r Route) []uint32 {
	out := make([]uint32, 0, len(r.Split))
	for _, b := range r.Split {
		out = append(out, weight(b))
	}
	return out
}

// ackWait is how long a rollout waits for ACKs before it says so in the
// experiment's reason and waits again.
const ackWait = 10 * time.Second

// ErrRejected marks a Publisher error that means a proxy rejected the
// routes: the step is undone. Any other error (a snapshot that could not be
// built, a timeout) is retried and shown in the experiment's reason.
var ErrRejected = errors.New("rejected by a proxy")

// rollout publishes the experiment's current route, waits until every
// proxy serving its app has ACKed it, and starts the metric window. When a
// proxy rejects the step, the last good route is restored and the
// experiment halts.
func (r *Runner) rollout(ctx context.Context, name string, mine *State) error {
	r.mu.Lock()
	if mine == nil || r.states[name] != mine {
		r.mu.Unlock()
		return errors.New("restarted")
	}
	app := mine.Spec.App
	r.mu.Unlock()

	var err error
	for {
		// Wait in slices, so that a proxy that never ACKs, or a snapshot
		// that cannot be built, shows in the experiment's reason instead
		// of silently stalling it.
		wctx, cancel := context.WithTimeout(ctx, ackWait)
		err = r.publish(wctx, app)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil || errors.Is(err, ErrRejected) {
			break
		}
		r.mu.Lock()
		if r.states[name] == mine && ctx.Err() == nil {
			mine.Reason = "waiting for every proxy to ACK the step: " + err.Error()
			mine.UpdatedAt = r.cfg.Now()
			r.notifyLocked(mine)
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.cfg.After(100 * time.Millisecond):
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.states[name] != mine {
		return errors.New("restarted")
	}
	if ctx.Err() != nil {
		// Stopped (Follow) while waiting: a deposed leader decides
		// nothing more.
		return ctx.Err()
	}
	if err != nil {
		mine.Stage, mine.Route = Halted, mine.LastGood
		mine.Reason = "a proxy rejected the step; last good weights restored: " + err.Error()
		mine.UpdatedAt = r.cfg.Now()
		mine.History = append(mine.History, Record{Iteration: mine.Iteration, At: mine.UpdatedAt, Action: Halt, Reason: mine.Reason, Weights: mine.Route.Weights(), MirrorOff: mine.Route.MirrorOff})
		if serr := r.saveLocked(mine); serr != nil {
			r.cfg.Log.Error("saving the halted experiment; after a restart the rejected step would be served again", "experiment", name, "error", serr)
		}
		r.cfg.Log.Error("experiment halted", "experiment", name, "error", err)
		loops := r.loops
		r.wg.Add(1)
		loops.Add(1)
		go func() {
			defer r.wg.Done()
			defer loops.Done()
			r.publish(context.WithoutCancel(ctx), "")
		}()
		return err
	}
	mine.StepStarted(r.cfg.Now())
	if serr := r.saveLocked(mine); serr != nil {
		// Only the window start is lost: a restart starts a new window
		// anyway.
		r.cfg.Log.Error("saving experiment state", "experiment", name, "error", serr)
	}
	return nil
}

func (r *Runner) saveLocked(st *State) error {
	err := r.storeLocked(st)
	r.notifyLocked(st)
	return err
}

// errNotLeading is why a follower's runner saves nothing.
var errNotLeading = errors.New("not the leader: only the leader saves experiment states")

// storeLocked saves st, if this runner leads. Called with r.mu: Follow
// clears leading under it, so no save starts after Follow has begun.
func (r *Runner) storeLocked(st *State) error {
	if !r.leading {
		return errNotLeading
	}
	return r.cfg.Store.Save(st)
}

// notifyLocked tells OnChange of a state change. Called with r.mu.
func (r *Runner) notifyLocked(st *State) {
	cp := *st
	r.cfg.OnChange(&cp)
}

// States returns copies of every experiment's state, sorted by name.
func (r *Runner) States() []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]State, 0, len(r.states))
	for _, st := range r.states {
		cp := *st
		cp.History = slices.Clone(st.History)
		cp.Warning = RemovalWarning(&cp, findRoute(r.model, &cp.Spec))
		out = append(out, cp)
	}
	slices.SortFunc(out, func(a, b State) int {
		switch {
		case a.Experiment < b.Experiment:
			return -1
		case a.Experiment > b.Experiment:
			return 1
		}
		return 0
	})
	return out
}
