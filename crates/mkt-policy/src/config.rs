//! A policy's definition: algorithm, actions and checked parameters.

use crate::explore::{Exploration, NAMES as EXPLORATIONS};
use crate::linucb::LinearSpec;
use crate::state::StateSpec;
use mkt_core::params::Params;
use mkt_core::{Error, Result};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    QLearning,
    Thompson,
    LinUcb,
}

pub const ALGORITHMS: [&str; 3] = ["q_learning", "thompson", "linucb"];

impl Algorithm {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "q_learning" => Ok(Algorithm::QLearning),
            "thompson" => Ok(Algorithm::Thompson),
            "linucb" => Ok(Algorithm::LinUcb),
            other => Err(Error::unknown("policy algorithm", other, &ALGORITHMS)),
        }
    }

    pub fn name(&self) -> &'static str {
        ALGORITHMS[*self as usize]
    }

    fn params(&self) -> &'static [&'static str] {
        match self {
            Algorithm::QLearning => &[
                "alpha",
                "alpha_schedule",
                "gamma",
                "q_init",
                "exploration",
                "epsilon",
                "temperature",
                "ucb_c",
                "state_features",
                "bins",
                "seed",
                "transform",
                "learning",
            ],
            Algorithm::Thompson => &[
                "prior_alpha",
                "prior_beta",
                "draws",
                "state_features",
                "bins",
                "seed",
                "transform",
                "learning",
            ],
            Algorithm::LinUcb => &[
                "alpha",
                "ridge",
                "features",
                "categorical",
                "seed",
                "transform",
                "learning",
            ],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    pub algorithm: Algorithm,
    pub actions: Vec<String>,
    pub state: StateSpec,
    /// Q-learning: learning rate, discount, initial value, exploration.
    pub alpha: f64,
    /// Step size max(alpha, 1/n) for the n-th reward of a pair instead of a constant alpha: sample
    /// averages at first, which is what makes noisy rewards converge.
    pub decay_alpha: bool,
    pub gamma: f64,
    pub q_init: f64,
    pub exploration: Exploration,
    /// Thompson: Beta prior and the draws that estimate propensities.
    pub prior: (f64, f64),
    pub draws: usize,
    /// LinUCB: features and confidence width.
    pub linear: Option<LinearSpec>,
    pub seed: u64,
    /// A stored feature transform (mkt.fit_transform) applied to every context before the policy
    /// reads it; resolved by the SQL layer.
    pub transform: Option<String>,
    /// Rewards wait with their decision until mkt.fold_rewards applies them, instead of updating
    /// the (state, action) row in the rewarding transaction: the write path of a reward then
    /// touches only its decision, and no hot row lock is held until commit.
    pub deferred: bool,
}

pub const MAX_ACTIONS: usize = 1000;

/// When rewards reach the policy state: in the rewarding transaction, or at mkt.fold_rewards.
pub const LEARNING: [&str; 2] = ["immediate", "deferred"];

impl PolicyConfig {
    pub fn parse(actions: &[String], algorithm: &str, params: &Value) -> Result<Self> {
        let algorithm = Algorithm::parse(algorithm)?;
        if actions.is_empty() {
            return Err(Error::EmptyData(
                "a policy needs at least one action".into(),
            ));
        }
        if actions.len() > MAX_ACTIONS {
            return Err(Error::TooLarge(format!(
                "a policy takes at most {MAX_ACTIONS} actions, got {}",
                actions.len()
            )));
        }
        for (i, a) in actions.iter().enumerate() {
            if a.is_empty() {
                return Err(Error::invalid("action names must not be empty"));
            }
            if actions[..i].contains(a) {
                return Err(Error::invalid(format!("action \"{a}\" is listed twice")));
            }
        }
        let owner = format!("policy algorithm '{}'", algorithm.name());
        let p = Params::new(&owner, params, algorithm.params())?;
        let exploration = match p.choice("exploration", "epsilon_greedy", &EXPLORATIONS)? {
            "softmax" => Exploration::Softmax(p.float("temperature", 1.0, 1e-6, 1e6)?),
            "ucb" => Exploration::Ucb(p.float("ucb_c", 1.0, 0.0, 1e6)?),
            _ => Exploration::EpsilonGreedy(p.float("epsilon", 0.1, 0.0, 1.0)?),
        };
        let linear = match algorithm {
            Algorithm::LinUcb => Some(LinearSpec::parse(&p)?),
            _ => None,
        };
        Ok(PolicyConfig {
            algorithm,
            actions: actions.to_vec(),
            state: StateSpec::parse(&p)?,
            alpha: match algorithm {
                Algorithm::QLearning => p.float("alpha", 0.1, 1e-9, 1.0)?,
                _ => 0.0,
            },
            decay_alpha: p.choice(
                "alpha_schedule",
                "constant",
                &["constant", "inverse_visits"],
            )? == "inverse_visits",
            gamma: p.float("gamma", 0.9, 0.0, 1.0)?,
            q_init: p.float("q_init", 0.0, -1e12, 1e12)?,
            exploration,
            prior: (
                p.float("prior_alpha", 1.0, 1e-6, 1e9)?,
                p.float("prior_beta", 1.0, 1e-6, 1e9)?,
            ),
            draws: p.int("draws", 1000, 10, 1_000_000)? as usize,
            linear,
            seed: p.int("seed", 42, 0, i64::MAX)? as u64,
            deferred: p.choice("learning", "immediate", &LEARNING)? == "deferred",
            transform: match p.value("transform") {
                None => None,
                Some(Value::String(t)) if !t.is_empty() => Some(t.clone()),
                Some(v) => {
                    return Err(Error::invalid(format!(
                        "parameter \"transform\" must name a transform (mkt.fit_transform), got {v}"
                    )))
                }
            },
        })
    }

    pub fn action_index(&self, action: &str) -> Option<usize> {
        self.actions.iter().position(|a| a == action)
    }

    /// Which actions a decision may pick: all but `excluded` (unknown names are an error, so a
    /// typo cannot silently allow everything).
    pub fn allowed(&self, excluded: &[String]) -> Result<Vec<bool>> {
        let mut allowed = vec![true; self.actions.len()];
        for e in excluded {
            let i = self.action_index(e).ok_or_else(|| {
                Error::invalid(format!(
                    "excluded action \"{e}\" is not an action of this policy ({})",
                    self.actions.join(", ")
                ))
            })?;
            allowed[i] = false;
        }
        if !allowed.iter().any(|&a| a) {
            return Err(Error::invalid("every action of the policy is excluded"));
        }
        Ok(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn acts(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_and_errors() {
        let c = PolicyConfig::parse(&acts(&["a", "b"]), "q_learning", &json!({})).unwrap();
        assert_eq!((c.alpha, c.gamma, c.q_init), (0.1, 0.9, 0.0));
        assert_eq!(c.exploration, Exploration::EpsilonGreedy(0.1));
        assert!(!c.deferred);
        for algorithm in ALGORITHMS {
            let params = match algorithm {
                "linucb" => json!({"features": ["x"], "learning": "deferred"}),
                _ => json!({"learning": "deferred"}),
            };
            assert!(PolicyConfig::parse(&acts(&["a"]), algorithm, &params).unwrap().deferred);
        }
        let e = PolicyConfig::parse(&acts(&["a"]), "thompson", &json!({"learning": "later"}));
        assert!(e.unwrap_err().to_string().contains("learning"));
        assert!(PolicyConfig::parse(&acts(&[]), "thompson", &json!({})).is_err());
        assert!(PolicyConfig::parse(&acts(&["a", "a"]), "thompson", &json!({})).is_err());
        assert!(PolicyConfig::parse(&acts(&["a"]), "sarsa", &json!({})).is_err());
        assert!(PolicyConfig::parse(&acts(&["a"]), "thompson", &json!({"epsilon": 0.1})).is_err());
        assert!(PolicyConfig::parse(&acts(&["a"]), "q_learning", &json!({"alpha": 2})).is_err());
        let c =
            PolicyConfig::parse(&acts(&["a", "b"]), "linucb", &json!({"features": ["x"]})).unwrap();
        assert_eq!(c.linear.as_ref().unwrap().dim(), 2);
        assert!(c.allowed(&acts(&["a", "b"])).is_err());
        assert!(c.allowed(&acts(&["zz"])).is_err());
        assert_eq!(c.allowed(&acts(&["a"])).unwrap(), vec![false, true]);
    }
}
