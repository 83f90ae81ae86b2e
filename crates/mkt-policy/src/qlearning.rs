//! Tabular Q-learning: Q(s,a) <- Q(s,a) + alpha [r + gamma max_a' Q(s',a') - Q(s,a)].

use crate::arms::ArmStats;

/// max_a' Q(s', a') over every action of the next state (unvisited pairs count as `q_init`);
/// 0 when there is no next state (the journey ended).
pub fn next_max(next: Option<&[Option<ArmStats>]>, q_init: f64) -> f64 {
    match next {
        None => 0.0,
        Some(arms) => arms
            .iter()
            .map(|a| a.map_or(q_init, |s| s.value))
            .fold(f64::NEG_INFINITY, f64::max),
    }
}

/// The stats of (s, a) after one reward.
pub fn update(
    current: Option<ArmStats>,
    q_init: f64,
    alpha: f64,
    gamma: f64,
    reward: f64,
    next_max: f64,
) -> ArmStats {
    let mut s = current.unwrap_or(ArmStats {
        n: 0,
        value: q_init,
        alpha: 0.0,
        beta: 0.0,
    });
    s.value += alpha * (reward + gamma * next_max - s.value);
    s.n += 1;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_sequence() {
        // alpha 0.5, gamma 0.9, q_init 0.
        // 1. r = 1, terminal: Q = 0 + 0.5 (1 + 0 - 0) = 0.5
        let s1 = update(None, 0.0, 0.5, 0.9, 1.0, 0.0);
        assert_eq!(s1.value, 0.5);
        // 2. r = 0, next state max Q = 2: Q = 0.5 + 0.5 (0 + 1.8 - 0.5) = 1.15
        let s2 = update(Some(s1), 0.0, 0.5, 0.9, 0.0, 2.0);
        assert!((s2.value - 1.15).abs() < 1e-12);
        // 3. r = -1, terminal: Q = 1.15 + 0.5 (-1 - 1.15) = 0.075
        let s3 = update(Some(s2), 0.0, 0.5, 0.9, -1.0, 0.0);
        assert!((s3.value - 0.075).abs() < 1e-12);
        assert_eq!(s3.n, 3);
        let arms = [Some(s3), None];
        assert_eq!(next_max(Some(&arms), 0.2), 0.2);
        assert_eq!(next_max(None, 0.2), 0.0);
    }
}
