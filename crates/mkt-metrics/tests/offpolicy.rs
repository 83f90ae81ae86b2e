//! Estimators against a known truth: logs simulated from a uniform logging policy over hidden
//! conversion rates, a target policy whose true value is computed exactly.

use mkt_core::rng::Rng;
use mkt_metrics::offpolicy::{estimate, Logged, RewardModel};

const CONTEXTS: usize = 5;
const ACTIONS: usize = 4;

fn rates() -> [[f64; ACTIONS]; CONTEXTS] {
    let mut r = [[0.0; ACTIONS]; CONTEXTS];
    for (c, row) in r.iter_mut().enumerate() {
        for (a, v) in row.iter_mut().enumerate() {
            *v = 0.05 + 0.6 * (((c * 7 + a * 3) % 11) as f64 / 10.0);
        }
    }
    r
}

/// Target: mostly the action (c + 1) % ACTIONS, sometimes uniform.
fn target(c: usize, a: usize) -> f64 {
    0.2 / ACTIONS as f64 + if a == (c + 1) % ACTIONS { 0.8 } else { 0.0 }
}

#[test]
fn estimates_cover_the_truth_and_dr_beats_ips() {
    let rates = rates();
    let truth: f64 = (0..CONTEXTS)
        .map(|c| {
            (0..ACTIONS)
                .map(|a| target(c, a) * rates[c][a])
                .sum::<f64>()
                / CONTEXTS as f64
        })
        .sum();
    let (mut se_ips, mut se_dr) = (0.0, 0.0);
    let mut covered = [0usize; 3];
    let seeds = 30;
    for seed in 0..seeds {
        let mut rng = Rng::new(seed);
        let n = 2000;
        let (mut cs, mut acts, mut rs, mut ps) = (vec![], vec![], vec![], vec![]);
        for _ in 0..n {
            let c = rng.below(CONTEXTS as u64) as usize;
            // Logging policy: favours action 0, never below 10%.
            let probs = [0.4, 0.2, 0.2, 0.2];
            let u = rng.uniform();
            let mut acc = 0.0;
            let mut a = ACTIONS - 1;
            for (i, p) in probs.iter().enumerate() {
                acc += p;
                if u < acc {
                    a = i;
                    break;
                }
            }
            let r = if rng.uniform() < rates[c][a] {
                1.0
            } else {
                0.0
            };
            cs.push(c as u32);
            acts.push(a as u32);
            rs.push(r);
            ps.push(probs[a]);
        }
        let model = RewardModel::fit(&cs, &acts, &rs);
        let rows: Vec<Logged> = (0..n)
            .map(|i| {
                let (c, a) = (cs[i], acts[i]);
                Logged {
                    reward: rs[i],
                    propensity: ps[i],
                    target: target(c as usize, a as usize),
                    model_logged: model.predict(c, a),
                    model_target: (0..ACTIONS)
                        .map(|b| target(c as usize, b) * model.predict(c, b as u32))
                        .sum(),
                }
            })
            .collect();
        let est = estimate(&rows, &["ips", "snips", "dr"], 300, seed).unwrap();
        for (k, e) in est.iter().enumerate() {
            if e.ci_low <= truth && truth <= e.ci_high {
                covered[k] += 1;
            }
        }
        se_ips += (est[0].value - truth).powi(2);
        se_dr += (est[2].value - truth).powi(2);
    }
    for (k, name) in ["ips", "snips", "dr"].iter().enumerate() {
        assert!(
            covered[k] >= seeds as usize * 8 / 10,
            "{name} covered the truth in {} of {seeds}",
            covered[k]
        );
    }
    assert!(
        se_dr < se_ips,
        "DR mse {} vs IPS mse {}",
        se_dr / seeds as f64,
        se_ips / seeds as f64
    );
}
