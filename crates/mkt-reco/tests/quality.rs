//! Models must beat popularity where there is structure to find: on planted low-rank data and on the
//! demo shop data with a temporal split.

use mkt_core::ids::IdColumn;
use mkt_core::interactions::{Interactions, RawInteractions};
use mkt_core::progress::no_tick;
use mkt_core::rng::Rng;
use mkt_reco::evaluate::evaluate;
use mkt_reco::{Algorithm, TrainConfig};
use serde_json::json;

fn ndcg(
    train: &RawInteractions,
    test: &RawInteractions,
    alg: &str,
    params: serde_json::Value,
) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let data = Interactions::build(train).unwrap();
    let (cfg, _) = TrainConfig::parse(Algorithm::parse(alg).unwrap(), &params).unwrap();
    let model = cfg.fit(&data, &pool, &mut no_tick()).unwrap();
    let e = evaluate(&model, &test.users, &test.items, 10, &pool).unwrap();
    e.metrics.ndcg
}

fn planted() -> (RawInteractions, RawInteractions) {
    // 600 users and 300 items in 6 hidden groups; users mostly pick items of their group.
    let mut rng = Rng::new(11);
    let (mut tu, mut ti, mut su, mut si) = (vec![], vec![], vec![], vec![]);
    for u in 0..600i64 {
        let g = u % 6;
        for n in 0..20 {
            let item = if rng.uniform() < 0.8 {
                g + 6 * rng.below(50) as i64
            } else {
                // popular noise: low ids are picked more often
                (rng.uniform().powi(3) * 300.0) as i64
            };
            if n < 16 {
                tu.push(u);
                ti.push(item);
            } else {
                su.push(u);
                si.push(item);
            }
        }
    }
    let raw = |u: Vec<i64>, i: Vec<i64>| RawInteractions {
        users: IdColumn::Int(u),
        items: IdColumn::Int(i),
        weights: vec![],
        times: None,
    };
    (raw(tu, ti), raw(su, si))
}

#[test]
fn als_recovers_planted_groups() {
    let (train, test) = planted();
    let pop = ndcg(&train, &test, "popularity", json!({}));
    let als = ndcg(
        &train,
        &test,
        "als",
        json!({"factors": 8, "iterations": 10}),
    );
    let knn = ndcg(&train, &test, "item_knn", json!({}));
    let ease = ndcg(&train, &test, "ease", json!({"regularization": 50}));
    eprintln!("planted ndcg@10: popularity {pop:.4} als {als:.4} item_knn {knn:.4} ease {ease:.4}");
    assert!(als > 1.5 * pop, "als {als} vs popularity {pop}");
    assert!(knn > 1.5 * pop, "item_knn {knn} vs popularity {pop}");
    assert!(ease > 1.5 * pop, "ease {ease} vs popularity {pop}");
}

/// Per user, the last 20% of events by time go to the test side.
fn temporal_split(d: &mkt_demo::DemoData) -> (RawInteractions, RawInteractions) {
    let e = &d.events;
    let mut order: Vec<usize> = (0..e.user_id.len()).collect();
    order.sort_by_key(|&r| (e.user_id[r], e.ts_micros[r]));
    let (mut tu, mut ti, mut su, mut si) = (vec![], vec![], vec![], vec![]);
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end < order.len() && e.user_id[order[end]] == e.user_id[order[start]] {
            end += 1;
        }
        let n = end - start;
        let n_test = ((n as f64 * 0.2).round() as usize).min(n - 1);
        for (k, &r) in order[start..end].iter().enumerate() {
            if k >= n - n_test {
                su.push(e.user_id[r]);
                si.push(e.item_id[r]);
            } else {
                tu.push(e.user_id[r]);
                ti.push(e.item_id[r]);
            }
        }
        start = end;
    }
    let raw = |u: Vec<i64>, i: Vec<i64>| RawInteractions {
        users: IdColumn::Int(u),
        items: IdColumn::Int(i),
        weights: vec![],
        times: None,
    };
    (raw(tu, ti), raw(su, si))
}

#[test]
fn demo_data_rewards_personalisation() {
    let d = mkt_demo::generate(1);
    let (train, test) = temporal_split(&d);
    let pop = ndcg(&train, &test, "popularity", json!({}));
    let als = ndcg(&train, &test, "als", json!({}));
    let knn = ndcg(&train, &test, "item_knn", json!({}));
    let ease = ndcg(&train, &test, "ease", json!({}));
    let bpr = ndcg(&train, &test, "bpr", json!({}));
    eprintln!("demo ndcg@10: popularity {pop:.4} als {als:.4} item_knn {knn:.4} ease {ease:.4} bpr {bpr:.4}");
    assert!(als > pop * 1.5, "als {als} vs popularity {pop}");
    assert!(knn > pop * 1.5, "item_knn {knn} vs popularity {pop}");
    assert!(ease > pop * 1.5, "ease {ease} vs popularity {pop}");
    assert!(bpr > pop * 1.5, "bpr {bpr} vs popularity {pop}");
}
