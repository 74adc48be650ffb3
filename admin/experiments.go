package admin

import (
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
}

var stages = []analysis.Stage{analysis.Running, analysis.Completed, analysis.RolledBack, analysis.Failed, analysis.Halted}

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
			"1 when the version passed the objective at the last judgement, 0 when it failed.", []string{"experiment", "version", "metric"}, nil),
	}
}

func (c *experimentCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.stage
	ch <- c.iteration
	ch <- c.weight
	ch <- c.value
	ch <- c.pass
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
		if n := len(st.History); n > 0 {
			last := st.History[n-1]
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
			}
		}
	}
}
