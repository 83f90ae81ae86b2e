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
//!
//! Item features enter as pseudo-users: every value of a categorical column (and every decile of
//! a numeric one) is a row that "took" the items having it, weighted by `feature_weight`, so items
//! that share attributes co-occur in G even where few users took both. Scoring is unchanged: the
//! user's history times B.

use crate::feature_spec::FeatureSpec;
use crate::linalg::spd_inverse;
use mkt_core::interactions::Csr;
use mkt_core::progress::{Progress, Tick};
use mkt_core::{Error, Result};
use mkt_neural::Encoded;
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
    pub item_features: Option<FeatureSpec>,
    pub feature_weight: f64,
    pub hash_buckets: usize,
}

impl EaseParams {
    /// Plain EASE: the ridge term only (no dropout penalty, no time, no features).
    pub fn new(regularization: f64) -> Self {
        EaseParams {
            regularization,
            max_memory_mb: 2048,
            time_col: None,
            time_scale: 300.0,
            time_weight: 2.0,
            dropout: 0.0,
            item_features: None,
            feature_weight: 10.0,
            hash_buckets: 4096,
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

/// Numeric features are cut into this many quantile groups.
const NUMERIC_GROUPS: usize = 10;

/// The item groups each feature column forms: items sharing a categorical value, or a numeric
/// column's quantile group (a missing number counts as the mean, as in the encoding).
fn feature_groups(f: &Encoded, n_items: usize) -> Vec<Vec<u32>> {
    let mut groups = Vec::new();
    for c in &f.cat {
        let mut by_code: Vec<Vec<u32>> = vec![Vec::new(); c.size];
        for (i, &code) in c.codes.iter().enumerate().take(n_items) {
            if code > 0 && f.present[i] {
                by_code[code as usize].push(i as u32);
            }
        }
        groups.extend(by_code.into_iter().filter(|g| g.len() > 1));
    }
    let k = f.n_num();
    for col in 0..k {
        let mut present: Vec<(f32, u32)> = (0..n_items.min(f.present.len()))
            .filter(|&i| f.present[i])
            .map(|i| (f.num[i * k + col], i as u32))
            .collect();
        present.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let n = present.len();
        let mut start = 0;
        for g in 1..=NUMERIC_GROUPS {
            let mut end = n * g / NUMERIC_GROUPS;
            // equal values stay in one group
            while end < n && end > 0 && present[end].0 == present[end - 1].0 {
                end += 1;
            }
            if end > start + 1 {
                groups.push(present[start..end].iter().map(|p| p.1).collect());
            }
            start = start.max(end);
        }
    }
    groups
}

/// Returns B, row-major n_items x n_items. `times` (one per entry of `by_user`) is required when
/// `p.time_col` is set; `items` are the encoded item features when `p.item_features` is.
pub fn fit(
    by_user: &Csr,
    times: Option<&[f64]>,
    items: Option<&Encoded>,
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
    match (&p.item_features, items) {
        (None, _) => {}
        (Some(_), Some(f)) => {
            for group in feature_groups(f, n) {
                for &a in &group {
                    for &b in &group {
                        g[[a as usize, b as usize]] += p.feature_weight;
                    }
                }
            }
        }
        (Some(_), None) => {
            return Err(Error::invalid(
                "ease: item_features is set but no item features were read",
            ))
        }
    }
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

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
    }

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
        let pool = pool(2);
        let p = EaseParams::new(0.5);
        let b = fit(&csr, None, None, &p, &pool, &mut no_tick()).unwrap();
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
        let pool = pool(2);
        let plain = fit(&csr, None, None, &EaseParams::new(5.0), &pool, &mut no_tick()).unwrap();
        assert!((plain[1] - plain[2]).abs() < 1e-6, "{plain:?}");
        // entries of by_user are sorted by item, as the times were pushed
        let p = EaseParams {
            time_col: Some("ts".into()),
            ..EaseParams::new(5.0)
        };
        let timed = fit(&csr, Some(&times), None, &p, &pool, &mut no_tick()).unwrap();
        assert!(timed[1] > timed[2] + 0.01, "{timed:?}");
        assert!(timed[3] > timed[3 + 2], "{timed:?}");
        // pairs a year apart get no bonus; only each item's pair with itself does, which is
        // the dropout penalty with p / (1 - p) = time_weight
        let far: Vec<f64> = (0..rows.len())
            .map(|k| 1e6 * (rows[k] as f64) + 3e7 * cols[k] as f64)
            .collect();
        let distant = fit(&csr, Some(&far), None, &p, &pool, &mut no_tick()).unwrap();
        let penalised = EaseParams {
            dropout: 2.0 / 3.0,
            ..EaseParams::new(5.0)
        };
        let same = fit(&csr, None, None, &penalised, &pool, &mut no_tick()).unwrap();
        for (x, y) in distant.iter().zip(&same) {
            assert!((x - y).abs() < 1e-6, "{distant:?} {same:?}");
        }
        // time_col without times is refused
        assert!(fit(&csr, None, None, &p, &pool, &mut no_tick()).is_err());
    }

    #[test]
    fn dropout_penalises_popular_items() {
        let rows: Vec<u32> = vec![0, 0, 1, 1, 2, 2, 3, 4];
        let cols: Vec<u32> = vec![0, 1, 0, 1, 0, 2, 0, 0];
        let csr = Csr::from_triples(5, 3, &rows, &cols, &[1.0; 8]);
        let pool = pool(1);
        let plain = fit(&csr, None, None, &EaseParams::new(1.0), &pool, &mut no_tick()).unwrap();
        let p = EaseParams {
            dropout: 0.5,
            ..EaseParams::new(1.0)
        };
        let dl = fit(&csr, None, None, &p, &pool, &mut no_tick()).unwrap();
        // item 0 (taken by all five users) predicts less strongly after the extra penalty on it
        assert!(dl[1] < plain[1], "{dl:?} {plain:?}");
    }

    #[test]
    fn items_sharing_features_gain_weight() {
        use mkt_neural::features::CatColumn;
        // users take items 0+1 or 0+2 equally often; items 0 and 1 share a genre, 2 does not
        let rows: Vec<u32> = vec![0, 0, 1, 1, 2, 2, 3, 3];
        let cols: Vec<u32> = vec![0, 1, 0, 2, 0, 1, 0, 2];
        let csr = Csr::from_triples(4, 4, &rows, &cols, &[1.0; 8]);
        let pool = pool(1);
        let plain = fit(&csr, None, None, &EaseParams::new(1.0), &pool, &mut no_tick()).unwrap();
        assert!((plain[1] - plain[2]).abs() < 1e-6, "{plain:?}");
        let f = Encoded {
            cat: vec![CatColumn {
                name: "genre".into(),
                codes: vec![1, 1, 2, 0],
                size: 3,
                hashed: false,
            }],
            // a numeric column whose deciles put item 3 alone: it forms no group
            num: vec![0.0, 0.0, 0.0, 5.0],
            num_names: vec!["year".into()],
            scaling: vec![(0.0, 1.0)],
            present: vec![true, true, true, true],
        };
        let groups = feature_groups(&f, 4);
        assert_eq!(groups, vec![vec![0, 1], vec![0, 1, 2]]);
        let p = EaseParams {
            item_features: Some(FeatureSpec {
                source: "items".into(),
                key: "item_id".into(),
                columns: vec!["genre".into(), "year".into()],
                transform: None,
                text_columns: Vec::new(),
            }),
            feature_weight: 2.0,
            ..EaseParams::new(1.0)
        };
        let b = fit(&csr, None, Some(&f), &p, &pool, &mut no_tick()).unwrap();
        assert!(b[1] > b[2] + 0.01, "{b:?}");
        assert!(fit(&csr, None, None, &p, &pool, &mut no_tick()).is_err());
    }
}
