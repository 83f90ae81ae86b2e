//! Property tests of the inputs that come from outside the process: training params (jsonb) and
//! model blobs (bytea, also from mkt.import_model). Anything gives Ok or an error, never a panic;
//! a blob that still decodes after corruption serves without panicking.

use mkt_core::progress::no_tick;
use mkt_reco::blob::{decode, encode};
use mkt_reco::{Algorithm, Query, TrainConfig};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::OnceLock;

const KEYS: [&str; 14] = [
    "factors", "iterations", "regularization", "alpha", "neighbors", "dim", "hidden", "epochs",
    "loss", "user_features", "source", "key", "columns", "max_memory_mb",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        (0i64..300).prop_map(Value::from),
        "[a-z_]{0,8}".prop_map(Value::from),
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

fn data() -> &'static mkt_core::interactions::Interactions {
    static D: OnceLock<mkt_core::interactions::Interactions> = OnceLock::new();
    D.get_or_init(|| mkt_demo::interactions(1))
}

/// Encoded models of a few kinds, trained once.
fn blobs() -> &'static Vec<Vec<u8>> {
    static B: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    B.get_or_init(|| {
        let data = data();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        [
            (Algorithm::Als, json!({"factors": 4, "iterations": 1})),
            (Algorithm::ItemKnn, json!({"neighbors": 5})),
            (Algorithm::Popularity, json!({})),
        ]
        .into_iter()
        .map(|(a, p)| {
            let (cfg, _) = TrainConfig::parse(a, &p).unwrap();
            encode(&cfg.fit(data, &pool, &mut no_tick()).unwrap()).unwrap()
        })
        .collect()
    })
}

#[derive(Debug, Clone)]
enum Damage {
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Damage::Set(i, b)),
        1 => any::<usize>().prop_map(Damage::Truncate),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Damage::Insert(i, v)),
    ]
}

static PARSED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_params_are_ok_or_errors(
        algorithm in prop::sample::select(vec!["popularity", "als", "item_knn", "ease", "bpr", "neural", "neumf"]),
        params in value(),
    ) {
        if let Ok((cfg, _)) = TrainConfig::parse(Algorithm::parse(algorithm).unwrap(), &params) {
            PARSED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = cfg.memory_bytes(data());
        }
    }

    #[test]
    fn damaged_blobs_are_errors_or_serve(
        which in 0usize..3,
        damages in prop::collection::vec(damage(), 1..6),
        header in any::<bool>(),
    ) {
        let mut b = blobs()[which].clone();
        for d in damages {
            // most of a blob is tensor data; aim half the damage at the header and its JSON
            let len = b.len().max(1);
            let at = |i: usize| if header { i % len.min(600) } else { i % len };
            match d {
                Damage::Set(i, v) => { let i = at(i); if i < b.len() { b[i] = v } }
                Damage::Truncate(i) => b.truncate(at(i)),
                Damage::Insert(i, v) => { let i = at(i).min(b.len()); b.splice(i..i, v); }
            }
        }
        if let Ok(m) = decode(&b) {
            let q = Query { k: 5, exclude_seen: true, candidates: None };
            let mut s = Vec::new();
            for u in (0..m.n_users() as u32).take(20) {
                let _ = m.recommend(Some(u), &q, &mut s);
            }
            let _ = m.recommend(None, &q, &mut s);
            for i in (0..m.n_items() as u32).take(5) {
                let _ = m.similar_items(i, 3);
            }
        }
    }
}

#[test]
fn the_generated_params_often_parse() {
    any_params_are_ok_or_errors();
    assert!(PARSED.load(std::sync::atomic::Ordering::Relaxed) > 30);
}
