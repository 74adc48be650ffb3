package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// DefaultQueryTimeout bounds one PromQL query.
const DefaultQueryTimeout = 10 * time.Second

// instantQuerier is the part of the Prometheus HTTP API this provider
// uses; v1.API satisfies it.
type instantQuerier interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
}

// PrometheusOptions configure a Prometheus provider.
type PrometheusOptions struct {
	// Address is the server's base URL, e.g. http://127.0.0.1:9090.
	Address string
	// Timeout of each query, enforced here and sent to the server.
	// Default DefaultQueryTimeout.
	Timeout time.Duration
	// Client, if set, carries the requests (TLS, auth).
	Client api.Client
}

// Prometheus computes metrics with a Prometheus server's instant queries.
// It is safe for concurrent use.
type Prometheus struct {
	api     instantQuerier
	timeout time.Duration
}

var _ Provider = (*Prometheus)(nil)

// NewPrometheus returns a provider for the server at opts.Address. It does
// not contact the server.
func NewPrometheus(opts PrometheusOptions) (*Prometheus, error) {
	c := opts.Client
	if c == nil {
		if opts.Address == "" {
			return nil, errors.New("prometheus provider: no address")
		}
		var err error
		if c, err = api.NewClient(api.Config{Address: opts.Address}); err != nil {
			return nil, fmt.Errorf("prometheus provider: %w", err)
		}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultQueryTimeout
	}
	return &Prometheus{api: v1.NewAPI(c), timeout: opts.Timeout}, nil
}

// Value runs the definition's Samples query, then (when there were
// samples) its Value query, both as instant queries at q.End.
func (p *Prometheus) Value(ctx context.Context, q Query) (Value, error) {
	d := q.Definition
	if d.Prometheus.Value == "" || d.Prometheus.Samples == "" {
		return Value{}, fmt.Errorf("metric %s has no prometheus queries", d.Name)
	}
	vars, err := q.vars()
	if err != nil {
		return Value{}, err
	}
	wrap := func(err error) error { return fmt.Errorf("metric %s of %s/%s: %w", d.Name, q.App, q.Version, err) }
	n, err := p.query(ctx, "prometheus.samples", d.Prometheus.Samples, vars)
	if err != nil {
		return Value{}, wrap(err)
	}
	if n == 0 {
		return Value{}, wrap(fmt.Errorf("no requests in the window: %w", ErrNoData))
	}
	if n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return Value{}, wrap(fmt.Errorf("samples query returned %v", n))
	}
	v, err := p.query(ctx, "prometheus.value", d.Prometheus.Value, vars)
	if err != nil {
		return Value{}, wrap(err)
	}
	if v = scaled(d, v); math.IsNaN(v) || math.IsInf(v, 0) {
		// With samples behind it, NaN is not "no data": a 0/0 the query
		// should not produce, or a histogram without a +Inf bucket.
		return Value{}, wrap(fmt.Errorf("value query returned %v with %v samples", v, n))
	}
	out := Value{Value: v, Samples: n}
	switch d.Type {
	case Ratio:
		out.Events = v / scaled(d, 1) * n
	case Mean, Quantile:
		if out.Sum = v * n; d.Type == Quantile {
			out.Sum = 0 // a quantile's value says nothing of the sum
		}
		if d.Prometheus.Buckets != "" {
			if out.Buckets, err = p.buckets(ctx, d, vars); err != nil {
				return Value{}, wrap(err)
			}
		}
	}
	return out, nil
}

// buckets runs the definition's Buckets query: one series per le.
func (p *Prometheus) buckets(ctx context.Context, d Definition, vars Vars) ([]Bucket, error) {
	promql, err := render("prometheus.buckets", d.Prometheus.Buckets, vars)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	res, warnings, _, err := p.api.Query(ctx, promql, vars.End, v1.WithTimeout(p.timeout))
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", promql, err)
	}
	if len(warnings) > 0 {
		return nil, fmt.Errorf("query %s: warnings: %s", promql, strings.Join(warnings, "; "))
	}
	vec, ok := res.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query %s: result is a %s, not a vector of buckets", promql, res.Type())
	}
	var bs []bucket
	for _, s := range vec {
		le, ok := s.Metric["le"]
		if !ok {
			return nil, fmt.Errorf("query %s: series %s has no le label: aggregate with sum by (le)", promql, s.Metric)
		}
		ub, err := parseBound(string(le))
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", promql, err)
		}
		bs = append(bs, bucket{upper: ub, count: float64(s.Value)})
	}
	out, err := normalBuckets(bs, d.Scale)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", promql, err)
	}
	return out, nil
}

// query renders and runs one query and returns its single value.
//
// Warnings fail the query: Prometheus warns of partial data (a remote
// store that did not answer) and of malformed histograms, and a verdict on
// either could pass what it should not. Infos (advisory notes such as
// "metric might not be a counter") are ignored on purpose.
func (p *Prometheus) query(ctx context.Context, name, text string, vars Vars) (float64, error) {
	promql, err := render(name, text, vars)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	res, warnings, _, err := p.api.Query(ctx, promql, vars.End, v1.WithTimeout(p.timeout))
	if err != nil {
		return 0, fmt.Errorf("query %s: %w", promql, err)
	}
	if len(warnings) > 0 {
		return 0, fmt.Errorf("query %s: warnings: %s", promql, strings.Join(warnings, "; "))
	}
	v, err := single(res)
	if err != nil {
		return 0, fmt.Errorf("query %s: %w", promql, err)
	}
	return v, nil
}

// single returns the one value of a query result: a scalar, or a vector of
// exactly one series. An empty vector is ErrNoData; several series mean
// the query does not aggregate what it should, and are an error.
func single(res model.Value) (float64, error) {
	switch r := res.(type) {
	case *model.Scalar:
		return float64(r.Value), nil
	case model.Vector:
		switch len(r) {
		case 0:
			return 0, fmt.Errorf("no series: %w", ErrNoData)
		case 1:
			return float64(r[0].Value), nil
		default:
			return 0, fmt.Errorf("%d series where one was expected (first: %s, %s): aggregate them, e.g. with sum()", len(r), r[0].Metric, r[1].Metric)
		}
	case nil:
		return 0, errors.New("empty result")
	default:
		return 0, fmt.Errorf("result is a %s, not a vector or scalar", res.Type())
	}
}
