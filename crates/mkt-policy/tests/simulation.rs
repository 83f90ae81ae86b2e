//! Every algorithm learns on the simulator: regret grows sub-linearly and ends far below a random
//! policy's.

use mkt_policy::simulate::{run, CurvePoint};
use mkt_policy::PolicyConfig;
use serde_json::json;

fn actions(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("offer_{i}")).collect()
}

/// Sub-linear: the last quarter of the rounds adds much less regret than the first. Random's
/// regret is what the oracle earns beyond it.
fn check(name: &str, curve: &[CurvePoint]) {
    let last = curve.last().unwrap();
    let at = |f: f64| {
        curve
            .iter()
            .find(|p| p.round as f64 >= f * last.round as f64)
            .unwrap()
            .cumulative_regret
    };
    let (first, final_quarter) = (at(0.25), at(1.0) - at(0.75));
    let random_regret = last.oracle_reward - last.random_reward;
    eprintln!("{name}: regret first quarter {first:.1}, last quarter {final_quarter:.1}, total {:.1}, random {random_regret:.1}", last.cumulative_regret);
    assert!(
        final_quarter < 0.5 * first,
        "{name}: regret not sub-linear: first quarter {first:.1}, last quarter {final_quarter:.1}"
    );
    assert!(
        last.cumulative_regret < 0.2 * random_regret,
        "{name}: regret {:.1} vs random {random_regret:.1}",
        last.cumulative_regret
    );
    assert!(last.cumulative_reward > last.random_reward, "{name}");
}

#[test]
fn bandits_learn_the_demo_offers() {
    let seg = json!({"segment": ["new", "active", "vip", "lapsed"]});
    for (alg, params) in [
        (
            "thompson",
            json!({"state_features": ["segment"], "draws": 50}),
        ),
        (
            "q_learning",
            json!({"state_features": ["segment"], "exploration": "ucb", "ucb_c": 0.3, "alpha": 0.001, "alpha_schedule": "inverse_visits", "gamma": 0.0}),
        ),
        ("linucb", json!({"categorical": seg})),
    ] {
        let cfg = PolicyConfig::parse(&actions(5), alg, &params).unwrap();
        for seed in [42, 7, 1234] {
            let curve = run(&cfg, "demo", 40_000, seed).unwrap();
            check(&format!("{alg} seed {seed}"), &curve);
        }
    }
}

#[test]
fn q_learning_learns_journeys() {
    let cfg = PolicyConfig::parse(
        &actions(4),
        "q_learning",
        &json!({"state_features": ["stage", "segment"], "gamma": 1.0, "alpha": 0.05, "epsilon": 0.1}),
    )
    .unwrap();
    // epsilon-greedy keeps exploring 10% of the time: regret keeps a linear floor, so compare halves
    // loosely and against random.
    let curve = run(&cfg, "journey", 60_000, 7).unwrap();
    let last = curve.last().unwrap();
    let half = curve.iter().find(|p| p.round * 2 >= last.round).unwrap();
    assert!(last.cumulative_regret - half.cumulative_regret < 0.8 * half.cumulative_regret);
    assert!(
        last.cumulative_reward > 1.3 * last.random_reward,
        "{last:?}"
    );
}

#[test]
fn curves_are_deterministic_and_bounded() {
    let cfg = PolicyConfig::parse(&actions(3), "thompson", &json!({})).unwrap();
    let a = run(&cfg, "demo", 1000, 5).unwrap();
    assert_eq!(a, run(&cfg, "demo", 1000, 5).unwrap());
    assert_eq!(a.len(), 200);
    assert_eq!(a.last().unwrap().round, 1000);
    assert!(run(&cfg, "demo", 0, 5).is_err());
    assert!(run(&cfg, "mars", 10, 5).is_err());
}
