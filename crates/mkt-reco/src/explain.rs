//! Why an item scores what it does for a user: the items of the user's history that contribute.
//!
//! - item_knn and EASE score an item as a sum over the user's history, so each history item's
//!   term is its exact contribution (item_knn adds a popularity tie-break of at most 1e-6).
//! - ALS: the user's vector is the solve x = W Yᵀ C p with W = (YᵀC Y + λI)⁻¹, so the score
//!   x·yᵢ = Σⱼ cⱼ (yᵢᵀ W yⱼ) splits exactly over the history (Hu, Koren and Volinsky 2008, §5).
//! - bpr, neural and neumf have no such decomposition; their attribution is the cosine between the
//!   item's vector (neumf: its GMF embedding) and each history item's vector (which history items the model places near it). These
//!   contributions do not sum to the score.
//! - sequential reads the user's latest events in order; an event's contribution is how much the
//!   item's score drops when that one event is left out of the sequence (occlusion). These do not
//!   sum to the score either: attention mixes the events.

use crate::algorithm::Algorithm;
use crate::linalg::cholesky_solve;
use crate::model::{Model, Payload};
use mkt_core::{Error, Result};
use mkt_topk::dot;

#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// (history item, contribution), largest first.
    pub contributions: Vec<(u32, f32)>,
    /// Whether the contributions sum to `score`.
    pub exact: bool,
    /// The score the contributions decompose (exact models) or the served score.
    pub score: f32,
}

/// ALS's confidence settings, which the decomposition needs (stored in the version's params).
#[derive(Debug, Clone, Copy)]
pub struct AlsWeights {
    pub regularization: f32,
    pub alpha: f32,
}

pub fn explain(model: &Model, user: u32, item: u32, als: AlsWeights) -> Result<Explanation> {
    let (hist, weights) = model.seen.row(user as usize);
    let n = model.n_items();
    let i = item as usize;
    let mut contributions: Vec<(u32, f32)> = match (&model.payload, model.algorithm) {
        (Payload::None, _) => {
            return Err(Error::NotSupported(
                "a popularity model does not use the user's history; there is nothing to explain"
                    .into(),
            ))
        }
        (Payload::Dense(b), _) => hist.iter().map(|&j| (j, b[j as usize * n + i])).collect(),
        (Payload::Neighbors(sim), _) => hist
            .iter()
            .map(|&j| {
                let (nbrs, sims) = sim.row(j as usize);
                let s = nbrs.binary_search(&item).map_or(0.0, |k| sims[k]);
                (j, s)
            })
            .collect(),
        (Payload::Factors { dim, items, .. }, Algorithm::Als) => {
            let f = *dim;
            let row = |j: usize| &items[j * f..(j + 1) * f];
            let mut a = vec![0f64; f * f];
            for y in items.chunks_exact(f) {
                for r in 0..f {
                    for c in 0..f {
                        a[r * f + c] += y[r] as f64 * y[c] as f64;
                    }
                }
            }
            for d in 0..f {
                a[d * f + d] += als.regularization as f64;
            }
            for (&j, &w) in hist.iter().zip(weights) {
                let c = (als.alpha * w) as f64;
                let y = row(j as usize);
                for r in 0..f {
                    for cc in 0..f {
                        a[r * f + cc] += c * y[r] as f64 * y[cc] as f64;
                    }
                }
            }
            let mut z: Vec<f64> = row(i).iter().map(|&v| v as f64).collect();
            if !cholesky_solve(&mut a, f, &mut z) {
                return Err(Error::NotSupported(
                    "the user's ALS system is singular; no exact decomposition".into(),
                ));
            }
            hist.iter()
                .zip(weights)
                .map(|(&j, &w)| {
                    let c = 1.0 + (als.alpha * w) as f64;
                    let s: f64 = row(j as usize)
                        .iter()
                        .zip(&z)
                        .map(|(&y, &z)| y as f64 * z)
                        .sum();
                    (j, (c * s) as f32)
                })
                .collect()
        }
        (Payload::Sequential(m), _) => {
            let recent = m.history.row(user as usize);
            let full = m.next_scores(recent)?[i];
            (0..recent.len())
                .map(|k| {
                    let mut without = recent.to_vec();
                    without.remove(k);
                    Ok((recent[k], full - m.next_scores(&without)?[i]))
                })
                .collect::<Result<Vec<_>>>()?
        }
        (Payload::Factors { .. } | Payload::NeuMf(_), _) => {
            let (f, items) = model.item_vectors().expect("a vector model");
            let row = |j: usize| &items[j * f..(j + 1) * f];
            let norm = |v: &[f32]| dot(v, v).sqrt().max(f32::MIN_POSITIVE);
            let yi = row(i);
            hist.iter()
                .map(|&j| {
                    let yj = row(j as usize);
                    (j, dot(yi, yj) / (norm(yi) * norm(yj)))
                })
                .collect()
        }
    };
    let exact = !matches!(
        (&model.payload, model.algorithm),
        (Payload::Factors { .. }, Algorithm::Bpr | Algorithm::Neural)
            | (Payload::NeuMf(_), _)
            | (Payload::Sequential(_), _)
    );
    let score = if exact {
        contributions.iter().map(|c| c.1 as f64).sum::<f64>() as f32
    } else {
        let mut s = Vec::new();
        model.score_all(Some(user), &mut s);
        s[i]
    };
    contributions.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Explanation {
        contributions,
        exact,
        score,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::TrainConfig;
    use mkt_core::progress::no_tick;

    #[test]
    fn exact_decompositions_sum_to_the_served_score() {
        let data = mkt_demo::interactions(1);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let w = AlsWeights {
            regularization: 1.0,
            alpha: 5.0,
        };
        for (alg, params) in [
            ("ease", serde_json::json!({})),
            ("item_knn", serde_json::json!({})),
            ("als", serde_json::json!({"factors": 8, "iterations": 3, "solver": "cholesky"})),
        ] {
            let (cfg, _) = TrainConfig::parse(Algorithm::parse(alg).unwrap(), &params).unwrap();
            let m = cfg.fit(&data, &pool, &mut no_tick()).unwrap();
            let mut scores = Vec::new();
            for u in [0u32, 17, 123] {
                m.score_all(Some(u), &mut scores);
                for i in [0u32, 5, 99] {
                    let e = explain(&m, u, i, w).unwrap();
                    assert!(e.exact);
                    assert_eq!(e.contributions.len(), m.seen.row(u as usize).0.len());
                    // item_knn's popularity tie-break is below 1e-6
                    let tol = 1e-4 * scores[i as usize].abs().max(1.0);
                    assert!(
                        (e.score - scores[i as usize]).abs() <= tol,
                        "{alg} user {u} item {i}: contributions sum {} vs score {}",
                        e.score,
                        scores[i as usize]
                    );
                    assert!(e.contributions.windows(2).all(|p| p[0].1 >= p[1].1));
                }
            }
        }
    }
}
