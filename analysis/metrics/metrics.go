package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Provider computes a metric for one version over a window.
//
// Contract, the same for every implementation:
//   - A nil error means Samples > 0 and Value is finite: there was traffic
//     and the value describes it.
//   - An error wrapping ErrNoData means there is nothing to judge yet: no
//     series, no requests in the window, no scrape before End. A Samples of
//     0 is never a latency or error rate of 0.
//   - Any other error means the metric could not be read (timeout, an
//     unreachable or garbled source, several series where one was
//     expected, NaN or Inf with traffic behind it). It must never be taken
//     as a pass.
//
// Value honours ctx's deadline and cancellation and is safe for concurrent
// use.
type Provider interface {
	Value(ctx context.Context, q Query) (Value, error)
}

// ProviderFunc adapts a function to a Provider, for tests and wrappers.
type ProviderFunc func(ctx context.Context, q Query) (Value, error)

// Value calls f.
func (f ProviderFunc) Value(ctx context.Context, q Query) (Value, error) { return f(ctx, q) }

var _ Provider = ProviderFunc(nil)

// ErrNoData says there is nothing to judge: wait for traffic, do not pass.
var ErrNoData = errors.New("no data")

// Query asks for one metric of one version of an app over [Start, End].
//
// Cluster is the version's Envoy cluster, which Envoy's stats are keyed by:
// in shadowplane xds.ClusterName(App, Version), i.e. "<app>_<version>". For
// a dark version fed by mirroring it is the shadow (mirror) cluster, whose
// stats Envoy collects like any other cluster's.
type Query struct {
	Definition Definition
	App        string
	Version    string
	Cluster    string
	Start, End time.Time
}

// Value is a metric's value, the number of requests behind it (a
// histogram's count, a ratio's denominator, a counter's increase), and the
// counts it was computed from, which the analysis needs to say how
// uncertain the value is. Counts may be fractional from Prometheus, whose
// increase() extrapolates.
type Value struct {
	Value   float64
	Samples float64
	// Events is a Ratio's numerator (errors, say): Value is
	// Scale×Events/Samples.
	Events float64
	// Sum is a histogram's sum of observations, in the metric's unit
	// (after Scale): a Mean's Value is Sum/Samples.
	Sum float64
	// Buckets are a histogram's cumulative counts by upper bound in the
	// metric's unit, sorted, ending with +Inf; nil when the provider has
	// no bucket counts.
	Buckets []Bucket
}

// vars checks q and returns its template variables.
func (q Query) vars() (Vars, error) {
	var errs []error
	for _, f := range []struct{ name, v string }{{"app", q.App}, {"version", q.Version}, {"cluster", q.Cluster}} {
		// The values land inside PromQL string literals and regexps: a
		// quote or backslash would change the query, not select a series.
		if i := strings.IndexFunc(f.v, unsafeLabelRune); i >= 0 {
			errs = append(errs, fmt.Errorf("%s %q: character %q is not allowed", f.name, f.v, f.v[i]))
		}
	}
	if q.Start.IsZero() || q.End.IsZero() || !q.End.After(q.Start) {
		errs = append(errs, fmt.Errorf("window [%s, %s] is empty", q.Start.Format(time.RFC3339Nano), q.End.Format(time.RFC3339Nano)))
	}
	w := model.Duration(q.End.Sub(q.Start).Round(time.Millisecond))
	if w <= 0 {
		errs = append(errs, errors.New("window is shorter than a millisecond, PromQL's resolution"))
	}
	if err := errors.Join(errs...); err != nil {
		return Vars{}, fmt.Errorf("metric %s: bad query: %w", q.Definition.Name, err)
	}
	return Vars{
		App: q.App, Version: q.Version, Cluster: q.Cluster,
		Window: w.String(), Start: q.Start, End: q.End,
		Quantile: q.Definition.Quantile,
	}, nil
}

// unsafeLabelRune is true for runes that names of apps, versions and
// clusters never contain (they are DNS labels joined by '_').
func unsafeLabelRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	case strings.ContainsRune("-_.:/", r):
		return false
	}
	return true
}
