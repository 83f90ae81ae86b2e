//! The 'sequential' recommender end to end: training in time order, serving, anonymous sessions,
//! storing, erasure and explanations.

use mkt_core::ids::IdColumn;
use mkt_core::interactions::{Interactions, RawInteractions};
use mkt_core::progress::no_tick;
use mkt_core::rng::Rng;
use mkt_reco::{Algorithm, Payload, Query, TrainConfig};
use serde_json::json;

/// Users walking a 30-item catalogue: each next item is the one two events back plus one,
/// nine times in ten. Times go backwards in the source rows so that only the time column
/// gives the order.
fn walks() -> Interactions {
    let (n, mut rng) = (30i64, Rng::new(5));
    let (mut users, mut items, mut times) = (Vec::new(), Vec::new(), Vec::new());
    for u in 0..300i64 {
        let mut s = vec![rng.below(30) as i64, rng.below(30) as i64];
        while s.len() < 12 {
            let back = s[s.len() - 2];
            let next = if rng.uniform() < 0.9 {
                (back + 1) % n
            } else {
                rng.below(30) as i64
            };
            if !s.contains(&next) {
                s.push(next);
            } else if s.len() > 9 {
                break;
            } else {
                s.push((0..n).find(|i| !s.contains(i)).unwrap());
            }
        }
        for (t, &i) in s.iter().enumerate().rev() {
            users.push(u);
            items.push(100 + i);
            times.push(t as f64);
        }
    }
    Interactions::build(&RawInteractions {
        users: IdColumn::Int(users),
        items: IdColumn::Int(items),
        weights: vec![],
        times: Some(times),
    })
    .unwrap()
}

/// A sequential model of `params` fitted on `data` with one thread.
fn fit_walks(data: &Interactions, params: serde_json::Value) -> mkt_reco::Model {
    let (cfg, _) = TrainConfig::parse(Algorithm::Sequential, &params).unwrap();
    assert_eq!(cfg.time_col(), Some("t"));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    cfg.fit(data, &pool, &mut no_tick()).unwrap()
}

/// The top item of at least 60% of users is the one after the item two events back.
fn assert_learned_the_walks(m: &mkt_reco::Model) {
    let Payload::Sequential(seq) = &m.payload else {
        panic!("a sequential payload")
    };
    let q = Query {
        k: 1,
        exclude_seen: false,
        candidates: None,
    };
    let (mut s, mut right) = (Vec::new(), 0);
    for u in 0..m.n_users() {
        let h = seq.history.row(u);
        let want = (m.items.int_id(h[h.len() - 2]).unwrap() - 100 + 1) % 30 + 100;
        let got = m.recommend(Some(u as u32), &q, &mut s)[0].index;
        right += usize::from(m.items.int_id(got).unwrap() == want);
    }
    assert!(
        right * 10 >= m.n_users() * 6,
        "next item right for {right} of {} users",
        m.n_users()
    );
}

#[test]
fn trains_serves_stores_and_forgets_in_order() {
    let data = walks();
    let m = fit_walks(
        &data,
        json!({"time_col": "t", "max_length": 10, "blocks": 2, "dim": 32, "dropout": 0.0,
                        "learning_rate": 0.005, "epochs": 60, "patience": 4, "batch_size": 32, "seed": 9}),
    );
    let Payload::Sequential(seq) = &m.payload else {
        panic!("a sequential payload")
    };
    // the history is in time order, not in source or id order
    let u0 = data.users.index_of_int(0).unwrap() as usize;
    let h = seq.history.row(u0);
    assert!(h.len() >= 9);
    assert_learned_the_walks(&m);
    let mut s = Vec::new();
    // ranked through the 8-bit index over the item embeddings: the ranking scoring every item
    // gives, served from a serving file as from the model's own index
    let q10 = Query {
        k: 10,
        exclude_seen: true,
        candidates: None,
    };
    let from_file = mkt_reco::blob::decode(&mkt_reco::blob::encode(&m).unwrap()).unwrap();
    let Payload::Sequential(fs) = &from_file.payload else {
        panic!("a sequential payload")
    };
    let held = || fs.heap_bytes() + fs.mapped_bytes();
    let before = held();
    from_file
        .attach_serving(std::sync::Arc::new(m.encode_serving().unwrap()))
        .unwrap();
    // the first block's projected item rows (3 x 32 values an item) come with the file (a copy
    // here: too small to be viewed)
    assert_eq!(held() - before, m.items.len() * 3 * 32 * 4);
    for u in 0..m.n_users() {
        let mut dense = seq.next_scores(seq.history.row(u)).unwrap();
        for &i in m.seen.row(u).0 {
            dense[i as usize] = f32::NEG_INFINITY;
        }
        let want: Vec<u32> = mkt_topk::top_k_dense(&dense, 10)
            .iter()
            .map(|x| x.index)
            .collect();
        let got = m.recommend(Some(u as u32), &q10, &mut s);
        assert_eq!(
            got.iter().map(|x| x.index).collect::<Vec<_>>(),
            want,
            "user {u}"
        );
        // the same ranking; the scores up to rounding, the projected first block sums in
        // another order
        let fast = from_file.recommend(Some(u as u32), &q10, &mut s);
        assert_eq!(
            fast.iter().map(|x| x.index).collect::<Vec<_>>(),
            got.iter().map(|x| x.index).collect::<Vec<_>>(),
            "user {u}"
        );
        for (a, b) in fast.iter().zip(&got) {
            assert!((a.score - b.score).abs() <= 1e-5 * (1.0 + b.score.abs()));
        }
    }
    // an anonymous session: the item after the one two back, whatever the user
    let (a, b) = (
        m.items.index_of_int(107).unwrap(),
        m.items.index_of_int(121).unwrap(),
    );
    let next = m.recommend_next(&[a, b], 3, &[]).unwrap();
    assert_eq!(m.items.int_id(next[0].index).unwrap(), 108, "{next:?}");
    let skip = m.recommend_next(&[a, b], 3, &[next[0].index]).unwrap();
    assert!(skip.iter().all(|s| s.index != next[0].index));
    assert_eq!(
        m.recommend_next(&[], 2, &[]).unwrap(),
        mkt_topk::top_k_dense(&m.popularity, 2)
    );
    // a user's events read at call time outweigh the history kept in training
    let q1 = Query {
        k: 2,
        exclude_seen: true,
        candidates: None,
    };
    let after = m.recommend_after(Some(0), &[a, b], &q1, &mut s).unwrap();
    assert_eq!(m.items.int_id(after[0].index).unwrap(), 108, "{after:?}");
    let seen_u0 = m.seen.row(0).0;
    assert!(after
        .iter()
        .all(|x| x.index != a && x.index != b && !seen_u0.contains(&x.index)));
    assert_eq!(
        m.recommend_after(Some(0), &[], &q1, &mut s).unwrap(),
        m.recommend(Some(0), &q1, &mut s)
    );
    // stored and read back: the same model, the same answers (and where it reads histories)
    let mut with_live = m.clone();
    if let Payload::Sequential(p) = &mut with_live.payload {
        p.live = Some(mkt_reco::sequential::LiveHistory {
            source: "\"public\".\"events\"".into(),
            user_col: "user id".into(),
            user_type: "integer".into(),
            item_col: "item_id".into(),
            time_col: "ts".into(),
        });
    }
    let live = with_live.live_history().unwrap();
    assert_eq!(
        live.query(10, true, true),
        "SELECT \"item_id\"::bigint FROM \"public\".\"events\" WHERE \"user id\" = $1 AND \"item_id\" IS NOT NULL ORDER BY \"ts\" DESC LIMIT 10"
    );
    assert!(live.query(5, false, false).contains("= $1::integer"));
    let back = mkt_reco::blob::decode(&mkt_reco::blob::encode(&m).unwrap()).unwrap();
    assert!(back == m, "a stored sequential model reads back equal");
    let back_live = mkt_reco::blob::decode(&mkt_reco::blob::encode(&with_live).unwrap()).unwrap();
    assert!(back_live == with_live && back_live.live_history() == Some(live));
    let q = Query {
        k: 10,
        exclude_seen: true,
        candidates: None,
    };
    for u in (0..m.n_users() as u32).step_by(17) {
        assert_eq!(
            back.recommend(Some(u), &q, &mut s),
            m.recommend(Some(u), &q, &mut s)
        );
    }
    // erasing a user removes their sequence; the others are served as before
    let gone = mkt_reco::forget::without_user(&m, 0);
    let Payload::Sequential(g) = &gone.payload else {
        panic!()
    };
    assert_eq!(g.history.n_rows(), m.n_users() - 1);
    assert_eq!(g.history.row(0), seq.history.row(1));
    assert_eq!(
        gone.recommend(Some(0), &q, &mut s),
        m.recommend(Some(1), &q, &mut s)
    );
    // explanations name the user's recent events; the two latest weigh most for the item that
    // follows the one two back (leaving out the latest also moves that one)
    let h = seq.history.row(3);
    let target = m
        .items
        .index_of_int((m.items.int_id(h[h.len() - 2]).unwrap() - 100 + 1) % 30 + 100)
        .unwrap();
    let weights = mkt_reco::explain::AlsWeights {
        regularization: 1.0,
        alpha: 1.0,
    };
    let e = mkt_reco::explain::explain(&m, 3, target, weights).unwrap();
    assert!(!e.exact && e.contributions.len() == h.len());
    let mut top: Vec<u32> = e.contributions[..2].iter().map(|c| c.0).collect();
    top.sort_unstable();
    let mut latest = h[h.len() - 2..].to_vec();
    latest.sort_unstable();
    assert_eq!(top, latest, "{:?}", e.contributions);
}

#[test]
fn a_gru_reads_order_too_and_stores_its_architecture() {
    let m = fit_walks(
        &walks(),
        json!({"time_col": "t", "architecture": "gru", "max_length": 10, "dim": 32,
                        "dropout": 0.0, "learning_rate": 0.005, "epochs": 40, "patience": 4,
                        "batch_size": 32, "seed": 9}),
    );
    let Payload::Sequential(seq) = &m.payload else {
        panic!("a sequential payload")
    };
    assert_eq!(
        seq.config().architecture,
        mkt_neural::sequence::Architecture::Gru
    );
    assert_eq!(seq.config().blocks, 1, "one recurrent layer by default");
    assert_learned_the_walks(&m);
    let back = mkt_reco::blob::decode(&mkt_reco::blob::encode(&m).unwrap()).unwrap();
    assert!(back == m, "a stored GRU model reads back equal");
    let Payload::Sequential(b) = &back.payload else {
        panic!()
    };
    assert_eq!(b.config().architecture, seq.config().architecture);
}

#[test]
fn params_are_checked() {
    let err = |p: serde_json::Value| {
        TrainConfig::parse(Algorithm::Sequential, &p)
            .unwrap_err()
            .to_string()
    };
    assert!(err(json!({})).contains("time_col"));
    assert!(err(json!({"time_col": "t", "dim": 10, "heads": 3})).contains("multiple of heads"));
    assert!(err(json!({"time_col": "t", "max_length": 1})).contains("max_length"));
    assert!(err(json!({"time_col": "t", "architecture": "lstm"})).contains("attention, gru"));
    // heads do not matter to a GRU
    assert!(TrainConfig::parse(
        Algorithm::Sequential,
        &json!({"time_col": "t", "architecture": "gru", "dim": 10, "heads": 3})
    )
    .is_ok());
    assert!(err(json!({"time_col": "t", "layers": 2})).contains("layers"));
    // no time column in the data
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let (cfg, _) = TrainConfig::parse(Algorithm::Sequential, &json!({"time_col": "t"})).unwrap();
    let e = cfg.fit(&mkt_demo::interactions(1), &pool, &mut no_tick());
    assert!(e.unwrap_err().to_string().contains("time_col"));
    let pop = TrainConfig::Popularity
        .fit(&mkt_demo::interactions(1), &pool, &mut no_tick())
        .unwrap();
    assert!(pop
        .recommend_next(&[1], 3, &[])
        .unwrap_err()
        .to_string()
        .contains("sequential"));
}

#[test]
fn a_deployed_model_serves_from_its_mapping() {
    // Enough items that the embedding table is worth mapping (64 KiB and more).
    let mut rng = Rng::new(3);
    let (mut users, mut items, mut times) = (Vec::new(), Vec::new(), Vec::new());
    for u in 0..200i64 {
        for t in 0..8 {
            users.push(u);
            items.push(rng.below(400) as i64);
            times.push(t as f64);
        }
    }
    let data = Interactions::build(&RawInteractions {
        users: IdColumn::Int(users),
        items: IdColumn::Int(items),
        weights: vec![],
        times: Some(times),
    })
    .unwrap();
    let m = fit_walks(
        &data,
        json!({"time_col": "t", "max_length": 10, "blocks": 1, "dim": 64, "dropout": 0.0,
                        "epochs": 1, "batch_size": 64, "seed": 9}),
    );
    let n_items = m.items.len();
    assert!(n_items * 64 * 4 > 64 * 1024);
    let mapped =
        mkt_reco::blob::decode_mapped(std::sync::Arc::new(mkt_reco::blob::encode(&m).unwrap()))
            .unwrap();
    let Payload::Sequential(seq) = &mapped.payload else {
        panic!("a sequential payload")
    };
    assert!(
        seq.item_vectors.is_mapped(),
        "the item embeddings are read where they lie"
    );
    assert_eq!(seq.item_vectors.heap_bytes(), 0);
    assert_eq!(seq.item_vectors.len(), n_items * 64);
    assert!(
        m.heap_bytes() - mapped.heap_bytes() >= n_items * 64 * 4,
        "no private copy of the item table: {} against {}",
        mapped.heap_bytes(),
        m.heap_bytes()
    );
    let q = Query {
        k: 5,
        exclude_seen: true,
        candidates: None,
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for u in 0..m.n_users() as u32 {
        let (x, y) = (
            m.recommend(Some(u), &q, &mut a),
            mapped.recommend(Some(u), &q, &mut b),
        );
        assert_eq!(
            x.iter().map(|s| s.index).collect::<Vec<_>>(),
            y.iter().map(|s| s.index).collect::<Vec<_>>()
        );
        for (s, t) in x.iter().zip(&y) {
            assert!((s.score - t.score).abs() <= 1e-5 * (1.0 + s.score.abs()));
        }
    }
}
