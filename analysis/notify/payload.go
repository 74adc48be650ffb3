package notify

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/internal/redact"
	"github.com/shadowplane/shadowplane/policy"
)

// PayloadVersion is the version of Payload, docs/webhook-payload.schema.json.
const PayloadVersion = "v1"

// Payload is the JSON body a json webhook is posted: one event of one
// experiment. docs/webhook-payload.schema.json is its schema.
type Payload struct {
	Version string `json:"version"`
	// Event is a policy.WebhookEvents event, or the gate asked
	// ("confirm-step", "confirm-promotion").
	Event      string    `json:"event"`
	Time       time.Time `json:"time"`
	Experiment string    `json:"experiment"`
	App        string    `json:"app"`
	Route      string    `json:"route"`
	Testing    string    `json:"testing"`
	Stage      string    `json:"stage"`
	// Weights are the route's weights now, percent per variant.
	Weights map[string]uint32 `json:"weights"`
	// Winner is the version promoted or to be promoted, if any.
	Winner string `json:"winner,omitempty"`
	// Objectives are the limits of the last judgement, per version; before
	// the first, the experiment's objectives with no value, pending.
	Objectives []Objective `json:"objectives"`
	Reason     string      `json:"reason"`
}

// Objective is one limit of one objective, for one version when judged.
type Objective struct {
	Metric  string `json:"metric"`
	Version string `json:"version,omitempty"`
	// Quantity is what is limited, in words ("error rate").
	Quantity string `json:"quantity,omitempty"`
	// Value is the quantity over the step; absent before a judgement.
	Value *float64 `json:"value,omitempty"`
	// Op is "<=" or ">="; Limit bounds Value, in Unit.
	Op    string  `json:"op"`
	Limit float64 `json:"limit"`
	Unit  string  `json:"unit,omitempty"`
	// RelativeTo is "baseline" when the spec's limit multiplies the
	// baseline's value (before a judgement only).
	RelativeTo string `json:"relativeTo,omitempty"`
	// Verdict is pass, fail or pending.
	Verdict string `json:"verdict"`
}

// NewPayload is the payload of event for st at now.
func NewPayload(event string, st *analysis.State, now time.Time) Payload {
	spec := &st.Spec
	return Payload{
		Version:    PayloadVersion,
		Event:      event,
		Time:       now.UTC(),
		Experiment: st.Experiment,
		App:        spec.App,
		Route:      spec.Route,
		Testing:    spec.Testing,
		Stage:      string(st.Stage),
		Weights:    st.Route.Weights(),
		Winner:     st.Winner,
		Objectives: objectives(st),
		// A reason may quote a metrics URL, with its password or token,
		// and a receiver (a chat channel) is read by more people.
		Reason: redact.Text(st.Reason),
	}
}

// objectives are the checks of the last look that judged anything, or the
// spec's limits when none has.
func objectives(st *analysis.State) []Objective {
	out := []Objective{}
	for i := len(st.History) - 1; i >= 0; i-- {
		vs := st.History[i].Verdicts
		if len(vs) == 0 {
			continue
		}
		for _, v := range vs {
			for _, c := range v.Checks {
				value := c.Estimate
				out = append(out, Objective{Metric: v.Metric, Version: v.Version, Quantity: c.Quantity, Value: &value,
					Op: c.Op, Limit: c.Limit, Unit: c.Unit, Verdict: string(c.Outcome)})
			}
		}
		return out
	}
	for _, o := range st.Spec.Objectives {
		if o.UpperLimit != nil {
			out = append(out, Objective{Metric: o.Metric, Op: "<=", Limit: *o.UpperLimit, RelativeTo: o.RelativeTo, Verdict: string(analysis.Pending)})
		}
		if o.LowerLimit != nil {
			out = append(out, Objective{Metric: o.Metric, Op: ">=", Limit: *o.LowerLimit, RelativeTo: o.RelativeTo, Verdict: string(analysis.Pending)})
		}
	}
	return out
}

// body is p as hook's format wants it.
func body(format string, p Payload) ([]byte, error) {
	if format == policy.FormatSlack {
		return json.Marshal(struct {
			Text string `json:"text"`
		}{SlackText(p)})
	}
	return json.Marshal(p)
}

// SlackText is the one-line summary a slack webhook is posted:
// "shadowplane: canary (web/default) step: Running, v1 80% v2 20% — reason".
func SlackText(p Payload) string {
	var b strings.Builder
	fmt.Fprintf(&b, "shadowplane: experiment %s (%s/%s) %s: %s", p.Experiment, p.App, p.Route, p.Event, p.Stage)
	variants := make([]string, 0, len(p.Weights))
	for v := range p.Weights {
		variants = append(variants, v)
	}
	slices.Sort(variants)
	for i, v := range variants {
		sep := " "
		if i == 0 {
			sep = ", weights "
		}
		fmt.Fprintf(&b, "%s%s %d%%", sep, v, p.Weights[v])
	}
	if p.Reason != "" {
		b.WriteString(" — ")
		b.WriteString(strings.ReplaceAll(p.Reason, "\n", " "))
	}
	return b.String()
}
