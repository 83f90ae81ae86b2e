//! Item-based nearest neighbours with cosine similarity on binary interactions.
//!
//! sim(a, b) = |U(a) ∩ U(b)| / (sqrt(|U(a)|·|U(b)|) + shrinkage); each item keeps its `neighbors`
//! most similar items. A user's score for item j is the sum of sim(i, j) over the items i seen.

use mkt_core::interactions::Csr;
use mkt_core::progress::{Progress, Tick};
use mkt_topk::top_k;
use rayon::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct KnnParams {
    pub neighbors: usize,
    pub shrinkage: f32,
}

const ITEMS_PER_TICK: usize = 2048;

/// Returns the item x item neighbour matrix (rows sorted by neighbour index).
pub fn fit(by_user: &Csr, p: &KnnParams, pool: &rayon::ThreadPool, tick: &mut dyn Tick) -> Csr {
    let n = by_user.n_cols;
    let by_item = by_user.transpose();
    let norms: Vec<f32> = (0..n)
        .map(|i| (by_item.row(i).0.len() as f32).sqrt())
        .collect();
    let mut rows: Vec<Vec<(u32, f32)>> = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let end = (start + ITEMS_PER_TICK).min(n);
        let block: Vec<Vec<(u32, f32)>> = pool.install(|| {
            (start..end)
                .into_par_iter()
                .map_init(
                    || (vec![0f32; n], Vec::<u32>::new()),
                    |(acc, touched), a| {
                        for &u in by_item.row(a).0 {
                            for &b in by_user.row(u as usize).0 {
                                if acc[b as usize] == 0.0 {
                                    touched.push(b);
                                }
                                acc[b as usize] += 1.0;
                            }
                        }
                        let scored = touched.iter().filter(|&&b| b as usize != a).map(|&b| {
                            let s = acc[b as usize] / (norms[a] * norms[b as usize] + p.shrinkage);
                            (b, s)
                        });
                        let mut best: Vec<(u32, f32)> = top_k(scored, p.neighbors)
                            .into_iter()
                            .map(|s| (s.index, s.score))
                            .collect();
                        best.sort_unstable_by_key(|x| x.0);
                        for &b in touched.iter() {
                            acc[b as usize] = 0.0;
                        }
                        touched.clear();
                        best
                    },
                )
                .collect()
        });
        rows.extend(block);
        tick.tick(&Progress {
            phase: "item_knn",
            done: end,
            total: n,
        });
        start = end;
    }
    let mut indptr = Vec::with_capacity(n + 1);
    let mut indices = Vec::new();
    let mut values = Vec::new();
    indptr.push(0u64);
    for r in rows {
        for (b, s) in r {
            indices.push(b);
            values.push(s);
        }
        indptr.push(indices.len() as u64);
    }
    Csr {
        n_rows: n,
        n_cols: n,
        indptr: indptr.into(),
        indices: indices.into(),
        values: values.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mkt_core::progress::no_tick;

    #[test]
    fn cosine_by_hand() {
        // item 0: users {0,1}; item 1: users {0,1,2}; item 2: users {2}
        let csr = Csr::from_triples(3, 3, &[0, 0, 1, 1, 2, 2], &[0, 1, 0, 1, 1, 2], &[1.0; 6]);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let sim = fit(
            &csr,
            &KnnParams {
                neighbors: 5,
                shrinkage: 0.0,
            },
            &pool,
            &mut no_tick(),
        );
        let (nb, s) = sim.row(0);
        assert_eq!(nb, &[1]);
        assert!((s[0] - 2.0 / (2f32.sqrt() * 3f32.sqrt())).abs() < 1e-6);
        let (nb, s) = sim.row(1);
        assert_eq!(nb, &[0, 2]);
        assert!((s[1] - 1.0 / 3f32.sqrt()).abs() < 1e-6);
        let one = fit(
            &csr,
            &KnnParams {
                neighbors: 1,
                shrinkage: 0.0,
            },
            &pool,
            &mut no_tick(),
        );
        assert_eq!(one.row(1).0, &[0]);
        assert!(sim.validate().is_ok());
    }
}
