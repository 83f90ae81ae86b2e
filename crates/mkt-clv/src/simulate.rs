//! Customers drawn from a fitted model: the model's side of the report's pictures (expected
//! repeat purchases per period, the frequency histogram) for every model alike, by Monte Carlo
//! with a fixed seed, and fit tests against known parameters.

use crate::purchases::{Kind, Rft};
use mkt_core::rng::Rng;

/// One customer of a purchase model observed for `t` periods after the first purchase: (x, t_x,
/// T) and the times of the repeat purchases.
pub fn customer(kind: Kind, p: &[f64; 4], t: f64, rng: &mut Rng, times: &mut Vec<f64>) -> Rft {
    times.clear();
    let [r, alpha, third, fourth] = *p;
    let lambda = rng.gamma(r) / alpha;
    // When the customer leaves: after a purchase with probability p (BG/NBD, and MBG/NBD also
    // right after the first), or at an exponential lifetime (Pareto/NBD).
    let (dropout, lifetime) = match kind {
        Kind::BgNbd | Kind::MbgNbd => (rng.beta(third, fourth), f64::INFINITY),
        Kind::ParetoNbd => {
            let mu = rng.gamma(third) / fourth;
            (0.0, -rng.uniform().max(1e-300).ln() / mu)
        }
    };
    if kind == Kind::MbgNbd && rng.uniform() < dropout {
        return Rft { x: 0.0, t_x: 0.0, t };
    }
    let end = t.min(lifetime);
    let mut now = 0.0;
    loop {
        now += -rng.uniform().max(1e-300).ln() / lambda;
        if now > end {
            break;
        }
        times.push(now);
        if rng.uniform() < dropout {
            break;
        }
    }
    Rft { x: times.len() as f64, t_x: times.last().copied().unwrap_or(0.0), t }
}

/// BG/NBD customers observed for the given lengths (fit tests).
pub fn customers_bg(p: &[f64; 4], lengths: &[f64], rng: &mut Rng) -> Vec<Rft> {
    let mut times = Vec::new();
    lengths.iter().map(|&t| customer(Kind::BgNbd, p, t, rng, &mut times)).collect()
}

/// How many of the customers observed for `ts` periods the model expects to make 0, 1, ...
/// `max_x` (or more) repeat purchases, each customer drawn `draws` times.
pub fn frequency_histogram(kind: Kind, p: &[f64; 4], ts: &[f64], max_x: usize, draws: usize, seed: u64) -> Vec<f64> {
    let mut histogram = vec![0.0; max_x + 1];
    let mut rng = Rng::new(seed);
    let mut times = Vec::new();
    let w = 1.0 / draws as f64;
    for &t in ts {
        for _ in 0..draws {
            let x = customer(kind, p, t, &mut rng, &mut times).x as usize;
            histogram[x.min(max_x)] += w;
        }
    }
    histogram
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_purchases_match_the_model_expectation() {
        // a new BG/NBD customer's expected repeat purchases in 52 periods, against the closed form
        let p = [0.243, 4.414, 0.793, 2.426];
        let mut rng = Rng::new(9);
        let mut times = Vec::new();
        let n = 40_000;
        let total: f64 = (0..n).map(|_| customer(Kind::BgNbd, &p, 52.0, &mut rng, &mut times).x).sum();
        let want = crate::purchases::expected_purchases(Kind::BgNbd, &p, Rft { x: 0.0, t_x: 0.0, t: 0.0 }, 52.0);
        assert!((total / n as f64 - want).abs() < 0.05 * want, "{} vs {want}", total / n as f64);
        let hist = frequency_histogram(Kind::ParetoNbd, &[0.55, 10.6, 0.61, 11.7], &[20.0, 15.0], 7, 20, 1);
        assert_eq!(hist.len(), 8);
        assert!((hist.iter().sum::<f64>() - 2.0).abs() < 1e-9, "every customer counted once");
    }
}
