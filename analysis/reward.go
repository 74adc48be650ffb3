package analysis

import (
	"fmt"
	"strings"

	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
)

// bestByReward picks, among the versions shown to meet every objective,
// the one shown better on the reward than each of the others, at alpha
// split over the comparisons; with one such version, that one. When no
// version is shown best yet it returns "" and says why. Rewards that are
// rates or means are compared as ratios with their anytime-valid
// intervals; a count is compared as it is; a quantile by its estimate.
func bestByReward(e *policy.Experiment, passing []string, obs Observations) (string, string) {
	if len(passing) == 1 || e.Reward == nil {
		return passing[0], ""
	}
	alpha := e.Alpha / float64(len(passing)-1)
	var why []string
	for _, v := range passing {
		best := true
		for _, u := range passing {
			if u == v {
				continue
			}
			shown, text := better(e.Reward, obs[v][e.Reward.Metric], obs[u][e.Reward.Metric], alpha)
			if !shown {
				best = false
				why = append(why, fmt.Sprintf("%s against %s: %s", v, u, text))
				break
			}
		}
		if best {
			return v, ""
		}
	}
	return "", "no version shown best on the reward " + e.Reward.Metric + " yet: " + strings.Join(why, "; ")
}

// better reports whether a's reward is shown better than b's at level
// alpha, and says what was seen.
func better(r *policy.Reward, a, b Observation, alpha float64) (bool, string) {
	var m measure
	switch a.Type {
	case metrics.Ratio:
		m = rateRatio(a, b)
	case metrics.Mean:
		ma, p1 := meanOf(a)
		mb, p2 := meanOf(b)
		if p1 != "" || p2 != "" {
			return false, p1 + p2
		}
		m = ratioOf(ma, mb)
	default:
		// Counts and quantiles: their estimates, without an interval.
		shown := a.Value > b.Value
		if !r.PreferHigher {
			shown = a.Value < b.Value
		}
		return shown, fmt.Sprintf("%s against %s (no interval for a %s)", formatNumber(a.Value), formatNumber(b.Value), a.Type)
	}
	lo, hi := m.lower(alpha), m.upper(alpha)
	text := fmt.Sprintf("ratio %s (interval %s to %s)", formatValue(m.estimate(), "×"), formatValue(lo, "×"), formatValue(hi, "×"))
	if r.PreferHigher {
		return lo > 1, text
	}
	return hi < 1, text
}
