//! Quick quality check of the two-tower model on a ratings file (user \t item \t ...), with a
//! random per-user 1/5 test split: `cargo run --release -p mkt-neural --example ml_quality -- FILE '{params}'`.

use mkt_core::interactions::Csr;
use mkt_core::params::Params;
use mkt_core::progress::no_tick;
use mkt_core::rng::Rng;
use mkt_metrics::ranking::user_metrics;
use mkt_neural::{fit, NeuralParams};
use std::collections::HashMap;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).unwrap();
    let json: serde_json::Value = serde_json::from_str(args.get(2).map_or("{}", |s| s)).unwrap();
    let p = NeuralParams::parse(
        &Params::new("neural", &json, &NeuralParams::KEYS).unwrap(),
        "cpu",
    )
    .unwrap();
    let (mut um, mut im) = (HashMap::new(), HashMap::new());
    let mut by_user: Vec<Vec<u32>> = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let n = um.len();
        let u = *um.entry(f[0].to_string()).or_insert(n);
        let n = im.len();
        let i = *im.entry(f[1].to_string()).or_insert(n) as u32;
        if by_user.len() <= u {
            by_user.resize(u + 1, Vec::new());
        }
        by_user[u].push(i);
    }
    let mut rng = Rng::new(7);
    let (mut rows, mut cols, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for (u, items) in by_user.iter_mut().enumerate() {
        items.sort_unstable();
        items.dedup();
        mkt_neural::split::shuffle(items, &mut rng);
        let t = if items.len() >= 5 { items.len() / 5 } else { 0 };
        let mut held: Vec<u32> = items[..t].to_vec();
        held.sort_unstable();
        test.push(held);
        for &i in &items[t..] {
            rows.push(u as u32);
            cols.push(i);
        }
    }
    let n = rows.len();
    let train = Csr::from_triples(by_user.len(), im.len(), &rows, &cols, &vec![1.0; n]);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let started = std::time::Instant::now();
    let mut log = |e: &mkt_core::progress::EpochReport| {
        eprintln!("epoch {} loss {:.4} ndcg {:?} {:.2}s", e.epoch, e.loss, e.metric, e.seconds)
    };
    let neumf = args.get(3).map(String::as_str) == Some("neumf");
    let (t, nm) = if neumf {
        let m = mkt_neural::neumf::fit(&train, None, None, &p, &pool, &mut no_tick(), &mut log).unwrap();
        let t = mkt_neural::Trained {
            dim: 1,
            users: vec![],
            items: vec![],
            loss: mkt_neural::Loss::Bce,
            epochs_run: 0,
            best_epoch: 0,
            best_metric: None,
            device: "cpu".into(),
        };
        (t, Some(m))
    } else {
        (fit(&train, None, None, &p, &pool, &mut no_tick(), &mut log).unwrap(), None)
    };
    let d = t.dim;
    let (mut ndcg, mut recall, mut users) = (0.0, 0.0, 0);
    for (u, held) in test.iter().enumerate() {
        if held.is_empty() {
            continue;
        }
        let mut s: Vec<f32> = if let Some(m) = &nm {
            let mut s = vec![0f32; m.n_items()];
            m.score_all(u, &mut s);
            s
        } else {
            let uv = &t.users[u * d..(u + 1) * d];
            t.items.chunks(d).map(|v| v.iter().zip(uv).map(|(a, b)| a * b).sum()).collect()
        };
        for &i in train.row(u).0 {
            s[i as usize] = f32::NEG_INFINITY;
        }
        let ranked: Vec<u32> = mkt_topk::top_k_dense(&s, 10).iter().map(|x| x.index).collect();
        let m = user_metrics(&ranked, held, 10).unwrap();
        ndcg += m.ndcg;
        recall += m.recall;
        users += 1;
    }
    println!(
        "ndcg@10 {:.4} recall@10 {:.4} best epoch {} of {} in {:.1}s",
        ndcg / users as f64,
        recall / users as f64,
        t.best_epoch,
        t.epochs_run,
        started.elapsed().as_secs_f64()
    );
}
