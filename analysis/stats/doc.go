// Package stats holds the anytime-valid tests behind experiment verdicts.
//
// An experiment looks at its metrics every interval and may stop at any
// look. A fixed-sample test or interval repeated at every look would be
// wrong far more often than its nominal level says (the "peeking"
// problem). Every method here is instead a test martingale: a
// nonnegative (super)martingale under the null hypothesis that starts at 1,
// so by Ville's inequality the chance that it ever reaches 1/α, at any of
// the looks, however many and whenever they stop, is at most α. Rejecting
// the hypothesis "θ ≤ θ0" at every θ0 where the martingale has reached 1/α
// gives a one-sided confidence sequence; the interval shown for a metric is
// the pair of one-sided sequences, each at level α.
//
// Two families are used:
//
//   - Proportions (error rates, the share of requests slower than a
//     latency limit): the Beta-binomial mixture of likelihood ratios
//     ("Robbins' mixture"), with the Jeffreys prior Beta(½, ½) truncated to
//     the alternative. It is exact for independent Bernoulli requests, at
//     any sample size, zero events included, and stays a supermartingale
//     when the true rate drifts but stays on the null side.
//   - Estimates that are asymptotically normal (a mean latency, and the
//     log of a ratio of means or of rates between two versions): the
//     mixture sequential probability ratio test with a half-normal mixing
//     distribution on the drift, on the information scale (1/variance).
//     Validity is asymptotic, with the variance estimated from the data,
//     as in Waudby-Smith et al.'s asymptotic confidence sequences.
//
// References: Howard, Ramdas, McAuliffe, Sekhon (2021), "Time-uniform,
// nonparametric, nonasymptotic confidence sequences", Ann. Statist.;
// Johari, Koomen, Pekelis, Walsh (2017), "Peeking at A/B tests", KDD;
// Waudby-Smith, Arbour, Sinha, Kennedy, Ramdas (2024), "Time-uniform
// central limit theory and asymptotic confidence sequences", Ann. Statist.;
// Lindon, Ham, Tingley, Bojinov (2022), "Anytime-valid linear models and
// regression adjusted causal inference in randomized experiments"
// (arXiv 2210.08589) and Netflix's sequential testing work (arXiv
// 2205.14762).
package stats
