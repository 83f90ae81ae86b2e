//! EASE (Steck 2019): a closed-form item x item linear model.
//!
//! With G = XᵀX + λI (X binary user x item) and P = G⁻¹, the weights are B = I - P·diag(1/diag(P))
//! with a zero diagonal. Memory grows with n_items², so the size is checked before anything is
//! allocated.
//!
//! Time-aware variant: when the interactions carry times, each user's pair (a, b) adds
//! `time_weight · exp(-|t_a - t_b| / time_scale)` to G[a, b] on top of the plain co-occurrence, so
//! items taken in the same session count as more strongly related than items a user took months
//! apart. `dropout` adds the emphasised-denoising penalty of Steck's DLAE, p/(1-p)·diag(XᵀX), to
//! the ridge term, which penalises popular items' self-reconstruction more.

use crate::linalg::spd_inverse;
use mkt_core::interactions::Csr;
use mkt_core::progress::{Progress, Tick};
use mkt_core::{Error, Result};
use ndarray::Array2;
use rayon::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct EaseParams {
    pub regularization: f64,
    pub max_memory_mb: usize,
    /// Source column with the interactions' times (read by the SQL layer); `None`: plain EASE.
    pub time_col: Option<String>,
    /// Seconds over which the same-session bonus decays by a factor e.
    pub time_scale: f64,
    pub time_weight: f64,
    pub dropout: f64,
}

impl EaseParams {
    pub fn new(regularization: f64) -> Self {
        EaseParams {
            regularization,
            max_memory_mb: 2048,
            time_col: None,
            time_scale: 300.0,
            time_weight: 2.0,
            dropout: 0.0,
        }
    }
}

/// Pairs further apart than this many `time_scale`s add less than 1e-9 and are skipped.
const KERNEL_CUTOFF: f64 = 21.0;

/// Peak bytes of a fit: the Gram matrix, its transposed factor and the inverse in f64, plus B in f32.
pub fn memory_bytes(n_items: usize) -> u128 {
    let n2 = (n_items as u128) * (n_items as u128);
    n2 * 8 * 3 + n2 * 4
}

pub fn check_memory(n_items: usize, p: &EaseParams) -> Result<()> {
    let need_mb = memory_bytes(n_items).div_ceil(1 << 20);
    if need_mb > p.max_memory_mb as u128 {
        return Err(Error::TooLarge(format!(
            "ease needs about {need_mb} MB for {n_items} items, more than max_memory_mb = {}; \
             raise params.max_memory_mb or use als or item_knn",
            p.max_memory_mb
        )));
    }
    Ok(())
}

/// Returns B, row-major n_items x n_items. `times` (one per entry of `by_user`) is required when
/// `p.time_col` is set.
pub fn fit(
    by_user: &Csr,
    times: Option<&[f64]>,
    p: &EaseParams,
    pool: &rayon::ThreadPool,
    tick: &mut dyn Tick,
) -> Result<Vec<f32>> {
    let n = by_user.n_cols;
    check_memory(n, p)?;
    let times = match (&p.time_col, times) {
        (None, _) => None,
        (Some(_), Some(t)) if t.len() == by_user.nnz() => Some(t),
        (Some(c), _) => {
            return Err(Error::invalid(format!(
                "ease: time_col \"{c}\" is set but the interactions carry no times"
            )))
        }
    };
    let by_item = by_user.transpose();
    let mut g = Array2::<f64>::zeros((n, n));
    let (scale, weight) = (p.time_scale, p.time_weight);
    pool.install(|| {
        g.axis_iter_mut(ndarray::Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(a, mut row)| {
                let r = row.as_slice_mut().unwrap();
                for &u in by_item.row(a).0 {
                    let u = u as usize;
                    let items = by_user.row(u).0;
                    match times {
                        None => {
                            for &b in items {
                                r[b as usize] += 1.0;
                            }
                        }
                        Some(t) => {
                            let start = by_user.indptr[u] as usize;
                            let ta = t[by_user.position(u, a as u32).unwrap()];
                            for (k, &b) in items.iter().enumerate() {
                                let gap = (ta - t[start + k]).abs() / scale;
                                let near = if gap < KERNEL_CUTOFF { (-gap).exp() } else { 0.0 };
                                r[b as usize] += 1.0 + weight * near;
                            }
                        }
                    }
                }
            })
    });
    let keep = 1.0 - p.dropout;
    for i in 0..n {
        // the co-occurrence part of the diagonal is the item's count
        let count = by_item.row(i).0.len() as f64;
        g[[i, i]] += p.regularization + p.dropout / keep * count;
    }
    tick.tick(&Progress {
        phase: "ease gram",
        done: 1,
        total: 1,
    });
    let inv = spd_inverse(g, pool, &mut |done, total| {
        tick.tick(&Progress { phase: "ease inverse", done, total })
    })
    .ok_or_else(|| {
            Error::invalid("ease: the regularised Gram matrix is not positive definite; raise params.regularization")
        })?;
    let diag: Vec<f64> = (0..n).map(|j| inv[[j, j]]).collect();
    let mut b = vec![0f32; n * n];
    pool.install(|| {
        b.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            for (j, v) in row.iter_mut().enumerate() {
                *v = if i == j {
                    0.0
                } else {
                    (-inv[[i, j]] / diag[j]) as f32
                };
            }
        })
    });
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mkt_core::progress::no_tick;

    #[test]
    fn too_many_items_is_refused_before_allocating() {
        let p = EaseParams {
            max_memory_mb: 100,
            ..EaseParams::new(1.0)
        };
        let e = check_memory(1_000_000, &p).unwrap_err();
        assert!(matches!(e, Error::TooLarge(_)));
        assert!(e.to_string().contains("1000000 items"), "{e}");
        assert!(check_memory(1000, &p).is_ok());
    }

    #[test]
    fn weights_favour_co_occurring_items() {
        // items 0 and 1 always together, 2 and 3 always together
        let rows: Vec<u32> = vec![0, 0, 1, 1, 2, 2, 3, 3, 4];
        let cols: Vec<u32> = vec![0, 1, 0, 1, 2, 3, 2, 3, 0];
        let csr = Csr::from_triples(5, 4, &rows, &cols, &[1.0; 9]);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let p = EaseParams::new(0.5);
        let b = fit(&csr, None, &p, &pool, &mut no_tick()).unwrap();
        assert_eq!(b[0], 0.0);
        assert!(b[1] > b[2] && b[1] > b[3], "{b:?}");
        assert!(b[2 * 4 + 3] > b[2 * 4], "{b:?}");
    }

    #[test]
    fn items_of_the_same_session_gain_weight() {
        // every user takes items 0, 1 and 2; item 1 within a minute of item 0, item 2 days later
        let n_users = 20u32;
        let (mut rows, mut cols, mut times) = (Vec::new(), Vec::new(), Vec::new());
        for u in 0..n_users {
            let t0 = 1e6 * u as f64;
            for (i, t) in [(0u32, t0), (1, t0 + 60.0), (2, t0 + 3.0 * 86400.0)] {
                rows.push(u);
                cols.push(i);
                times.push(t);
            }
        }
        let csr = Csr::from_triples(n_users as usize, 3, &rows, &cols, &vec![1.0; rows.len()]);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let plain = fit(&csr, None, &EaseParams::new(5.0), &pool, &mut no_tick()).unwrap();
        assert!((plain[1] - plain[2]).abs() < 1e-6, "{plain:?}");
        // entries of by_user are sorted by item, as the times were pushed
        let p = EaseParams {
            time_col: Some("ts".into()),
            ..EaseParams::new(5.0)
        };
        let timed = fit(&csr, Some(&times), &p, &pool, &mut no_tick()).unwrap();
        assert!(timed[1] > timed[2] + 0.01, "{timed:?}");
        assert!(timed[3] > timed[3 + 2], "{timed:?}");
        // pairs a year apart get no bonus; only each item's pair with itself does, which is
        // the dropout penalty with p / (1 - p) = time_weight
        let far: Vec<f64> = (0..rows.len())
            .map(|k| 1e6 * (rows[k] as f64) + 3e7 * cols[k] as f64)
            .collect();
        let distant = fit(&csr, Some(&far), &p, &pool, &mut no_tick()).unwrap();
        let penalised = EaseParams {
            dropout: 2.0 / 3.0,
            ..EaseParams::new(5.0)
        };
        let same = fit(&csr, None, &penalised, &pool, &mut no_tick()).unwrap();
        for (x, y) in distant.iter().zip(&same) {
            assert!((x - y).abs() < 1e-6, "{distant:?} {same:?}");
        }
        // time_col without times is refused
        assert!(fit(&csr, None, &p, &pool, &mut no_tick()).is_err());
    }

    #[test]
    fn dropout_penalises_popular_items() {
        let rows: Vec<u32> = vec![0, 0, 1, 1, 2, 2, 3, 4];
        let cols: Vec<u32> = vec![0, 1, 0, 1, 0, 2, 0, 0];
        let csr = Csr::from_triples(5, 3, &rows, &cols, &[1.0; 8]);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let plain = fit(&csr, None, &EaseParams::new(1.0), &pool, &mut no_tick()).unwrap();
        let p = EaseParams {
            dropout: 0.5,
            ..EaseParams::new(1.0)
        };
        let dl = fit(&csr, None, &p, &pool, &mut no_tick()).unwrap();
        // item 0 (taken by all five users) predicts less strongly after the extra penalty on it
        assert!(dl[1] < plain[1], "{dl:?} {plain:?}");
    }
}
