//! Thompson sampling's posterior draws, kept per state while the posteriors they were drawn from
//! stay the same.
//!
//! The draws are most of a Thompson decision's own work: with 200 draws and 5 actions, a thousand
//! Beta samples per call. A decision picks the winner of one kept round at random, so the
//! probability it logs (the share of rounds the action won) is still exactly the probability it
//! was chosen with, as in mkt.decide_all, which shares one set of draws among the rows of a state.
//! A reward to any action of the state changes its posterior and brings new draws.

use crate::arms::ArmStats;
use crate::config::{Algorithm, PolicyConfig};
use crate::decide::{self, Decision, Knowledge};
use mkt_core::rng::Rng;
use std::collections::HashMap;

/// Above this many states the memo starts again empty, so memory stays bounded.
const MAX_STATES: usize = 4096;

struct Kept {
    arms: Vec<Option<ArmStats>>,
    allowed: Vec<bool>,
    probabilities: Vec<f64>,
    winners: Option<Vec<usize>>,
}

/// Per state, the draws of its last Thompson decision and what they were drawn from.
#[derive(Default)]
pub struct DrawMemo {
    kept: HashMap<String, Kept>,
}

impl DrawMemo {
    /// `decide::decide`, reusing the kept draws of `state` when its posteriors and the allowed
    /// actions are the ones they were drawn from. Other algorithms decide afresh (their
    /// distribution costs no more than the comparison).
    pub fn decide(
        &mut self,
        cfg: &PolicyConfig,
        state: &str,
        k: &Knowledge,
        allowed: &[bool],
        rng: &mut Rng,
    ) -> Decision {
        let arms = match (cfg.algorithm, k) {
            (Algorithm::Thompson, Knowledge::Table(arms)) => *arms,
            _ => return decide::decide(cfg, k, allowed, rng),
        };
        let current = self
            .kept
            .get(state)
            .is_some_and(|e| e.arms == arms && e.allowed == allowed);
        if !current {
            if self.kept.len() >= MAX_STATES {
                self.kept.clear();
            }
            let (probabilities, winners) = decide::distribution(cfg, k, allowed, rng);
            self.kept.insert(
                state.to_string(),
                Kept {
                    arms: arms.to_vec(),
                    allowed: allowed.to_vec(),
                    probabilities,
                    winners,
                },
            );
        }
        let e = &self.kept[state];
        Decision {
            action: decide::draw(&e.probabilities, e.winners.as_deref(), rng),
            probabilities: e.probabilities.clone(),
        }
    }

    /// States with kept draws.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(alg: &str) -> PolicyConfig {
        let actions: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let params = match alg {
            "thompson" => json!({"draws": 200}),
            _ => json!({}),
        };
        PolicyConfig::parse(&actions, alg, &params).unwrap()
    }

    fn arm(alpha: f64, beta: f64) -> Option<ArmStats> {
        Some(ArmStats {
            n: 5,
            value: alpha / (alpha + beta),
            alpha,
            beta,
        })
    }

    #[test]
    fn draws_are_reused_until_the_posterior_changes() {
        let cfg = cfg("thompson");
        let mut memo = DrawMemo::default();
        let mut rng = Rng::new(3);
        let allowed = [true, true, true];
        let arms = [arm(3.0, 4.0), arm(4.0, 3.0), None];
        let first = memo.decide(&cfg, "s1", &Knowledge::Table(&arms), &allowed, &mut rng);
        let again = memo.decide(&cfg, "s1", &Knowledge::Table(&arms), &allowed, &mut rng);
        assert_eq!(first.probabilities, again.probabilities, "the same draws");
        // Fresh draws of the same posterior give another Monte-Carlo estimate.
        let fresh = decide::decide(&cfg, &Knowledge::Table(&arms), &allowed, &mut rng);
        assert_ne!(first.probabilities, fresh.probabilities);
        // A reward changes the posterior: new draws.
        let rewarded = [arm(4.0, 4.0), arm(4.0, 3.0), None];
        let after = memo.decide(&cfg, "s1", &Knowledge::Table(&rewarded), &allowed, &mut rng);
        assert_ne!(first.probabilities, after.probabilities);
        // Another allowed set: new draws, with excluded actions at 0.
        let narrowed = memo.decide(
            &cfg,
            "s1",
            &Knowledge::Table(&rewarded),
            &[true, false, true],
            &mut rng,
        );
        assert_eq!(narrowed.probabilities[1], 0.0);
        assert_ne!(narrowed.action, 1);
        // States are kept apart.
        memo.decide(&cfg, "s2", &Knowledge::Table(&arms), &allowed, &mut rng);
        assert_eq!(memo.len(), 2);
    }

    #[test]
    fn kept_draws_are_chosen_with_the_logged_probabilities() {
        let cfg = cfg("thompson");
        let mut memo = DrawMemo::default();
        let mut rng = Rng::new(11);
        let arms = [arm(3.0, 4.0), arm(4.0, 3.0), arm(2.0, 2.0)];
        let allowed = [true, true, true];
        let n = 30000;
        let mut counts = [0usize; 3];
        let mut logged = Vec::new();
        for _ in 0..n {
            let d = memo.decide(&cfg, "s", &Knowledge::Table(&arms), &allowed, &mut rng);
            counts[d.action] += 1;
            logged = d.probabilities;
        }
        for i in 0..3 {
            let seen = counts[i] as f64 / n as f64;
            assert!((seen - logged[i]).abs() < 0.01, "{i}: {seen} vs {}", logged[i]);
        }
    }

    #[test]
    fn other_algorithms_decide_afresh() {
        let cfg = cfg("q_learning");
        let mut memo = DrawMemo::default();
        let mut rng = Rng::new(5);
        let arms = [arm(3.0, 4.0), None, None];
        memo.decide(&cfg, "s", &Knowledge::Table(&arms), &[true; 3], &mut rng);
        assert!(memo.is_empty());
    }

    #[test]
    fn memory_stays_bounded() {
        let cfg = cfg("thompson");
        let mut memo = DrawMemo::default();
        let mut rng = Rng::new(1);
        let arms = [None, None, None];
        for s in 0..MAX_STATES + 10 {
            memo.decide(
                &cfg,
                &s.to_string(),
                &Knowledge::Table(&arms),
                &[true; 3],
                &mut rng,
            );
        }
        assert!(memo.len() <= MAX_STATES);
    }
}
