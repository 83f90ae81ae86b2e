//! One decision: the policy's probabilities over the allowed actions, and a draw from them.

use crate::arms::ArmStats;
use crate::config::{Algorithm, PolicyConfig};
use crate::explore::argmax_set;
use crate::linucb::LinArm;
use crate::thompson;
use mkt_core::rng::Rng;

/// What the policy knows when deciding.
pub enum Knowledge<'a> {
    /// Per action, the stats of (state, action) if it was ever rewarded (Q-learning, Thompson).
    Table(&'a [Option<ArmStats>]),
    /// Per action, its regression; and the context's feature vector (LinUCB).
    Linear(&'a [LinArm], &'a [f64]),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub action: usize,
    /// Probability of each action (0 for excluded ones); `probabilities[action]` is the propensity.
    pub probabilities: Vec<f64>,
}

/// Probabilities over all actions and, for Thompson sampling, the winner of each posterior draw.
pub fn distribution(
    cfg: &PolicyConfig,
    k: &Knowledge,
    allowed: &[bool],
    rng: &mut Rng,
) -> (Vec<f64>, Option<Vec<usize>>) {
    let idx: Vec<usize> = (0..cfg.actions.len()).filter(|&i| allowed[i]).collect();
    let mut p = vec![0.0; cfg.actions.len()];
    let mut winners = None;
    match (cfg.algorithm, k) {
        (Algorithm::QLearning, Knowledge::Table(arms)) => {
            let values: Vec<f64> = idx
                .iter()
                .map(|&i| arms[i].map_or(cfg.q_init, |s| s.value))
                .collect();
            let counts: Vec<u64> = idx.iter().map(|&i| arms[i].map_or(0, |s| s.n)).collect();
            for (j, q) in cfg
                .exploration
                .probabilities(&values, &counts)
                .into_iter()
                .enumerate()
            {
                p[idx[j]] = q;
            }
        }
        (Algorithm::Thompson, Knowledge::Table(arms)) => {
            let post: Vec<(f64, f64)> = idx
                .iter()
                .map(|&i| arms[i].map_or(cfg.prior, |s| (s.alpha, s.beta)))
                .collect();
            let (w, q) = thompson::draw(&post, cfg.draws, rng);
            for (j, q) in q.into_iter().enumerate() {
                p[idx[j]] = q;
            }
            winners = Some(w.into_iter().map(|j| idx[j]).collect());
        }
        (Algorithm::LinUcb, Knowledge::Linear(arms, x)) => {
            let width = cfg.linear.as_ref().map_or(1.0, |l| l.width);
            let scores: Vec<f64> = idx.iter().map(|&i| arms[i].upper_bound(x, width)).collect();
            let best = argmax_set(&scores);
            for &j in &best {
                p[idx[j]] = 1.0 / best.len() as f64;
            }
        }
        _ => unreachable!("knowledge does not match the policy's algorithm"),
    }
    (p, winners)
}

/// The policy's probabilities for a context, without deciding.
pub fn probabilities(
    cfg: &PolicyConfig,
    k: &Knowledge,
    allowed: &[bool],
    rng: &mut Rng,
) -> Vec<f64> {
    distribution(cfg, k, allowed, rng).0
}

/// Decides: draws an action from the policy's distribution. For Thompson sampling the action is
/// the winner of one of the posterior draws picked at random, so the logged probability (the
/// share of draws it won) is exactly the probability with which it was chosen.
pub fn decide(cfg: &PolicyConfig, k: &Knowledge, allowed: &[bool], rng: &mut Rng) -> Decision {
    let (p, winners) = distribution(cfg, k, allowed, rng);
    Decision {
        action: draw(&p, winners.as_deref(), rng),
        probabilities: p,
    }
}

/// An action drawn from a `distribution`, the way `decide` draws it (mkt.decide_all shares one
/// distribution among rows of a state).
pub fn draw(p: &[f64], winners: Option<&[usize]>, rng: &mut Rng) -> usize {
    match winners {
        Some(w) => w[rng.below(w.len() as u64) as usize],
        None => {
            let u = rng.uniform();
            let mut acc = 0.0;
            let mut chosen = None;
            for (i, &q) in p.iter().enumerate() {
                if q > 0.0 {
                    acc += q;
                    chosen = Some(i);
                    if u < acc {
                        break;
                    }
                }
            }
            chosen.expect("some action is allowed")
        }
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index arithmetic mirrors the formulas
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frequencies_match_logged_probabilities() {
        let actions: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        for (alg, params) in [
            ("q_learning", json!({"epsilon": 0.3})),
            ("thompson", json!({"draws": 200})),
        ] {
            let cfg = PolicyConfig::parse(&actions, alg, &params).unwrap();
            let arm = |v: f64, a: f64, b: f64| {
                Some(ArmStats {
                    n: 5,
                    value: v,
                    alpha: a,
                    beta: b,
                })
            };
            let arms = [arm(1.0, 3.0, 4.0), arm(2.0, 4.0, 3.0), None];
            let allowed = [true, true, false];
            let mut rng = Rng::new(9);
            let n = 20000;
            let mut counts = [0usize; 3];
            let mut mean_p = [0.0; 3];
            for _ in 0..n {
                let d = decide(&cfg, &Knowledge::Table(&arms), &allowed, &mut rng);
                counts[d.action] += 1;
                for i in 0..3 {
                    mean_p[i] += d.probabilities[i] / n as f64;
                }
                assert_eq!(d.probabilities[2], 0.0);
                assert!((d.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            }
            for i in 0..3 {
                let f = counts[i] as f64 / n as f64;
                assert!(
                    (f - mean_p[i]).abs() < 0.02,
                    "{alg}: action {i} chosen {f}, logged {}",
                    mean_p[i]
                );
            }
            if alg == "q_learning" {
                assert!((mean_p[1] - 0.85).abs() < 1e-9);
            }
        }
    }
}
