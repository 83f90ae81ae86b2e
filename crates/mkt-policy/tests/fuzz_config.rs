//! Property tests of what arrives from SQL as jsonb: policy params and decision contexts. Any
//! value gives Ok or an error, never a panic; a policy that parsed decides and learns from any
//! context without panicking either.

use mkt_policy::{Learner, PolicyConfig};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Keys the parsers look for, so that generated objects reach their branches, plus noise.
const KEYS: [&str; 16] = [
    "alpha", "gamma", "epsilon", "temperature", "exploration", "state_features", "bins",
    "prior", "seed", "q_init", "features", "ridge", "draws", "segment", "stage", "zz",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        (-5.0f64..5.0).prop_map(|f| json!(f)),
        "[a-z_]{0,8}".prop_map(Value::from),
        prop::sample::select(KEYS.to_vec()).prop_map(Value::from),
        "\\PC{0,6}".prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS.to_vec()), inner), 0..6).prop_map(
                |kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

/// Params that mostly parse, so that deciding and learning run on odd contexts too.
fn plausible_params() -> impl Strategy<Value = Value> {
    let number = prop_oneof![(-1.0f64..2.0).prop_map(|f| json!(f)), scalar()];
    (
        prop::option::of(number.clone()),
        prop::option::of(number.clone()),
        prop::option::of(number),
        prop::option::of(prop::sample::select(vec!["epsilon_greedy", "softmax", "ucb", "x"])),
        prop::option::of(prop::sample::select(vec![
            json!(["segment"]),
            json!(["segment", "stage"]),
            json!([]),
            json!("segment"),
        ])),
    )
        .prop_map(|(a, e, g, x, f)| {
            let mut m = serde_json::Map::new();
            for (k, v) in [("alpha", a), ("epsilon", e), ("gamma", g)] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            if let Some(x) = x {
                m.insert("exploration".into(), json!(x));
            }
            if let Some(f) = f {
                m.insert("state_features".into(), f);
            }
            Value::Object(m)
        })
}

fn context() -> impl Strategy<Value = Value> {
    prop_oneof![
        value(),
        (scalar(), scalar()).prop_map(|(a, b)| json!({"segment": a, "stage": b})),
    ]
}

static PARSED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_params_and_contexts_are_ok_or_errors(
        algorithm in prop::sample::select(vec!["q_learning", "thompson", "linucb", "bandit?"]),
        params in prop_oneof![value(), plausible_params()],
        contexts in prop::collection::vec(context(), 1..4),
    ) {
        let actions: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        if let Ok(cfg) = PolicyConfig::parse(&actions, algorithm, &params) {
            PARSED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut l = Learner::new(cfg);
            for c in &contexts {
                let _ = l.state_of(c);
                let _ = l.probabilities(c, &[true, true, true]);
                if let Ok((_, d)) = l.decide(c, &[true, false, true]) {
                    prop_assert!(d.action != 1, "an excluded action was chosen");
                    let p = d.probabilities[d.action];
                    prop_assert!(p > 0.0 && p <= 1.0, "propensity {}", p);
                }
                let _ = l.reward(c, 1, 0.5, contexts.first());
            }
        }
    }
}

#[test]
fn the_generated_params_reach_deciding() {
    // runs after (or alongside) the property: enough cases must have parsed to mean something
    any_params_and_contexts_are_ok_or_errors();
    assert!(PARSED.load(std::sync::atomic::Ordering::Relaxed) > 50);
}
