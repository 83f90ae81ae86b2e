//! The two-tower model on the synthetic shop: deterministic, learns, and scores new users from
//! their features better than popularity does.

use mkt_core::ids::IdColumn;
use mkt_core::interactions::{Interactions, RawInteractions};
use mkt_core::progress::no_tick;
use mkt_metrics::ranking::user_metrics;
use mkt_neural::{fit, FeatureTable, NeuralParams, Trained};
use mkt_topk::top_k_dense;
use std::collections::BTreeMap;

fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap()
}

fn params(extra: serde_json::Value) -> NeuralParams {
    let p = mkt_core::params::Params::new("neural", &extra, &NeuralParams::KEYS).unwrap();
    NeuralParams::parse(&p, "cpu").unwrap()
}

fn ndcg(t: &Trained, user: usize, relevant: &[u32], exclude: &[u32]) -> f64 {
    let d = t.dim;
    let u = &t.users[user * d..(user + 1) * d];
    let mut s: Vec<f32> = t
        .items
        .chunks(d)
        .map(|v| v.iter().zip(u).map(|(a, b)| a * b).sum())
        .collect();
    for &i in exclude {
        s[i as usize] = f32::NEG_INFINITY;
    }
    let ranked: Vec<u32> = top_k_dense(&s, 10).iter().map(|x| x.index).collect();
    user_metrics(&ranked, relevant, 10).map_or(0.0, |m| m.ndcg)
}

#[test]
fn same_seed_same_model_and_epochs_are_reported() {
    let data = mkt_demo::interactions(1);
    let p = params(serde_json::json!({"epochs": 3, "dim": 16, "hidden": 32}));
    let mut epochs = Vec::new();
    let a = fit(&data.by_user, None, None, &p, &pool(), &mut no_tick(), &mut |e| {
        epochs.push(e.clone())
    })
    .unwrap();
    let b = fit(&data.by_user, None, None, &p, &pool(), &mut no_tick(), &mut |_| {}).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.dim, 17);
    assert_eq!(a.users.len(), data.n_users() * 17);
    assert_eq!(epochs.len(), 3);
    assert!(epochs.iter().all(|e| e.metric.is_some() && e.loss.is_finite()));
    assert!(epochs[2].loss < epochs[0].loss, "{epochs:?}");
}

#[test]
fn new_users_with_features_beat_popularity() {
    let d = mkt_demo::generate(1);
    // A fifth of the users (by id) are new: the model sees their features but no interactions.
    let is_new = |u: i64| u % 5 == 0;
    let mut held: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let (mut us, mut is) = (Vec::new(), Vec::new());
    for (&u, &i) in d.events.user_id.iter().zip(&d.events.item_id) {
        if is_new(u) {
            held.entry(u).or_default().push(i);
        } else {
            us.push(u);
            is.push(i);
        }
    }
    let raw = RawInteractions {
        users: IdColumn::Int(us),
        items: IdColumn::Int(is),
        weights: vec![],
        times: None,
    };
    let keys = IdColumn::Int(d.users.user_id.clone());
    let data = Interactions::build_with(&raw, Some(&keys), None).unwrap();
    let s = |v: &[&str]| v.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
    let table = FeatureTable {
        keys,
        categorical: vec![
            ("segment".into(), s(&d.users.segment)),
            ("region".into(), s(&d.users.region)),
            ("age_band".into(), s(&d.users.age_band)),
        ],
        numeric: vec![],
    };
    let uf = table.encode("user", &data.users, 64).unwrap();
    let p = params(serde_json::json!({"epochs": 15, "cold_dropout": 0.3}));
    let t = fit(&data.by_user, Some(&uf), None, &p, &pool(), &mut no_tick(), &mut |_| {}).unwrap();
    let mut pop = vec![0f32; data.n_items()];
    for &i in &data.by_user.indices {
        pop[i as usize] += 1.0;
    }
    let pop_rank: Vec<u32> = top_k_dense(&pop, 10).iter().map(|x| x.index).collect();
    let (mut ours, mut base, mut n) = (0.0, 0.0, 0);
    for (u, items) in &held {
        let ui = data.users.index_of_int(*u).unwrap() as usize;
        assert!(data.by_user.row(ui).0.is_empty());
        let mut rel: Vec<u32> = items
            .iter()
            .filter_map(|i| data.items.index_of_int(*i))
            .collect();
        rel.sort_unstable();
        rel.dedup();
        if rel.is_empty() {
            continue;
        }
        ours += ndcg(&t, ui, &rel, &[]);
        base += user_metrics(&pop_rank, &rel, 10).unwrap().ndcg;
        n += 1;
    }
    let (ours, base) = (ours / n as f64, base / n as f64);
    assert!(n > 100);
    assert!(ours > base * 1.05, "new users: neural {ours:.4} vs popularity {base:.4}");
}

#[test]
fn every_loss_trains() {
    let data = mkt_demo::interactions(1);
    for loss in ["softmax", "sampled_softmax", "bpr", "bce"] {
        let p = params(serde_json::json!({"epochs": 2, "dim": 8, "hidden": 16, "loss": loss}));
        let mut losses = Vec::new();
        let t = fit(&data.by_user, None, None, &p, &pool(), &mut no_tick(), &mut |e| {
            losses.push(e.loss)
        })
        .unwrap();
        assert_eq!(t.loss.name(), loss);
        assert!(losses.iter().all(|l| l.is_finite()), "{loss}: {losses:?}");
        assert!(t.users.iter().chain(&t.items).all(|x| x.is_finite()), "{loss}");
    }
}

#[test]
fn neumf_is_deterministic_and_serves() {
    let data = mkt_demo::interactions(1);
    let p = params(serde_json::json!({"epochs": 4, "dim": 16, "hidden": 32, "validation": 0.2}));
    let mut metrics = Vec::new();
    let a = mkt_neural::neumf::fit(&data.by_user, None, None, &p, &pool(), &mut no_tick(), &mut |e| {
        metrics.push(e.metric.unwrap())
    })
    .unwrap();
    let b = mkt_neural::neumf::fit(&data.by_user, None, None, &p, &pool(), &mut no_tick(), &mut |_| {}).unwrap();
    assert_eq!(a, b);
    assert!(a.validate(data.n_users(), data.n_items()).is_ok());
    // the validation ndcg of the kept epoch against popularity on the same held-out items
    let best = metrics.iter().cloned().fold(f64::MIN, f64::max);
    assert!(best > metrics[0] * 0.99 && best > 0.0, "{metrics:?}");
    let mut s = vec![0f32; data.n_items()];
    a.score_all(0, &mut s);
    assert!(s.iter().all(|x| x.is_finite()));
}

/// A teacher that puts one item first for every user and knows only even users.
struct Favourite {
    item: u32,
}

impl mkt_neural::Teacher for Favourite {
    fn scores(&self, user: u32, out: &mut [f32]) -> bool {
        if user % 2 == 1 {
            return false;
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = if i as u32 == self.item { 10.0 } else { 0.0 };
        }
        true
    }
}

fn rank_of(t: &Trained, user: usize, item: u32, seen: &[u32]) -> usize {
    let d = t.dim;
    let u = &t.users[user * d..(user + 1) * d];
    let score = |i: usize| -> f32 { t.items[i * d..(i + 1) * d].iter().zip(u).map(|(a, b)| a * b).sum() };
    let mine = score(item as usize);
    (0..t.items.len() / d)
        .filter(|&i| !seen.contains(&(i as u32)) && i as u32 != item && score(i) > mine)
        .count()
}

#[test]
fn a_teacher_passes_on_what_the_data_does_not_show() {
    let data = mkt_demo::interactions(1);
    // the item fewest users took: nothing in the data puts it near the top
    let mut counts = vec![0usize; data.n_items()];
    for &i in data.by_user.indices.iter() {
        counts[i as usize] += 1;
    }
    let rare = (0..data.n_items()).min_by_key(|&i| (counts[i], i)).unwrap() as u32;
    let p = params(serde_json::json!({"epochs": 4, "dim": 16, "hidden": 32, "teacher": "favourite", "teacher_weight": 0.9}));
    let teacher = Favourite { item: rare };
    let t = mkt_neural::fit_distilled(&data.by_user, None, None, Some(&teacher), &p, &pool(), &mut no_tick(), &mut |_| {}).unwrap();
    let plain = fit(&data.by_user, None, None, &params(serde_json::json!({"epochs": 4, "dim": 16, "hidden": 32})), &pool(), &mut no_tick(), &mut |_| {}).unwrap();
    let users: Vec<usize> = (0..data.n_users()).step_by(2).filter(|&u| !data.by_user.contains(u, rare)).take(50).collect();
    let mean_rank = |m: &Trained| -> f64 {
        users.iter().map(|&u| rank_of(m, u, rare, data.by_user.row(u).0) as f64).sum::<f64>() / users.len() as f64
    };
    let (taught, untaught) = (mean_rank(&t), mean_rank(&plain));
    assert!(taught < 10.0 && untaught > 50.0, "mean rank of the teacher's favourite: {taught} with the teacher, {untaught} without");
    // the same seed gives the same student
    let again = mkt_neural::fit_distilled(&data.by_user, None, None, Some(&teacher), &p, &pool(), &mut no_tick(), &mut |_| {}).unwrap();
    assert_eq!(t, again);
    // a teacher needs the full softmax, and a named teacher must be given
    let sampled = params(serde_json::json!({"epochs": 1, "teacher": "favourite", "loss": "sampled_softmax"}));
    let e = mkt_neural::fit_distilled(&data.by_user, None, None, Some(&teacher), &sampled, &pool(), &mut no_tick(), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("full softmax"), "{e}");
    let e = fit(&data.by_user, None, None, &p, &pool(), &mut no_tick(), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("was not loaded"), "{e}");
}
