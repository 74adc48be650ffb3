package analysis

import (
	"fmt"
	"maps"
	"strings"

	"github.com/shadowplane/shadowplane/policy"
)

// RemovalWarning says what removing an ended experiment from the policy
// would do to its route's traffic, or "" when nothing would move: an
// ended experiment keeps serving its last weights (a promotion, a
// rollback) only while it is declared; once removed, the route pr of the
// policy is served. Running experiments are not warned of: their weights
// are not final. validate (with the saved states), the admin API and
// status show it, so that nobody removes a promoted experiment unaware
// that the traffic goes back (issue 12).
func RemovalWarning(st *State, pr *policy.Route) string {
	if st == nil || pr == nil || len(st.Route.Split) == 0 {
		return ""
	}
	if st.Stage != Completed && st.Stage != RolledBack && st.Stage != Failed {
		return ""
	}
	e := &st.Spec
	mirrorOff := st.Route.MirrorOff && pr.Mirror != nil
	if maps.Equal(liveSplit(st.Route.Split), liveSplit(pr.Split)) && !mirrorOff {
		return ""
	}
	served, says := liveWeights(st.Route.Split), liveWeights(pr.Split)
	if mirrorOff {
		served += " and the mirror off"
		says += fmt.Sprintf(" and a mirror to %s", pr.Mirror.Variant)
	}
	if w, ok := liveSplit(st.Route.Split)[st.Winner]; ok && st.Stage == Completed {
		promoted := fmt.Sprintf("%s to %d", st.Winner, w)
		if mirrorOff {
			promoted += " and turned the mirror off"
		}
		return fmt.Sprintf("%s/%s: experiment %s promoted %s, but the policy says %s: removing the experiment moves traffic back; write the weights with `shadowplane promote %s --write` or edit the route",
			e.App, e.Route, st.Experiment, promoted, says, st.Experiment)
	}
	return fmt.Sprintf("%s/%s: experiment %s ended %s serving %s, but the policy says %s: removing the experiment moves traffic; edit the route to say what is served",
		e.App, e.Route, st.Experiment, st.Stage, served, says)
}

// liveSplit is the weight of each backend of a split that gets traffic. A
// lone backend without a weight gets it all.
func liveSplit(split []policy.Backend) map[string]uint32 {
	out := map[string]uint32{}
	for _, b := range split {
		switch {
		case b.Weight == nil && len(split) == 1:
			out[b.Variant] = 100
		case b.Weight != nil && *b.Weight > 0:
			out[b.Variant] = *b.Weight
		}
	}
	return out
}

// liveWeights writes the backends of a split that get traffic, in order:
// "v1 90, v2 10".
func liveWeights(split []policy.Backend) string {
	var parts []string
	w := liveSplit(split)
	for _, b := range split {
		if n, ok := w[b.Variant]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", b.Variant, n))
		}
	}
	if len(parts) == 0 {
		return "no traffic"
	}
	return strings.Join(parts, ", ")
}
