//! Turning the rows of a decision log into what the off-policy estimators take: context keys
//! coded as small integers, the doubly-robust baseline fitted on them, and per row the target
//! policy's probability of the logged action.

use crate::offpolicy::{Logged, RewardModel};
use mkt_core::{Error, Result};
use std::collections::HashMap;

pub fn check_resamples(n: i32) -> Result<usize> {
    if !(0..=10_000).contains(&n) {
        return Err(Error::invalid(format!(
            "bootstrap must be between 0 and 10000 resamples, got {n}"
        )));
    }
    Ok(n as usize)
}

/// Small integer codes for distinct keys, in order of first appearance.
#[derive(Default)]
pub struct KeyCodes(HashMap<String, u32>);

impl KeyCodes {
    pub fn code(&mut self, key: String) -> u32 {
        let n = self.0.len() as u32;
        *self.0.entry(key).or_insert(n)
    }
}

/// Rows whose target probability is known per row (mkt.estimate_policy_value): (reward,
/// propensity, target probability) with each row's context code. Without the target's full
/// distribution the DR baseline is a model of the context alone.
pub fn with_context_baseline(rows: &[(f64, f64, f64)], keys: &[u32]) -> Vec<Logged> {
    let rewards: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let model = RewardModel::fit(keys, &vec![0; keys.len()], &rewards);
    rows.iter()
        .zip(keys)
        .map(|(&(reward, propensity, target), &k)| {
            let q = model.predict_context(k);
            Logged {
                reward,
                propensity,
                target,
                model_logged: q,
                model_target: q,
            }
        })
        .collect()
}

/// One logged decision judged against a target policy whose distribution over `actions` is known
/// per context key.
pub struct Judged {
    pub key: u32,
    pub reward: f64,
    pub propensity: f64,
    /// The logged action's index; `actions` for one the target does not have (it never takes it).
    pub action: usize,
}

/// Rows with the target's distributions (`dists[key]`) and a baseline of context and action.
pub fn with_target(rows: &[Judged], dists: &HashMap<u32, Vec<f64>>, actions: usize) -> Vec<Logged> {
    let keys: Vec<u32> = rows.iter().map(|r| r.key).collect();
    let acts: Vec<u32> = rows.iter().map(|r| r.action as u32).collect();
    let rewards: Vec<f64> = rows.iter().map(|r| r.reward).collect();
    let model = RewardModel::fit(&keys, &acts, &rewards);
    rows.iter()
        .map(|r| {
            let d = &dists[&r.key];
            Logged {
                reward: r.reward,
                propensity: r.propensity,
                target: d.get(r.action).copied().unwrap_or(0.0),
                model_logged: model.predict(r.key, r.action as u32),
                model_target: (0..actions).map(|b| d[b] * model.predict(r.key, b as u32)).sum(),
            }
        })
        .collect()
}

/// The logging policy's mean reward.
pub fn logging_value(rows: &[Judged]) -> f64 {
    rows.iter().map(|r| r.reward).sum::<f64>() / rows.len().max(1) as f64
}

/// How much better the target is than the logging policy, relative (None when undefined).
pub fn lift(value: f64, logging_value: f64) -> Option<f64> {
    (logging_value != 0.0 && value.is_finite()).then(|| value / logging_value - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_code_in_order_of_appearance() {
        let mut c = KeyCodes::default();
        assert_eq!(
            ["b", "a", "b", "c"].map(|k| c.code(k.to_string())),
            [0, 1, 0, 2]
        );
    }

    #[test]
    fn a_target_never_takes_an_action_it_does_not_have() {
        let dists: HashMap<u32, Vec<f64>> = [(0, vec![0.2, 0.8])].into_iter().collect();
        let rows = vec![
            Judged { key: 0, reward: 1.0, propensity: 0.5, action: 1 },
            Judged { key: 0, reward: 0.0, propensity: 0.5, action: 2 },
        ];
        let l = with_target(&rows, &dists, 2);
        assert_eq!((l[0].target, l[1].target), (0.8, 0.0));
        assert_eq!(logging_value(&rows), 0.5);
        assert_eq!(lift(0.75, 0.5), Some(0.5));
        assert_eq!(lift(0.75, 0.0), None);
        assert!(check_resamples(10_001).is_err() && check_resamples(0).is_ok());
    }

    #[test]
    fn the_context_baseline_predicts_each_row_from_its_context() {
        let l = with_context_baseline(&[(1.0, 0.5, 0.5), (0.0, 0.5, 0.5)], &[0, 1]);
        assert_eq!(l[0].model_logged, l[0].model_target);
        assert!(l[0].model_logged > l[1].model_logged);
    }
}
