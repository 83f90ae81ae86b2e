//! EASE (Steck 2019): a closed-form item x item linear model.
//!
//! With G = XᵀX + λI (X binary user x item) and P = G⁻¹, the weights are B = I - P·diag(1/diag(P))
//! with a zero diagonal. Memory grows with n_items², so the size is checked before anything is
//! allocated.

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
}

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

/// Returns B, row-major n_items x n_items.
pub fn fit(
    by_user: &Csr,
    p: &EaseParams,
    pool: &rayon::ThreadPool,
    tick: &mut dyn Tick,
) -> Result<Vec<f32>> {
    let n = by_user.n_cols;
    check_memory(n, p)?;
    let by_item = by_user.transpose();
    let mut g = Array2::<f64>::zeros((n, n));
    pool.install(|| {
        g.axis_iter_mut(ndarray::Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(a, mut row)| {
                let r = row.as_slice_mut().unwrap();
                for &u in by_item.row(a).0 {
                    for &b in by_user.row(u as usize).0 {
                        r[b as usize] += 1.0;
                    }
                }
            })
    });
    for i in 0..n {
        g[[i, i]] += p.regularization;
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
            regularization: 1.0,
            max_memory_mb: 100,
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
        let p = EaseParams {
            regularization: 0.5,
            max_memory_mb: 10,
        };
        let b = fit(&csr, &p, &pool, &mut no_tick()).unwrap();
        assert_eq!(b[0], 0.0);
        assert!(b[1] > b[2] && b[1] > b[3], "{b:?}");
        assert!(b[2 * 4 + 3] > b[2 * 4], "{b:?}");
    }
}
