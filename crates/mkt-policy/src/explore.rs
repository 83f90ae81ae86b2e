//! How a value-based policy turns action values into the probabilities it decides with.

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exploration {
    /// Best action(s) share 1 - epsilon; every action gets epsilon / m.
    EpsilonGreedy(f64),
    /// p(a) proportional to exp(value / temperature).
    Softmax(f64),
    /// The action(s) maximising value + c·sqrt(ln(N + 1) / n(a)); untried actions first.
    Ucb(f64),
}

pub const NAMES: [&str; 3] = ["epsilon_greedy", "softmax", "ucb"];

/// Indices of the maximal scores (exact ties all count).
pub fn argmax_set(scores: &[f64]) -> Vec<usize> {
    let best = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    (0..scores.len()).filter(|&i| scores[i] == best).collect()
}

fn uniform_over(n: usize, set: &[usize]) -> Vec<f64> {
    let mut p = vec![0.0; n];
    for &i in set {
        p[i] = 1.0 / set.len() as f64;
    }
    p
}

impl Exploration {
    /// Probabilities over the given (allowed) actions: `values[i]` and `counts[i]` of action i.
    pub fn probabilities(&self, values: &[f64], counts: &[u64]) -> Vec<f64> {
        let m = values.len();
        if m == 0 {
            return Vec::new();
        }
        match *self {
            Exploration::EpsilonGreedy(eps) => {
                let best = argmax_set(values);
                let mut p = vec![eps / m as f64; m];
                for &i in &best {
                    p[i] += (1.0 - eps) / best.len() as f64;
                }
                p
            }
            Exploration::Softmax(t) => {
                let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let w: Vec<f64> = values.iter().map(|v| ((v - max) / t).exp()).collect();
                let s: f64 = w.iter().sum();
                w.iter().map(|x| x / s).collect()
            }
            Exploration::Ucb(c) => {
                let untried: Vec<usize> = (0..m).filter(|&i| counts[i] == 0).collect();
                if !untried.is_empty() {
                    return uniform_over(m, &untried);
                }
                let total: u64 = counts.iter().sum();
                let ln = ((total + 1) as f64).ln();
                let scores: Vec<f64> = values
                    .iter()
                    .zip(counts)
                    .map(|(v, &n)| v + c * (ln / n as f64).sqrt())
                    .collect();
                uniform_over(m, &argmax_set(&scores))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epsilon_greedy_splits_ties() {
        let p = Exploration::EpsilonGreedy(0.2).probabilities(&[1.0, 3.0, 3.0, 0.0], &[1; 4]);
        assert_eq!(p, vec![0.05, 0.45, 0.45, 0.05]);
    }

    #[test]
    fn softmax_and_ucb() {
        let p = Exploration::Softmax(1.0).probabilities(&[0.0, 2f64.ln()], &[0, 0]);
        assert!((p[0] - 1.0 / 3.0).abs() < 1e-12 && (p[1] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            Exploration::Ucb(1.0).probabilities(&[5.0, 0.0, 0.0], &[3, 0, 0]),
            vec![0.0, 0.5, 0.5]
        );
        // n = (10, 1), N = 11: bonus sqrt(ln 12 / 10) = 0.498 vs sqrt(ln 12) = 1.576
        assert_eq!(
            Exploration::Ucb(1.0).probabilities(&[1.0, 0.0], &[10, 1]),
            vec![0.0, 1.0]
        );
    }
}
