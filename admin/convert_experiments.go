package admin

import (
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
)

// The conversions from the runner's state to the API's types. Each
// copies: the result shares no slice, map or pointer with the state, so
// redaction may change it in place. A nil slice or map stays nil and an
// empty one empty, since JSON tells them apart (null, []) where there is
// no omitempty.

// experimentOf is st as the API shows it, before redaction (see
// redactedExperiment, the one to serve).
func experimentOf(st analysis.State) api.Experiment {
	return api.Experiment{
		Name:        st.Experiment,
		Spec:        specOf(st.Spec),
		Stage:       api.Stage(st.Stage),
		Iteration:   st.Iteration,
		NoData:      st.NoData,
		Failures:    st.Failures,
		Route:       routeOf(st.Route),
		LastGood:    routeOf(st.LastGood),
		Winner:      st.Winner,
		Reason:      st.Reason,
		WindowStart: st.WindowStart,
		StartedAt:   st.StartedAt,
		UpdatedAt:   st.UpdatedAt,
		History:     convertAll(st.History, recordOf),
		Events:      convertAll(st.Events, eventOf),
		Gate:        st.Gate,
		Held:        heldOf(st.Held),
		Approved:    slices.Clone(st.Approved),
		Warning:     st.Warning,
	}
}

func specOf(e policy.Experiment) api.ExperimentSpec {
	s := api.ExperimentSpec{
		APIVersion:      e.APIVersion,
		Kind:            e.Kind,
		Name:            e.Name,
		App:             e.App,
		Route:           e.Route,
		Testing:         e.Testing,
		Deployment:      e.Deployment,
		Baseline:        e.Baseline,
		Candidates:      slices.Clone(e.Candidates),
		Steps:           api.Steps{MaxWeight: e.Steps.MaxWeight, StepWeight: e.Steps.StepWeight},
		Objectives:      convertAll(e.Objectives, objectiveOf),
		Interval:        e.Interval,
		Iterations:      e.Iterations,
		MinSamples:      e.MinSamples,
		Alpha:           e.Alpha,
		FailureLimit:    e.FailureLimit,
		MaxStepDuration: e.MaxStepDuration,
		OnInconclusive:  e.OnInconclusive,
		MaxNoData:       e.MaxNoData,
		OnNoData:        e.OnNoData,
		OnSuccess:       e.OnSuccess,
		OnFailure:       e.OnFailure,
		WriteBack:       e.WriteBack,
		Metrics: api.MetricsSource{
			Provider:   e.Metrics.Provider,
			Prometheus: e.Metrics.Prometheus,
			Targets:    cloneTargets(e.Metrics.Targets),
		},
		Webhooks: convertAll(e.Webhooks, webhookOf),
		Source:   api.Source{File: e.Source.File, Line: e.Source.Line},
	}
	if e.Reward != nil {
		s.Reward = &api.Reward{Metric: e.Reward.Metric, PreferHigher: e.Reward.PreferHigher}
	}
	if e.Approval != nil {
		s.Approval = &api.Approval{BeforePromotion: e.Approval.BeforePromotion, BeforeWeight: e.Approval.BeforeWeight}
	}
	return s
}

func objectiveOf(o policy.Objective) api.Objective {
	return api.Objective{Metric: o.Metric, UpperLimit: clonePtr(o.UpperLimit), LowerLimit: clonePtr(o.LowerLimit), RelativeTo: o.RelativeTo}
}

func webhookOf(h policy.Webhook) api.Webhook {
	return api.Webhook{Name: h.Name, URL: h.URL, Events: slices.Clone(h.Events), Type: h.Type, Format: h.Format,
		Timeout: h.Timeout, Retries: clonePtr(h.Retries)}
}

func cloneTargets(t map[string][]string) map[string][]string {
	if t == nil {
		return nil
	}
	out := make(map[string][]string, len(t))
	for version, urls := range t {
		out[version] = slices.Clone(urls)
	}
	return out
}

func routeOf(r analysis.Route) api.Route {
	return api.Route{Split: convertAll(r.Split, backendOf), MirrorOff: r.MirrorOff}
}

func backendOf(b policy.Backend) api.Backend {
	return api.Backend{Variant: b.Variant, Weight: clonePtr(b.Weight)}
}

func heldOf(h *analysis.HeldDecision) *api.HeldDecision {
	if h == nil {
		return nil
	}
	return &api.HeldDecision{Action: api.Action(h.Action), Stage: api.Stage(h.Stage), Iteration: h.Iteration,
		Route: routeOf(h.Route), Winner: h.Winner, Reason: h.Reason}
}

func eventOf(e analysis.HistoryEntry) api.Event {
	return api.Event{Time: e.Time, Action: e.Action, By: e.By, Reason: e.Reason, Result: e.Result}
}

func recordOf(r analysis.Record) api.Record {
	return api.Record{
		Iteration:    r.Iteration,
		At:           r.At,
		WindowStart:  r.WindowStart,
		Observations: observationsOf(r.Observations),
		Verdicts:     convertAll(r.Verdicts, verdictOf),
		Action:       api.Action(r.Action),
		Reason:       r.Reason,
		Weights:      maps.Clone(r.Weights),
		MirrorOff:    r.MirrorOff,
	}
}

func observationsOf(obs analysis.Observations) api.Observations {
	if obs == nil {
		return nil
	}
	out := make(api.Observations, len(obs))
	for version, byMetric := range obs {
		if byMetric == nil {
			out[version] = nil
			continue
		}
		m := make(map[string]api.Observation, len(byMetric))
		for name, o := range byMetric {
			m[name] = observationOf(o)
		}
		out[version] = m
	}
	return out
}

func observationOf(o analysis.Observation) api.Observation {
	return api.Observation{Value: o.Value, Samples: o.Samples, Type: string(o.Type), Quantile: o.Quantile,
		Scale: o.Scale, Unit: o.Unit, Events: o.Events, Sum: o.Sum, Buckets: convertAll(o.Buckets, bucketOf),
		Error: o.Error, NoData: o.NoData}
}

// bucketOf writes the bound as Prometheus writes le, as
// metrics.Bucket's own JSON does: JSON has no infinity.
func bucketOf(b metrics.Bucket) api.Bucket {
	le := strconv.FormatFloat(b.UpperBound, 'g', -1, 64)
	if math.IsInf(b.UpperBound, +1) {
		le = "+Inf"
	}
	return api.Bucket{Le: le, Count: b.Count}
}

func verdictOf(v analysis.Verdict) api.Verdict {
	return api.Verdict{Version: v.Version, Metric: v.Metric, Objective: v.Objective, Value: v.Value,
		Samples: v.Samples, Outcome: api.Outcome(v.Outcome), Pass: v.Pass, Leaning: v.Leaning,
		Checks: convertAll(v.Checks, checkOf), Why: v.Why}
}

func checkOf(c analysis.Check) api.Check {
	return api.Check{Quantity: c.Quantity, Unit: c.Unit, Op: c.Op, Limit: c.Limit, Estimate: c.Estimate,
		Samples: c.Samples, Low: clonePtr(c.Low), High: clonePtr(c.High), Outcome: api.Outcome(c.Outcome),
		Need: clonePtr(c.Need), Note: c.Note}
}

// convertAll converts every item of in; nil stays nil, empty empty.
func convertAll[T, U any](in []T, convert func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = convert(v)
	}
	return out
}

// clonePtr is a new pointer to *p's value, or nil.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
