package admin

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowplane/shadowplane/analysis"
)

// experimentCollector exports experiments as Prometheus metrics, read
// from their states at scrape time so the figures are never stale.
type experimentCollector struct {
	src       Experiments
	stage     *prometheus.Desc
	iteration *prometheus.Desc
	weight    *prometheus.Desc
	value     *prometheus.Desc
	pass      *prometheus.Desc
	estimate  *prometheus.Desc
	low, high *prometheus.Desc
}

var stages = []analysis.Stage{analysis.Running, analysis.Paused, analysis.WaitingApproval, analysis.Completed, analysis.RolledBack, analysis.Failed, analysis.Halted}

// NewExperimentCollector returns a collector of src's experiments.
func NewExperimentCollector(src Experiments) prometheus.Collector {
	return &experimentCollector{
		src: src,
		stage: prometheus.NewDesc("shadowplane_experiment_stage",
			"1 for the experiment's current stage, 0 for the others.", []string{"experiment", "stage"}, nil),
		iteration: prometheus.NewDesc("shadowplane_experiment_iteration",
			"Iterations the experiment has passed.", []string{"experiment"}, nil),
		weight: prometheus.NewDesc("shadowplane_experiment_weight",
			"Weight (percent) the experiment serves to each variant of its route.", []string{"experiment", "variant"}, nil),
		value: prometheus.NewDesc("shadowplane_experiment_objective_value",
			"Last value read for each objective metric, per version.", []string{"experiment", "version", "metric"}, nil),
		pass: prometheus.NewDesc("shadowplane_experiment_objective_pass",
			"1 when the last judgement showed the version meeting the objective, 0 when it showed it failing or could not tell yet.", []string{"experiment", "version", "metric"}, nil),
		estimate: prometheus.NewDesc("shadowplane_experiment_check_estimate",
			"What each objective's limit is checked on (the metric, the share of requests over a latency limit, or the ratio to the baseline), over the experiment's evidence.", checkLabels, nil),
		low: prometheus.NewDesc("shadowplane_experiment_check_low",
			"The anytime-valid lower bound of shadowplane_experiment_check_estimate (absent when unbounded).", checkLabels, nil),
		high: prometheus.NewDesc("shadowplane_experiment_check_high",
			"The anytime-valid upper bound of shadowplane_experiment_check_estimate (absent when unbounded).", checkLabels, nil),
	}
}

// checkLabels identify one limit of one objective for one version.
var checkLabels = []string{"experiment", "version", "metric", "objective", "quantity", "limit"}

func (c *experimentCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.stage
	ch <- c.iteration
	ch <- c.weight
	ch <- c.value
	ch <- c.pass
	ch <- c.estimate
	ch <- c.low
	ch <- c.high
}

func (c *experimentCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.src.States() {
		name := st.Experiment
		for _, s := range stages {
			v := 0.0
			if st.Stage == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.stage, prometheus.GaugeValue, v, name, string(s))
		}
		ch <- prometheus.MustNewConstMetric(c.iteration, prometheus.GaugeValue, float64(st.Iteration), name)
		for variant, w := range st.Route.Weights() {
			ch <- prometheus.MustNewConstMetric(c.weight, prometheus.GaugeValue, float64(w), name, variant)
		}
		// The last look with verdicts: one during a metrics outage has
		// none, and the figures should not vanish with it.
		if n := lastJudged(st.History); n >= 0 {
			last := st.History[n]
			for version, metrics := range last.Observations {
				for metric, o := range metrics {
					if o.Error == "" {
						ch <- prometheus.MustNewConstMetric(c.value, prometheus.GaugeValue, o.Value, name, version, metric)
					}
				}
			}
			for _, vd := range last.Verdicts {
				v := 0.0
				if vd.Pass {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(c.pass, prometheus.GaugeValue, v, name, vd.Version, vd.Metric)
				for _, ck := range vd.Checks {
					labels := []string{name, vd.Version, vd.Metric, strconv.Itoa(vd.Objective), ck.Quantity, ck.Op + strconv.FormatFloat(ck.Limit, 'g', -1, 64)}
					ch <- prometheus.MustNewConstMetric(c.estimate, prometheus.GaugeValue, ck.Estimate, labels...)
					if ck.Low != nil {
						ch <- prometheus.MustNewConstMetric(c.low, prometheus.GaugeValue, *ck.Low, labels...)
					}
					if ck.High != nil {
						ch <- prometheus.MustNewConstMetric(c.high, prometheus.GaugeValue, *ck.High, labels...)
					}
				}
			}
		}
	}
}

// lastJudged is the index of the last record with verdicts, or -1.
func lastJudged(h []analysis.Record) int {
	for i := len(h) - 1; i >= 0; i-- {
		if len(h[i].Verdicts) > 0 {
			return i
		}
	}
	return -1
}
