//! BPR matrix factorization (Rendle et al. 2009): stochastic gradient ascent on
//! ln σ(u·i − u·j) over triples of a user, an item they interacted with and an item drawn
//! uniformly from those they did not.
//!
//! Every thread samples and updates the shared factors without locks (Hogwild, Niu et al. 2011):
//! with thousands of rows, two threads rarely touch the same row at once, and when they do one
//! update overwrites part of the other, which SGD tolerates. The factors are shared as relaxed
//! atomics, which cost nothing on x86 but keep the races defined behaviour; the arithmetic runs on
//! local copies of the three rows, which the compiler vectorises. With one thread a seed always
//! gives the same model; with more, the interleaving (and so the last bits) varies.
//!
//! Interactions are drawn uniformly, and so are negatives (drawn again, up to 16 times, while
//! the user has the item), as in the reference formulation.

use mkt_core::interactions::Csr;
use mkt_core::progress::{Progress, Tick};
use mkt_core::rng::Rng;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

#[derive(Debug, Clone, PartialEq)]
pub struct BprParams {
    pub factors: usize,
    pub learning_rate: f32,
    pub regularization: f32,
    /// Passes; each draws as many triples as there are interactions.
    pub iterations: usize,
    pub seed: u64,
}

/// Triples sampled between two progress ticks (spread over the threads).
const SAMPLES_PER_TICK: usize = 1 << 20;
/// Draws of a negative item before giving up on a user who has nearly every item.
const NEGATIVE_TRIES: usize = 16;

/// The factors as atomics, for lock-free sharing between threads.
fn shared(v: &mut [f32]) -> &[AtomicU32] {
    // SAFETY: AtomicU32 has the size and alignment of f32; the exclusive borrow guarantees that
    // for its lifetime every access goes through the atomic view.
    unsafe { &*(v as *mut [f32] as *const [AtomicU32]) }
}

fn load(src: &[AtomicU32], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f32::from_bits(s.load(Relaxed));
    }
}

fn store(src: &[f32], dst: &[AtomicU32]) {
    for (s, d) in src.iter().zip(dst) {
        d.store(s.to_bits(), Relaxed);
    }
}

/// Triples are drawn in batches that move through four stages (draw, read and prefetch rows, find
/// the user's items, update), one stage per batch step, so every load was prefetched a batch
/// earlier. Random user and item rows miss the caches; with ~30 triples in flight their misses
/// overlap instead of queueing, which measured 1.9x the throughput of one triple at a time.
const PIPELINE: usize = 8;
const STAGES: usize = 4;

#[derive(Clone, Copy, Default)]
struct Batch {
    len: usize,
    ks: [usize; PIPELINE],
    triples: [(usize, usize, u32); PIPELINE],
}

fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A row of `f` factors spans several cache lines; ask for all of them.
fn prefetch_row(rows: &[AtomicU32], r: usize, f: usize) {
    let base = rows[r * f..].as_ptr();
    let mut off = 0;
    while off < f {
        prefetch(base.wrapping_add(off));
        off += 16;
    }
}

pub fn fit(
    by_user: &Csr,
    p: &BprParams,
    pool: &rayon::ThreadPool,
    tick: &mut dyn Tick,
) -> (Vec<f32>, Vec<f32>) {
    let f = p.factors;
    let (n_users, n_items) = (by_user.n_rows, by_user.n_cols);
    let mut users = init(n_users, f, p.seed, 0);
    let mut items = init(n_items, f, p.seed, 1);
    let nnz = by_user.indices.len();
    if nnz == 0 || n_items < 2 {
        return (users, items);
    }
    // (user, item) of each stored interaction: a uniform draw over interactions is one load.
    let mut pairs = Vec::with_capacity(nnz);
    for u in 0..n_users {
        for &i in by_user.row(u).0 {
            pairs.push((u as u32, i));
        }
    }
    let threads = pool.current_num_threads().max(1);
    let total = p.iterations * nnz;
    let mut done = 0usize;
    let mut round = 0u64;
    {
        let us = shared(&mut users);
        let is = shared(&mut items);
        while done < total {
            let batch = SAMPLES_PER_TICK.min(total - done);
            let per_thread = batch.div_ceil(threads);
            pool.install(|| {
                (0..threads).into_par_iter().for_each(|t| {
                    let mut rng = Rng::stream(p.seed, (round << 16) ^ t as u64);
                    let n = per_thread.min(batch.saturating_sub(t * per_thread));
                    let mut buf = vec![0f32; 3 * f];
                    // Four batches in flight, one per stage, so each stage's loads were
                    // prefetched a whole batch earlier.
                    let mut ring = [Batch::default(); STAGES];
                    let batches = n.div_ceil(PIPELINE);
                    for t in 0..batches + STAGES - 1 {
                        if t < batches {
                            let b = &mut ring[t % STAGES];
                            b.len = PIPELINE.min(n - t * PIPELINE);
                            // Stage 1: which interactions.
                            for k in b.ks.iter_mut().take(b.len) {
                                *k = rng.below(nnz as u64) as usize;
                                prefetch(&pairs[*k]);
                            }
                        }
                        if t >= 1 && t - 1 < batches {
                            // Stage 2: their user and item, a candidate negative, and the rows.
                            let b = &mut ring[(t - 1) % STAGES];
                            for s in 0..b.len {
                                let (u, i) = pairs[b.ks[s]];
                                let j = rng.below(n_items as u64) as u32;
                                prefetch(&by_user.indptr[u as usize]);
                                prefetch_row(us, u as usize, f);
                                prefetch_row(is, i as usize, f);
                                prefetch_row(is, j as usize, f);
                                b.triples[s] = (u as usize, i as usize, j);
                            }
                        }
                        if t >= 2 && t - 2 < batches {
                            // Stage 3: where each user's items are, for checking the negative.
                            let b = &ring[(t - 2) % STAGES];
                            for &(u, _, _) in b.triples.iter().take(b.len) {
                                let start = by_user.indptr[u] as usize;
                                prefetch(by_user.indices.as_ptr().wrapping_add(start));
                            }
                        }
                        if t >= 3 && t - 3 < batches {
                            // Stage 4: check the negative (drawing again if the user has it), step.
                            let b = ring[(t - 3) % STAGES];
                            for &(u, i, j0) in b.triples.iter().take(b.len) {
                                let seen = by_user.row(u).0;
                                let j = std::iter::once(j0)
                                    .chain(
                                        (1..NEGATIVE_TRIES)
                                            .map(|_| rng.below(n_items as u64) as u32),
                                    )
                                    .find(|j| seen.binary_search(j).is_err());
                                if let Some(j) = j {
                                    step(us, is, f, u, i, j as usize, p, &mut buf);
                                }
                            }
                        }
                    }
                });
            });
            done += batch;
            round += 1;
            tick.tick(&Progress {
                phase: "bpr",
                done,
                total,
            });
        }
    }
    (users, items)
}

/// One SGD step on the triple (u, i, j).
#[allow(clippy::too_many_arguments)]
#[inline]
fn step(
    us: &[AtomicU32],
    is: &[AtomicU32],
    f: usize,
    u: usize,
    i: usize,
    j: usize,
    p: &BprParams,
    buf: &mut [f32],
) {
    let (pu, rest) = buf.split_at_mut(f);
    let (pi, pj) = rest.split_at_mut(f);
    load(&us[u * f..(u + 1) * f], pu);
    load(&is[i * f..(i + 1) * f], pi);
    load(&is[j * f..(j + 1) * f], pj);
    // Eight partial sums, so the loop vectorises (a single f32 sum must keep its order).
    let mut acc = [0f32; 8];
    let whole = f / 8 * 8;
    for ((a, b), c) in pu[..whole]
        .chunks_exact(8)
        .zip(pi[..whole].chunks_exact(8))
        .zip(pj[..whole].chunks_exact(8))
    {
        for l in 0..8 {
            acc[l] += a[l] * (b[l] - c[l]);
        }
    }
    let mut x: f32 = acc.iter().sum();
    for d in whole..f {
        x += pu[d] * (pi[d] - pj[d]);
    }
    // d/dθ ln σ(x) = σ(−x) · dx/dθ
    let z = 1.0 / (1.0 + x.exp());
    let (lr, reg) = (p.learning_rate, p.regularization);
    for ((a, b), c) in pu.iter_mut().zip(pi.iter_mut()).zip(pj.iter_mut()) {
        let (ua, ib, jc) = (*a, *b, *c);
        *a = ua + lr * (z * (ib - jc) - reg * ua);
        *b = ib + lr * (z * ua - reg * ib);
        *c = jc + lr * (-z * ua - reg * jc);
    }
    store(pu, &us[u * f..(u + 1) * f]);
    store(pi, &is[i * f..(i + 1) * f]);
    store(pj, &is[j * f..(j + 1) * f]);
}

fn init(rows: usize, f: usize, seed: u64, side: u64) -> Vec<f32> {
    let mut out = vec![0f32; rows * f];
    for (r, row) in out.chunks_exact_mut(f).enumerate() {
        let mut rng = Rng::stream(seed ^ 0xB9B, (side << 40) ^ r as u64);
        for v in row.iter_mut() {
            *v = (rng.normal() * 0.1) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mkt_core::ids::IdColumn;
    use mkt_core::interactions::{Interactions, RawInteractions};
    use mkt_core::progress::no_tick;

    fn params() -> BprParams {
        BprParams {
            factors: 8,
            learning_rate: 0.05,
            regularization: 0.01,
            iterations: 40,
            seed: 3,
        }
    }

    /// Two groups of users who each use only their own half of the items.
    fn halves() -> Interactions {
        let (mut u, mut i) = (vec![], vec![]);
        for user in 0..60i64 {
            for k in 0..10i64 {
                u.push(user);
                i.push(if user % 2 == 0 { k } else { 10 + k });
            }
        }
        Interactions::build(&RawInteractions {
            users: IdColumn::Int(u),
            items: IdColumn::Int(i),
            weights: vec![],
            times: None,
        })
        .unwrap()
    }

    #[test]
    fn ranks_own_items_above_the_others() {
        let data = halves();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let (users, items) = fit(&data.by_user, &params(), &pool, &mut no_tick());
        let f = 8;
        let score = |u: usize, i: usize| -> f32 {
            (0..f).map(|d| users[u * f + d] * items[i * f + d]).sum()
        };
        for u in 0..60 {
            let own: f32 = (0..10)
                .map(|k| score(u, if u % 2 == 0 { k } else { 10 + k }))
                .sum();
            let other: f32 = (0..10)
                .map(|k| score(u, if u % 2 == 0 { 10 + k } else { k }))
                .sum();
            assert!(own > other + 1.0, "user {u}: own {own} other {other}");
        }
    }

    #[test]
    fn one_thread_is_deterministic() {
        let data = halves();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let a = fit(&data.by_user, &params(), &pool, &mut no_tick());
        let b = fit(&data.by_user, &params(), &pool, &mut no_tick());
        assert_eq!(a, b);
    }
}
