//! A policy held in memory: the simulator and batch training run it; the SQL layer keeps the same
//! state in catalog rows and calls the same decide and update functions.

use crate::arms::ArmStats;
use crate::config::{Algorithm, PolicyConfig};
use crate::decide::{self, Decision, Knowledge};
use crate::learned::Learned;
use crate::linucb::LinArm;
use crate::update::update_arm_weighted;
use mkt_core::rng::Rng;
use mkt_core::{Error, Result};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

pub struct Learner {
    pub cfg: PolicyConfig,
    /// Per state, per action.
    pub table: HashMap<String, Vec<Option<ArmStats>>>,
    /// Per action (LinUCB).
    pub linear: Vec<LinArm>,
    rng: Rng,
}

impl Learner {
    pub fn new(cfg: PolicyConfig) -> Self {
        let linear = match &cfg.linear {
            Some(l) => vec![LinArm::new(l.dim(), l.ridge); cfg.actions.len()],
            None => Vec::new(),
        };
        let rng = Rng::new(cfg.seed);
        Learner {
            cfg,
            table: HashMap::new(),
            linear,
            rng,
        }
    }

    /// A learner that continues from a stored state (batch training on top of online learning,
    /// folding deferred rewards).
    pub fn with_state(cfg: PolicyConfig, learned: Learned) -> Self {
        let mut l = Learner::new(cfg);
        l.table = learned.table;
        if let Some(lin) = learned.linear {
            l.linear = lin;
        }
        l
    }

    /// Everything learned, as the catalog stores it (LinUCB regressions only where rewarded).
    pub fn into_learned(self) -> Learned {
        Learned {
            table: self.table,
            linear: Some(self.linear).filter(|l| !l.is_empty()),
        }
    }

    /// The table rows of `touched` (state, action) pairs and the regressions: what a fold writes
    /// back.
    pub fn touched(&self, touched: &HashSet<(String, usize)>) -> Learned {
        let m = self.cfg.actions.len();
        let mut table: HashMap<String, Vec<Option<ArmStats>>> = HashMap::new();
        for (state, action) in touched {
            if let Some(arm) = self.table.get(state).and_then(|arms| arms[*action]) {
                table.entry(state.clone()).or_insert_with(|| vec![None; m])[*action] = Some(arm);
            }
        }
        Learned {
            table,
            linear: Some(self.linear.clone()).filter(|l| !l.is_empty()),
        }
    }

    /// Learns from a logged decision's reward: its context for LinUCB, its logged state
    /// otherwise, and the state its next context maps to (Q-learning journeys). Contexts are as
    /// logged; `view` is how the policy reads one (its feature transform), applied only where a
    /// context is read.
    pub fn reward_logged(
        &mut self,
        context: &Value,
        state: &str,
        action: usize,
        reward: f64,
        next: Option<&Value>,
        view: impl Fn(&Value) -> Result<Value>,
    ) -> Result<()> {
        match self.cfg.algorithm {
            Algorithm::LinUcb => self.reward(&view(context)?, action, reward, None),
            Algorithm::QLearning => {
                let next_state = next.map(|n| self.state_of(&view(n)?)).transpose()?;
                self.reward_in_state(state, action, reward, next_state.as_deref(), 1.0)
            }
            Algorithm::Thompson => self.reward_in_state(state, action, reward, None, 1.0),
        }
    }

    fn arms(&self, state: &str) -> Vec<Option<ArmStats>> {
        self.table
            .get(state)
            .cloned()
            .unwrap_or_else(|| vec![None; self.cfg.actions.len()])
    }

    /// The state a context maps to ("*" for LinUCB, which uses features instead).
    pub fn state_of(&self, context: &Value) -> Result<String> {
        self.cfg.state.key(context)
    }

    fn with_knowledge<T>(
        &mut self,
        context: &Value,
        f: impl FnOnce(&PolicyConfig, &Knowledge, &mut Rng) -> T,
    ) -> Result<(String, T)> {
        let state = self.state_of(context)?;
        let out = if self.cfg.algorithm == Algorithm::LinUcb {
            let x = linear_features(&self.cfg, context)?;
            f(
                &self.cfg,
                &Knowledge::Linear(&self.linear, &x),
                &mut self.rng,
            )
        } else {
            let arms = self.arms(&state);
            f(&self.cfg, &Knowledge::Table(&arms), &mut self.rng)
        };
        Ok((state, out))
    }

    pub fn decide(&mut self, context: &Value, allowed: &[bool]) -> Result<(String, Decision)> {
        self.with_knowledge(context, |cfg, k, rng| decide::decide(cfg, k, allowed, rng))
    }

    pub fn probabilities(&mut self, context: &Value, allowed: &[bool]) -> Result<Vec<f64>> {
        Ok(self
            .with_knowledge(context, |cfg, k, rng| {
                decide::probabilities(cfg, k, allowed, rng)
            })?
            .1)
    }

    /// Learns from the reward of `action` taken in `context`; `next` is the context the customer
    /// moved to (Q-learning journeys), None when the journey ended.
    pub fn reward(
        &mut self,
        context: &Value,
        action: usize,
        reward: f64,
        next: Option<&Value>,
    ) -> Result<()> {
        self.reward_weighted(context, action, reward, next, 1.0)
    }

    /// `reward` for a row that counts `weight` times.
    pub fn reward_weighted(
        &mut self,
        context: &Value,
        action: usize,
        reward: f64,
        next: Option<&Value>,
        weight: f64,
    ) -> Result<()> {
        if self.cfg.algorithm == Algorithm::LinUcb {
            let x = linear_features(&self.cfg, context)?;
            if !reward.is_finite() {
                return Err(mkt_core::Error::invalid("a reward must be a finite number"));
            }
            self.linear[action].update_weighted(&x, reward, weight);
            return Ok(());
        }
        let state = self.state_of(context)?;
        let next = match next {
            Some(n) => Some(self.state_of(n)?),
            None => None,
        };
        self.reward_in_state(&state, action, reward, next.as_deref(), weight)
    }

    /// Learns from a reward of a table-kept policy whose states are already known: a logged
    /// decision's state, and the state its next context maps to (Q-learning journeys).
    pub fn reward_in_state(
        &mut self,
        state: &str,
        action: usize,
        reward: f64,
        next_state: Option<&str>,
        weight: f64,
    ) -> Result<()> {
        let next_arms = next_state.map(|n| self.arms(n));
        let current = self.arms(state)[action];
        let updated =
            update_arm_weighted(&self.cfg, current, reward, next_arms.as_deref(), weight)?;
        let n = self.cfg.actions.len();
        self.table
            .entry(state.to_string())
            .or_insert_with(|| vec![None; n])[action] = Some(updated);
        Ok(())
    }
}

/// The features LinUCB reads from a context.
fn linear_features(cfg: &PolicyConfig, context: &Value) -> Result<Vec<f64>> {
    match &cfg.linear {
        Some(l) => l.features(context),
        None => Err(Error::Internal("a LinUCB policy without its features".into())),
    }
}

/// What one reward learned online changes: a LinUCB action's regression (with the context's
/// features), or a table row, with the next state for Q-learning journeys.
#[derive(Debug, Clone, PartialEq)]
pub enum Online {
    Linear { features: Vec<f64> },
    Table { next_state: Option<String> },
}

/// The online update of a reward for a decision's logged `context`, with `next` the context the
/// customer moved to; `view` is how the policy reads a context (see `Learner::reward_logged`).
pub fn online(
    cfg: &PolicyConfig,
    context: &Value,
    next: Option<&Value>,
    view: impl Fn(&Value) -> Result<Value>,
) -> Result<Online> {
    match cfg.algorithm {
        Algorithm::LinUcb => Ok(Online::Linear {
            features: linear_features(cfg, &view(context)?)?,
        }),
        Algorithm::QLearning => Ok(Online::Table {
            next_state: next.map(|n| cfg.state.key(&view(n)?)).transpose()?,
        }),
        Algorithm::Thompson => Ok(Online::Table { next_state: None }),
    }
}

/// How much a logged row counts in batch training: the inverse of its logging propensity `q`,
/// normalised so a uniform logger over `actions` weighs 1, clipped at 10.
pub fn propensity_weight(q: f64, actions: usize) -> Result<f64> {
    if !(q > 0.0 && q <= 1.0) {
        return Err(Error::invalid(format!(
            "a propensity must be in (0, 1], got {q}"
        )));
    }
    Ok((1.0 / (actions as f64 * q)).min(10.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Rewards given with their states (a decision log's) teach what the same rewards given
    /// with contexts teach.
    #[test]
    fn rewards_in_known_states_equal_rewards_in_contexts() {
        let actions = vec!["a".to_string(), "b".to_string()];
        let cfg = PolicyConfig::parse(
            &actions,
            "q_learning",
            &json!({"alpha": 0.4, "gamma": 0.7, "state_features": ["s"]}),
        )
        .unwrap();
        let (mut by_context, mut by_state) = (Learner::new(cfg.clone()), Learner::new(cfg));
        for i in 0..50i64 {
            let (ctx, next) = (json!({ "s": i % 3 }), json!({ "s": (i + 1) % 3 }));
            let (action, reward) = ((i % 2) as usize, (i % 5) as f64 / 4.0);
            let next = (i % 4 != 0).then_some(&next);
            by_context.reward(&ctx, action, reward, next).unwrap();
            let state = by_state.state_of(&ctx).unwrap();
            let next_state = next.map(|n| by_state.state_of(n).unwrap());
            by_state
                .reward_in_state(&state, action, reward, next_state.as_deref(), 1.0)
                .unwrap();
        }
        assert_eq!(by_context.table, by_state.table);
        assert_eq!(by_context.table.len(), 3);
    }

    /// A corridor of 4 cells; "right" from cell 3 ends the journey with reward 1, "left" from
    /// cell 0 ends it with 0.1, every other move costs nothing. With gamma 0.9 the optimal policy
    /// walks right everywhere: Q*(s, right) = 0.9^(3 - s).
    #[test]
    fn q_learning_finds_the_optimal_policy_of_a_small_mdp() {
        let actions = vec!["left".to_string(), "right".to_string()];
        let cfg = PolicyConfig::parse(
            &actions,
            "q_learning",
            &json!({"alpha": 0.2, "gamma": 0.9, "epsilon": 0.3, "state_features": ["cell"], "seed": 3}),
        )
        .unwrap();
        let mut l = Learner::new(cfg);
        let all = [true, true];
        for _ in 0..3000 {
            let mut cell = 0i64;
            loop {
                let ctx = json!({ "cell": cell });
                let (_, d) = l.decide(&ctx, &all).unwrap();
                let (next, r) = match (d.action, cell) {
                    (1, 3) => (None, 1.0),
                    (0, 0) => (None, 0.1),
                    (1, c) => (Some(c + 1), 0.0),
                    (_, c) => (Some(c - 1), 0.0),
                };
                let next_ctx = next.map(|c| json!({ "cell": c }));
                l.reward(&ctx, d.action, r, next_ctx.as_ref()).unwrap();
                match next {
                    Some(c) => cell = c,
                    None => break,
                }
            }
        }
        for cell in 0..4 {
            let arms = l.arms(&format!("cell={cell}"));
            let q_right = arms[1].unwrap().value;
            let q_left = arms[0].unwrap().value;
            assert!(
                q_right > q_left,
                "cell {cell}: right {q_right} left {q_left}"
            );
            let optimal = 0.9f64.powi(3 - cell);
            assert!(
                (q_right - optimal).abs() < 0.05,
                "cell {cell}: {q_right} vs {optimal}"
            );
        }
    }

    #[test]
    fn propensities_weigh_rows_inversely_and_are_clipped() {
        assert!((propensity_weight(0.25, 4).unwrap() - 1.0).abs() < 1e-12);
        assert!((propensity_weight(0.5, 4).unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(propensity_weight(0.001, 4).unwrap(), 10.0);
        assert!(propensity_weight(0.0, 4).is_err() && propensity_weight(1.5, 4).is_err());
    }

    #[test]
    fn online_updates_name_what_changes() {
        let actions = vec!["a".to_string(), "b".to_string()];
        let q = PolicyConfig::parse(&actions, "q_learning", &json!({"state_features": ["s"]})).unwrap();
        let same = |v: &Value| Ok(v.clone());
        assert_eq!(
            online(&q, &json!({"s": 1}), Some(&json!({"s": 2})), same).unwrap(),
            Online::Table { next_state: Some("s=2".into()) }
        );
        // a context no one reads is never viewed
        let refuse = |_: &Value| Err(Error::invalid("viewed"));
        let t = PolicyConfig::parse(&actions, "thompson", &json!({})).unwrap();
        assert_eq!(online(&t, &json!({}), Some(&json!({"s": 2})), refuse).unwrap(), Online::Table { next_state: None });
        assert_eq!(online(&q, &json!({}), None, refuse).unwrap(), Online::Table { next_state: None });
        let l = PolicyConfig::parse(&actions, "linucb", &json!({"features": ["x"]})).unwrap();
        let Online::Linear { features } = online(&l, &json!({"x": 2.0}), None, same).unwrap() else { panic!() };
        assert_eq!(features.len(), l.linear.as_ref().unwrap().dim());
    }

    #[test]
    fn a_learner_gives_back_only_the_rows_it_touched() {
        let actions = vec!["a".to_string(), "b".to_string()];
        let cfg = PolicyConfig::parse(&actions, "thompson", &json!({"state_features": ["s"]})).unwrap();
        let mut l = Learner::new(cfg);
        let same = |v: &Value| Ok(v.clone());
        l.reward_logged(&json!({}), "s=1", 1, 1.0, None, same).unwrap();
        l.reward_logged(&json!({}), "s=2", 0, 0.0, None, same).unwrap();
        let touched: HashSet<(String, usize)> = [("s=1".to_string(), 1)].into_iter().collect();
        let rows = l.touched(&touched);
        assert_eq!(rows.table.len(), 1);
        assert!(rows.table["s=1"][1].is_some() && rows.table["s=1"][0].is_none());
        assert!(rows.linear.is_none());
        assert_eq!(l.into_learned().table.len(), 2);
    }
}
