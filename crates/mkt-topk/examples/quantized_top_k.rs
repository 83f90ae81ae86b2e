//! Time per exact top-10 from the 8-bit copy of 10k item rows of 64 dimensions with norms alike
//! (a sequence model's item table, where the norm bound stops nothing and every block is
//! scanned), 60 items excluded: `cargo run --release -p mkt-topk --example quantized_top_k`.
use mkt_topk::QuantizedRows;
use std::time::Instant;

fn main() {
    let (n, dim) = (10_000, 64);
    let mut seed = 1u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    };
    let rows: Vec<f32> = (0..n * dim).map(|_| next()).collect();
    let queries: Vec<Vec<f32>> = (0..64).map(|_| (0..dim).map(|_| next()).collect()).collect();
    let excluded: Vec<u32> = (0..60).map(|i| (i * 163) % n as u32).collect();
    let index = QuantizedRows::build(&rows, dim).unwrap();
    let mut scratch = Vec::new();
    let calls = 200;
    let best = (0..10)
        .map(|_| {
            let t = Instant::now();
            for c in 0..calls {
                let top = index.top_k(&rows, &queries[c % queries.len()], &excluded, 10, &mut scratch);
                std::hint::black_box(top);
            }
            t.elapsed().as_secs_f64() * 1e6 / calls as f64
        })
        .fold(f64::INFINITY, f64::min);
    println!("quantized top-10 of {n} x {dim}: {best:.1} us per call (best of ten batches)");
}
