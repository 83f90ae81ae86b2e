//! Off-policy evaluation: what a target policy would have earned, estimated from a log of
//! decisions another (logging) policy made, with the probability it made each one.
//!
//! With importance weight w = π(a|x) / p(a|x) for the logged action a:
//! - IPS   = (1/n) Σ w·r
//! - SNIPS = Σ w·r / Σ w
//! - DM    = (1/n) Σ q̂(x, π)              (q̂: a reward model fitted on the log)
//! - DR    = (1/n) Σ [q̂(x, π) + w·(r - q̂(x, a))]
//!
//! where q̂(x, π) = Σ_a' π(a'|x)·q̂(x, a') when the target's full distribution is known, and q̂(x)
//! (a model of the context alone, the same for every action) otherwise; both keep DR unbiased
//! when the logged propensities are right. Confidence intervals are bootstrap percentiles.

use mkt_core::rng::Rng;
use mkt_core::{Error, Result};
use std::collections::HashMap;

/// One logged decision as the estimators see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Logged {
    pub reward: f64,
    /// p(a|x): probability the logging policy gave the action it took.
    pub propensity: f64,
    /// π(a|x): probability the target policy gives that action.
    pub target: f64,
    /// q̂(x, a) for the logged action.
    pub model_logged: f64,
    /// q̂(x, π): the model's expected reward under the target policy.
    pub model_target: f64,
}

pub const ESTIMATORS: [&str; 4] = ["ips", "snips", "dr", "dm"];

#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub estimator: &'static str,
    pub value: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// (Σw)² / Σw²: how many logged rows the estimate is effectively worth.
    pub effective_sample_size: f64,
}

pub fn validate(rows: &[Logged]) -> Result<()> {
    if rows.is_empty() {
        return Err(Error::EmptyData(
            "the decision log has no rows to evaluate".into(),
        ));
    }
    for (i, r) in rows.iter().enumerate() {
        if !(r.propensity > 0.0 && r.propensity <= 1.0) {
            return Err(Error::invalid(format!(
                "row {}: a logged propensity must be in (0, 1], got {}",
                i + 1,
                r.propensity
            )));
        }
        if !(0.0..=1.0).contains(&r.target) {
            return Err(Error::invalid(format!(
                "row {}: a target probability must be in [0, 1], got {}",
                i + 1,
                r.target
            )));
        }
        if !r.reward.is_finite() {
            return Err(Error::invalid(format!(
                "row {}: a reward must be a finite number, got {}",
                i + 1,
                r.reward
            )));
        }
    }
    Ok(())
}

fn point(estimator: &str, rows: &[Logged], sample: &mut dyn Iterator<Item = usize>) -> f64 {
    let (mut n, mut sw, mut swr, mut sdm, mut sdr) = (0usize, 0.0, 0.0, 0.0, 0.0);
    for i in sample {
        let r = &rows[i];
        let w = r.target / r.propensity;
        n += 1;
        sw += w;
        swr += w * r.reward;
        sdm += r.model_target;
        sdr += r.model_target + w * (r.reward - r.model_logged);
    }
    let n = n as f64;
    match estimator {
        "ips" => swr / n,
        "snips" => {
            if sw > 0.0 {
                swr / sw
            } else {
                f64::NAN
            }
        }
        "dm" => sdm / n,
        "dr" => sdr / n,
        _ => unreachable!("estimators are checked before"),
    }
}

pub fn check_estimators(names: &[String]) -> Result<Vec<&'static str>> {
    names
        .iter()
        .map(|n| {
            ESTIMATORS
                .iter()
                .find(|e| **e == n.as_str())
                .copied()
                .ok_or_else(|| Error::unknown("estimator", n, &ESTIMATORS))
        })
        .collect()
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Every estimator on `rows`, with 95% bootstrap intervals from `resamples` resamples (0: none).
pub fn estimate(
    rows: &[Logged],
    estimators: &[&'static str],
    resamples: usize,
    seed: u64,
) -> Result<Vec<Estimate>> {
    validate(rows)?;
    let n = rows.len();
    let (sw, sw2) = rows.iter().fold((0.0, 0.0), |(a, b), r| {
        let w = r.target / r.propensity;
        (a + w, b + w * w)
    });
    let ess = if sw2 > 0.0 { sw * sw / sw2 } else { 0.0 };
    let mut out = Vec::new();
    for (k, &e) in estimators.iter().enumerate() {
        let value = point(e, rows, &mut (0..n));
        let (mut lo, mut hi) = (f64::NAN, f64::NAN);
        if resamples > 0 {
            // One stream per estimator: the same seed gives the same intervals whatever the list.
            let mut rng = Rng::stream(
                seed,
                k as u64 + ESTIMATORS.iter().position(|x| *x == e).unwrap() as u64 * 1000,
            );
            let mut values: Vec<f64> = (0..resamples)
                .map(|_| {
                    let mut idx = (0..n).map(|_| rng.below(n as u64) as usize);
                    point(e, rows, &mut idx)
                })
                .filter(|v| v.is_finite())
                .collect();
            if !values.is_empty() {
                values.sort_by(|a, b| a.total_cmp(b));
                lo = percentile(&values, 0.025);
                hi = percentile(&values, 0.975);
            }
        }
        out.push(Estimate {
            estimator: e,
            value,
            ci_low: lo,
            ci_high: hi,
            effective_sample_size: ess,
        });
    }
    Ok(out)
}

/// The direct-method reward model: mean reward per (context, action), shrunk towards the action's
/// mean, which is shrunk towards the overall mean (one pseudo-observation each), so rare pairs do
/// not get extreme values.
pub struct RewardModel {
    pairs: HashMap<(u32, u32), (f64, f64)>,
    actions: HashMap<u32, (f64, f64)>,
    contexts: HashMap<u32, (f64, f64)>,
    mean: f64,
}

fn shrunk((sum, n): (f64, f64), prior: f64) -> f64 {
    (sum + prior) / (n + 1.0)
}

impl RewardModel {
    /// `contexts` and `actions` are small integer codes of each row's context and action.
    pub fn fit(contexts: &[u32], actions: &[u32], rewards: &[f64]) -> Self {
        let mut m = RewardModel {
            pairs: HashMap::new(),
            actions: HashMap::new(),
            contexts: HashMap::new(),
            mean: 0.0,
        };
        for ((&c, &a), &r) in contexts.iter().zip(actions).zip(rewards) {
            for e in [
                m.pairs.entry((c, a)).or_default(),
                m.actions.entry(a).or_default(),
                m.contexts.entry(c).or_default(),
            ] {
                e.0 += r;
                e.1 += 1.0;
            }
            m.mean += r;
        }
        m.mean /= rewards.len().max(1) as f64;
        m
    }

    /// q̂(x, a).
    pub fn predict(&self, context: u32, action: u32) -> f64 {
        let a = self
            .actions
            .get(&action)
            .map_or(self.mean, |&s| shrunk(s, self.mean));
        self.pairs
            .get(&(context, action))
            .map_or(a, |&s| shrunk(s, a))
    }

    /// q̂(x): the context's mean reward whatever the action.
    pub fn predict_context(&self, context: u32) -> f64 {
        self.contexts
            .get(&context)
            .map_or(self.mean, |&s| shrunk(s, self.mean))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_and_snips_match_the_textbook_formulas() {
        // Open Bandit Pipeline: IPS = mean(w * r); SNIPS = mean(w * r) / mean(w).
        let raw = [
            (1.0, 0.5, 0.9),
            (0.0, 0.25, 0.1),
            (1.0, 0.2, 0.6),
            (0.5, 0.8, 0.3),
            (0.0, 0.1, 0.0),
        ];
        let rows: Vec<Logged> = raw
            .iter()
            .map(|&(r, p, t)| Logged {
                reward: r,
                propensity: p,
                target: t,
                model_logged: 0.0,
                model_target: 0.0,
            })
            .collect();
        let w: Vec<f64> = raw.iter().map(|&(_, p, t)| t / p).collect();
        let wr: Vec<f64> = raw.iter().zip(&w).map(|(&(r, _, _), w)| w * r).collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let ips = mean(&wr);
        let snips = mean(&wr) / mean(&w);
        // By hand: w = (1.8, 0.4, 3, 0.375, 0), w·r = (1.8, 0, 3, 0.1875, 0)
        assert!((ips - 4.9875 / 5.0).abs() < 1e-12);
        let e = estimate(&rows, &["ips", "snips"], 0, 1).unwrap();
        assert!((e[0].value - ips).abs() < 1e-9);
        assert!((e[1].value - snips).abs() < 1e-9);
        let ess = 5.575f64.powi(2) / (1.8f64.powi(2) + 0.16 + 9.0 + 0.140625);
        assert!((e[0].effective_sample_size - ess).abs() < 1e-9);
    }

    #[test]
    fn bad_rows_and_names() {
        let ok = Logged {
            reward: 1.0,
            propensity: 0.5,
            target: 1.0,
            model_logged: 0.0,
            model_target: 0.0,
        };
        assert!(estimate(&[], &["ips"], 10, 1).is_err());
        assert!(estimate(
            &[Logged {
                propensity: 0.0,
                ..ok
            }],
            &["ips"],
            10,
            1
        )
        .is_err());
        assert!(estimate(&[Logged { target: 1.5, ..ok }], &["ips"], 10, 1).is_err());
        assert!(estimate(
            &[Logged {
                reward: f64::NAN,
                ..ok
            }],
            &["ips"],
            10,
            1
        )
        .is_err());
        assert!(check_estimators(&["ips".into(), "magic".into()]).is_err());
    }
}
