//! Full against sampled softmax for the sequence model:
//! `cargo run --release -p mkt-neural --example sequence_softmax -- [RATINGS_FILE]`.
//!
//! Speed: seconds per training epoch of the attention model (dim 64, 50 positions, 400 users of
//! 50 events) on catalogues of `SIZES` items (default 5k to 50k), with the whole catalogue in the softmax and with
//! `DEFAULT_NEGATIVES` negatives drawn per batch.
//! Quality (with a ratings file: user \t item \t rating \t time, a header line, as MovieLens'
//! `ml-100k.inter`): leave-one-out NDCG@10 and HR@10 of the default model with the whole
//! catalogue in the softmax, with `NEGATIVES` (default 256) and with 1024 negatives (`RUNS`: a
//! comma-separated list of negatives instead, 0 for the whole catalogue; `PATIENCE`, `SEED`).

use mkt_core::progress::no_tick;
use mkt_core::rng::Rng;
use mkt_neural::sequence::{fit, SequenceConfig, DEFAULT_NEGATIVES};
use std::collections::HashMap;
use std::time::Instant;

fn epoch_seconds(
    seqs: &[Vec<u32>],
    n_items: usize,
    negatives: usize,
    pool: &rayon::ThreadPool,
) -> f64 {
    let cfg = SequenceConfig {
        epochs: 1,
        negatives: Some(negatives),
        ..SequenceConfig::default()
    };
    let t = Instant::now();
    fit(seqs, n_items, None, &cfg, pool, &mut no_tick(), &mut |_| {}).unwrap();
    t.elapsed().as_secs_f64()
}

fn main() {
    let pool = rayon::ThreadPoolBuilder::new().build().unwrap();
    println!("threads: {}", pool.current_num_threads());
    let mut rng = Rng::new(7);
    let sizes = std::env::var("SIZES").unwrap_or_else(|_| "5000,10000,20000,50000".into());
    for n_items in sizes.split(',').filter_map(|v| v.parse::<usize>().ok()) {
        let seqs: Vec<Vec<u32>> = (0..400)
            .map(|_| (0..50).map(|_| rng.below(n_items as u64) as u32).collect())
            .collect();
        let full = epoch_seconds(&seqs, n_items, 0, &pool);
        let sampled = epoch_seconds(&seqs, n_items, DEFAULT_NEGATIVES, &pool);
        println!(
            "items={n_items:>6} full_softmax_s_per_epoch={full:.2} sampled_{DEFAULT_NEGATIVES}_s_per_epoch={sampled:.2} ratio(full/sampled)={:.2}",
            full / sampled
        );
    }
    let Some(path) = std::env::args().nth(1) else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let (mut users, mut items) = (HashMap::new(), HashMap::new());
    let mut events: Vec<(usize, f64, u32)> = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let n = users.len();
        let u = *users.entry(f[0].to_string()).or_insert(n);
        let n = items.len();
        let i = *items.entry(f[1].to_string()).or_insert(n) as u32;
        events.push((u, f[3].parse().unwrap(), i));
    }
    events.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut seqs: Vec<Vec<u32>> = vec![Vec::new(); users.len()];
    for (u, _, i) in events {
        seqs[u].push(i);
    }
    // Leave-one-out: each user's last item is the test item, ranked over the catalogue minus the
    // user's earlier items after those items (NDCG@10 and HR@10, the protocol RecBole reports).
    let test: Vec<Option<u32>> = seqs
        .iter_mut()
        .map(|s| if s.len() >= 5 { s.pop() } else { None })
        .collect();
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let runs: Vec<usize> = std::env::var("RUNS")
        .unwrap_or_else(|_| format!("0,{},1024", env("NEGATIVES", 256)))
        .split(',')
        .filter_map(|v| v.parse().ok())
        .collect();
    for negatives in runs {
        let cfg = SequenceConfig {
            negatives: Some(negatives),
            patience: env("PATIENCE", SequenceConfig::default().patience),
            seed: env("SEED", SequenceConfig::default().seed as usize) as u64,
            ..SequenceConfig::default()
        };
        let t = Instant::now();
        let f = fit(
            &seqs,
            items.len(),
            None,
            &cfg,
            &pool,
            &mut no_tick(),
            &mut |_| {},
        )
        .unwrap();
        let secs = t.elapsed().as_secs_f64();
        if std::env::var("EPOCH_LOG").is_ok() {
            for e in &f.epochs {
                println!(
                    "  epoch {} loss {:.4} validation ndcg@10 {:.4}",
                    e.epoch,
                    e.loss,
                    e.metric.unwrap_or(0.0)
                );
            }
        }
        let (mut ndcg, mut hits, mut n) = (0.0, 0, 0);
        for (s, t) in seqs.iter().zip(&test) {
            let Some(t) = *t else { continue };
            let mut scores = f.net.next_scores(s).unwrap();
            for &i in s {
                scores[i as usize] = f32::NEG_INFINITY;
            }
            let above = scores.iter().filter(|&&x| x > scores[t as usize]).count();
            if above < 10 {
                ndcg += 1.0 / ((above + 2) as f64).log2();
                hits += 1;
            }
            n += 1;
        }
        println!(
            "leave-one-out, {n} users, {} items: negatives={negatives} ndcg@10={:.4} hr@10={:.4} epochs={} (best {}) seconds={secs:.0}",
            items.len(),
            ndcg / n as f64,
            hits as f64 / n as f64,
            f.epochs.len(),
            f.best_epoch
        );
    }
}
