//! Training throughput of the two-tower model and of the sequence model ('sequential', attention
//! and GRU) on synthetic data, on the CPU and (in a build with the `cuda` feature, on a machine
//! with a GPU) on CUDA:
//! `cargo run --release -p mkt-neural --example speed [--features cuda] -- INTERACTIONS STEPS [DEVICES]`.
//! Prints positives per second of the two-tower model and sequences (users of 50 events) per
//! second of the sequence model for each device it can open (DEVICES: comma-separated, default
//! cpu,cuda).

use mkt_core::interactions::Csr;
use mkt_core::params::Params;
use mkt_core::progress::Progress;
use mkt_core::rng::Rng;
use mkt_neural::sequence::{fit_on, Architecture, SequenceConfig};
use mkt_neural::{fit, DeviceChoice, NeuralParams};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(10_000_000, |s| s.parse().unwrap());
    let steps: usize = args.get(2).map_or(50, |s| s.parse().unwrap());
    let (users, items) = (n / 50, (n / 500).max(100));
    // power-law item popularity, 50 interactions per user on average
    let mut rng = Rng::new(1);
    let (mut rows, mut cols) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for k in 0..n {
        rows.push((k % users) as u32);
        let x = rng.uniform();
        cols.push(((items as f64) * x.powi(3)) as u32 % items as u32);
    }
    let data = Csr::from_triples(users, items, &rows, &cols, &vec![1.0; n]);
    println!("data: {} interactions, {users} users, {items} items", data.nnz());
    let per_user = data.nnz() as f64 / users as f64;
    let pool = rayon::ThreadPoolBuilder::new().build().unwrap();
    let devices = args.get(3).map_or("cpu,cuda", String::as_str);
    for device in devices.split(',') {
        if DeviceChoice::parse(device).unwrap().open().is_err() {
            println!("{device}: not available in this build or on this machine");
            continue;
        }
        let json = serde_json::json!({"device": device, "validation": 0, "epochs": 1000,
                                      "loss": "sampled_softmax", "batch_size": 1024});
        let mut p = NeuralParams::parse(&Params::new("speed", &json, &NeuralParams::KEYS).unwrap(), device).unwrap();
        p.max_steps = Some(steps);
        let mut first: Option<Instant> = None;
        let mut last = Instant::now();
        let mut done = 0;
        let mut tick = |pr: &Progress| {
            // the first batch warms up (allocations, kernel loading); time the rest
            if first.is_none() {
                first = Some(Instant::now());
            }
            last = Instant::now();
            done = pr.done;
        };
        fit(&data, None, None, &p, &pool, &mut tick, &mut |_| {}).unwrap();
        let secs = (last - first.unwrap()).as_secs_f64();
        let positives = (done - 1) as f64 * p.batch_size as f64 * per_user;
        println!(
            "{device}: {} batches of {} users, {:.0} positives/s ({:.2} s)",
            done - 1,
            p.batch_size,
            positives / secs,
            secs
        );
    }
    // The sequence model: `steps` batches of 128 users, each user 50 events drawn from the same
    // popularity over the same catalogue (sampled softmax above 10,000 items, as in SQL), one
    // epoch; the first batch is not timed.
    let cfg_default = SequenceConfig::default();
    let seq_users = (steps + 1) * cfg_default.batch;
    let seqs: Vec<Vec<u32>> = (0..seq_users)
        .map(|_| {
            (0..cfg_default.max_length)
                .map(|_| ((items as f64) * rng.uniform().powi(3)) as u32 % items as u32)
                .collect()
        })
        .collect();
    for arch in [Architecture::Attention, Architecture::Gru] {
        for device in devices.split(',') {
            let Ok(dev) = DeviceChoice::parse(device).unwrap().open() else {
                continue;
            };
            let cfg = SequenceConfig {
                epochs: 1,
                ..SequenceConfig::of(arch)
            };
            let mut first: Option<Instant> = None;
            let mut last = Instant::now();
            let (mut done, mut batches) = (0, 0);
            let mut tick = |pr: &Progress| {
                if first.is_none() {
                    first = Some(Instant::now());
                } else {
                    batches += 1;
                    done = pr.done;
                }
                last = Instant::now();
            };
            fit_on(&seqs, items, None, &cfg, &dev, &pool, &mut tick, &mut |_| {}).unwrap();
            let secs = (last - first.unwrap()).as_secs_f64();
            let users = (done - cfg.batch) as f64;
            println!(
                "sequential {} on {device}: {batches} batches of {} users ({} positions, {} items, {} negatives), {:.0} sequences/s ({:.2} s)",
                arch.name(),
                cfg.batch,
                cfg.max_length,
                items,
                cfg.negatives_for(items),
                users / secs,
                secs
            );
        }
    }
}
