//! Beta-Bernoulli Thompson sampling.

use crate::arms::ArmStats;
use mkt_core::rng::Rng;
use mkt_core::{Error, Result};

/// Posterior after one reward in [0, 1] counted `weight` times (fractional rewards update both
/// counts).
pub fn update(
    current: Option<ArmStats>,
    prior: (f64, f64),
    reward: f64,
    weight: f64,
) -> Result<ArmStats> {
    if !(0.0..=1.0).contains(&reward) {
        return Err(Error::invalid(format!(
            "thompson policies take rewards between 0 and 1 (click, conversion), got {reward}"
        )));
    }
    let mut s = current.unwrap_or(ArmStats {
        n: 0,
        value: prior.0 / (prior.0 + prior.1),
        alpha: prior.0,
        beta: prior.1,
    });
    s.alpha += weight * reward;
    s.beta += weight * (1.0 - reward);
    s.n += 1;
    s.value = s.alpha / (s.alpha + s.beta);
    Ok(s)
}

/// One posterior draw per action for `draws` rounds: the winner of each round, and the share of
/// rounds each action won (the Monte-Carlo estimate of its probability of being chosen).
pub fn draw(posteriors: &[(f64, f64)], draws: usize, rng: &mut Rng) -> (Vec<usize>, Vec<f64>) {
    let mut wins = vec![0usize; posteriors.len()];
    let mut winners = Vec::with_capacity(draws);
    for _ in 0..draws {
        let mut best = (f64::NEG_INFINITY, 0);
        for (i, &(a, b)) in posteriors.iter().enumerate() {
            let x = rng.beta(a, b);
            if x > best.0 {
                best = (x, i);
            }
        }
        wins[best.1] += 1;
        winners.push(best.1);
    }
    let p = wins.iter().map(|&w| w as f64 / draws as f64).collect();
    (winners, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posterior_counts() {
        let s = update(None, (1.0, 1.0), 1.0, 1.0).unwrap();
        let s = update(Some(s), (1.0, 1.0), 0.0, 1.0).unwrap();
        let s = update(Some(s), (1.0, 1.0), 0.25, 1.0).unwrap();
        assert_eq!((s.alpha, s.beta, s.n), (2.25, 2.75, 3));
        let s = update(Some(s), (1.0, 1.0), 1.0, 2.0).unwrap();
        assert_eq!((s.alpha, s.beta, s.n), (4.25, 2.75, 4));
        assert!(update(None, (1.0, 1.0), 2.0, 1.0).is_err());
    }

    #[test]
    fn clear_winner_wins_most_draws() {
        let mut rng = Rng::new(1);
        let (w, p) = draw(&[(2.0, 50.0), (50.0, 2.0), (1.0, 1.0)], 2000, &mut rng);
        assert_eq!(w.len(), 2000);
        assert!(p[1] > 0.95, "{p:?}");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
