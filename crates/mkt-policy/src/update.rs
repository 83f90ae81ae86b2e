//! Learning from one reward, for table-kept policies (Q-learning, Thompson sampling).

use crate::arms::ArmStats;
use crate::config::{Algorithm, PolicyConfig};
use crate::{qlearning, thompson};
use mkt_core::{Error, Result};

/// The stats of the decided (state, action) after `reward`. `next` are the stats of every action
/// in the next state for Q-learning (None: the journey ended there).
pub fn update_arm(
    cfg: &PolicyConfig,
    current: Option<ArmStats>,
    reward: f64,
    next: Option<&[Option<ArmStats>]>,
) -> Result<ArmStats> {
    update_arm_weighted(cfg, current, reward, next, 1.0)
}

/// `update_arm` for a reward that counts `weight` times (batch training from logs weights rows
/// by inverse propensity): Q-learning scales its step (capped at 1), Thompson its counts.
pub fn update_arm_weighted(
    cfg: &PolicyConfig,
    current: Option<ArmStats>,
    reward: f64,
    next: Option<&[Option<ArmStats>]>,
    weight: f64,
) -> Result<ArmStats> {
    if !(weight.is_finite() && weight >= 0.0) {
        return Err(Error::invalid(format!(
            "a weight must be a finite number >= 0, got {weight}"
        )));
    }
    if !reward.is_finite() {
        return Err(Error::invalid(format!(
            "a reward must be a finite number, got {reward}"
        )));
    }
    match cfg.algorithm {
        Algorithm::QLearning => {
            let next_max = qlearning::next_max(next, cfg.q_init);
            let n = current.map_or(0, |s| s.n);
            let alpha = if cfg.decay_alpha {
                cfg.alpha.max(1.0 / (n + 1) as f64)
            } else {
                cfg.alpha
            };
            let alpha = (alpha * weight).min(1.0);
            Ok(qlearning::update(
                current, cfg.q_init, alpha, cfg.gamma, reward, next_max,
            ))
        }
        Algorithm::Thompson => thompson::update(current, cfg.prior, reward, weight),
        Algorithm::LinUcb => Err(Error::Internal(
            "a LinUCB policy keeps regressions, not table rows".into(),
        )),
    }
}

/// The stats a (state, action) pair starts from before its first reward: Q-learning's initial
/// value, Thompson's prior (its mean as the value).
pub fn prior(cfg: &PolicyConfig) -> ArmStats {
    match cfg.algorithm {
        Algorithm::Thompson => {
            let (a, b) = cfg.prior;
            ArmStats {
                n: 0,
                value: a / (a + b),
                alpha: a,
                beta: b,
            }
        }
        _ => ArmStats {
            n: 0,
            value: cfg.q_init,
            alpha: 0.0,
            beta: 0.0,
        },
    }
}
