//! Time per next-item scoring call of a sequence model (10k items, dim 64, 50 positions), as a
//! backend serves it: outside any rayon pool, one call at a time.
use mkt_neural::sequence::{serving_layout, Architecture, SequenceConfig, SequenceNet};
use std::time::Instant;

fn main() {
    let n_items = 10_000;
    for architecture in [Architecture::Attention, Architecture::Gru] {
        let cfg = SequenceConfig::of(architecture);
        let net = SequenceNet::new(n_items, &cfg, &candle_core::Device::Cpu).unwrap();
        let len: u32 = std::env::var("LEN")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50);
        let recent: Vec<u32> = (0..len).map(|i| (i * 197) % n_items as u32).collect();
        // The best of ten batches: other work on the machine only ever adds time.
        let calls = 100;
        let time = |f: &dyn Fn() -> f32| {
            let mut sink = 0f32;
            let best = (0..10)
                .map(|_| {
                    let t = Instant::now();
                    sink += (0..calls).map(|_| f()).sum::<f32>();
                    t.elapsed().as_secs_f64() * 1e6 / calls as f64
                })
                .fold(f64::INFINITY, f64::min);
            (best, sink)
        };
        let (fast, a) = time(&|| net.next_scores(&recent).unwrap()[7]);
        let (forward, _) = time(&|| net.next_query(&recent).unwrap()[0]);
        let (candle, b) = time(&|| net.next_scores_candle(&recent).unwrap()[7]);
        // As a deployed model serves: the first block's item rows come with its serving file.
        let weights = net.weights().unwrap();
        let weight = |n: &str| weights.iter().find(|w| w.0 == n).map(|w| w.2.clone());
        let items = weight("items").unwrap()[cfg.dim..].to_vec();
        let served = serving_layout(&cfg, items.into(), &weight).unwrap();
        let rows = match served.first_block_items() {
            Some(rows) => {
                served.attach_first_block(rows.into());
                let (t, _) = time(&|| served.query(&recent)[0]);
                format!(", {t:.0} us with the first block's item rows")
            }
            None => String::new(),
        };
        println!(
            "{architecture:?}: serving path {fast:.0} us per call (forward pass alone {forward:.0} us{rows}), \
             candle {candle:.0} us ({:.1}x; checksums {a:.2} {b:.2})",
            candle / fast
        );
    }
}
