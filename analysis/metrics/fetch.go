package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// acceptText asks for the classic text format. client_golang's handler
// would otherwise offer protobuf or OpenMetrics, which renames counters.
const acceptText = "text/plain;version=0.0.4;q=1,*/*;q=0.1"

// fetch reads one target and returns the kept series.
func (s *Scraper) fetch(ctx context.Context, url string) ([]sample, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", acceptText)
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	body := io.LimitReader(resp.Body, maxBody+1)
	samples, err := parseText(body, s.keep)
	if err != nil {
		return nil, err
	}
	// A body cut at the limit would parse as valid but partial text.
	if n, _ := io.Copy(io.Discard, body); n > 0 {
		return nil, fmt.Errorf("response larger than %d bytes", maxBody)
	}
	return samples, nil
}

// parseText parses Prometheus text and flattens the kept series.
func parseText(r io.Reader, keep map[string]bool) ([]sample, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	var out []sample
	for _, mf := range families {
		out = flatten(out, mf, keep)
	}
	for _, s := range out {
		if math.IsNaN(s.value) || math.IsInf(s.value, 0) {
			return nil, fmt.Errorf("series %s has value %v", s.name, s.value)
		}
	}
	return out, nil
}

// flatten appends mf's kept series to out, named as Prometheus stores
// them. A histogram without a +Inf bucket gets one holding its count, as
// Prometheus adds for protobuf histograms.
func flatten(out []sample, mf *dto.MetricFamily, keep map[string]bool) []sample {
	name := mf.GetName()
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		add := func(n string, v float64, extra ...string) {
			if !keep[n] {
				return
			}
			ls := labels
			if len(extra) == 2 {
				ls = make(map[string]string, len(labels)+1)
				for k, v := range labels {
					ls[k] = v
				}
				ls[extra[0]] = extra[1]
			}
			out = append(out, sample{name: n, labels: ls, value: v})
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			add(name, m.GetCounter().GetValue())
		case dto.MetricType_GAUGE:
			add(name, m.GetGauge().GetValue())
		case dto.MetricType_UNTYPED:
			add(name, m.GetUntyped().GetValue())
		case dto.MetricType_SUMMARY:
			add(name+"_sum", m.GetSummary().GetSampleSum())
			add(name+"_count", float64(m.GetSummary().GetSampleCount()))
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			h := m.GetHistogram()
			count := histogramCount(h)
			add(name+"_sum", h.GetSampleSum())
			add(name+"_count", count)
			inf := false
			for _, b := range h.GetBucket() {
				ub := b.GetUpperBound()
				inf = inf || math.IsInf(ub, +1)
				add(name+"_bucket", bucketCount(b), "le", formatBound(ub))
			}
			if !inf {
				add(name+"_bucket", count, "le", "+Inf")
			}
		}
	}
	return out
}

func histogramCount(h *dto.Histogram) float64 {
	if h.SampleCountFloat != nil {
		return h.GetSampleCountFloat()
	}
	return float64(h.GetSampleCount())
}

func bucketCount(b *dto.Bucket) float64 {
	if b.CumulativeCountFloat != nil {
		return b.GetCumulativeCountFloat()
	}
	return float64(b.GetCumulativeCount())
}

// formatBound writes a bucket bound as Prometheus does ("0.5", "+Inf").
func formatBound(f float64) string {
	if math.IsInf(f, +1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// parseBound reads an le label.
func parseBound(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		return 0, errors.New("bad le label " + strconv.Quote(s))
	}
	return f, nil
}
