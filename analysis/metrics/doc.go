// Package metrics reads the value of a metric for one version of an app
// over a time window, with the number of requests behind it, so that the
// analysis can refuse to judge on too few samples.
//
// Metrics are data, not code: a Definition (the policy's Metric, validated
// with its file) names a metric, its unit and type (Mean, Quantile, Ratio,
// Count), and says how to compute it, as PromQL templates for a Prometheus
// server and as series selectors for scraped Prometheus text. Builtin has envoy/… metrics from the stats of a
// version's Envoy cluster and app/… metrics from the sample app's own.
//
// Two Providers compute Definitions:
//   - Prometheus runs instant queries at the window's end on a server.
//   - Scraper, the embedded default, scrapes Envoy's /stats/prometheus or
//     an app's /metrics itself and keeps a bounded history.
//
// # Windows
//
// A Query covers [Start, End]. The Scraper measures between two of each
// target's scrapes: the last successful one at or before Start (or, when
// its history begins later, its first one after Start) and the last one at
// or before End. Prometheus queries use range selectors of the window's
// length ({{.Window}}) evaluated at End; PromQL's increase() extrapolates
// to the window's edges, so its counts can differ from the Scraper's exact
// deltas by up to a scrape interval's share of the window, while means,
// ratios and quantiles are nearly unaffected.
//
// # Counters
//
// Every value comes from counter increases: a histogram's buckets, sum and
// count, or plain counters. Each series' increase is taken on its own and
// then summed over series and targets (sum(increase(…)) by (le)). A value
// lower than the one before is a reset (the process restarted) and the
// increase across it is the new value, as in PromQL. A series absent at
// the window's first scrape was created since and counts from 0.
// Quantiles interpolate linearly inside buckets, as histogram_quantile does.
//
// # Errors
//
// See Provider: a nil error always comes with Samples > 0 and a finite
// Value; ErrNoData means nothing to judge yet; anything else means the
// metric could not be read and must not pass. A scrape target that failed,
// stalled or served garbage at the window's end fails every query that
// needs it, even when other targets answered: a sum that silently left it
// out would be wrong, not merely late.
package metrics
