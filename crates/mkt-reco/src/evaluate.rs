//! Offline evaluation of a model on held-out interactions.
//!
//! Each test user is ranked as serving would rank them: items seen in training are excluded, and
//! users unknown to the model get the popularity ranking (they are counted as `users_cold`). A test
//! item the user already had in training cannot be recommended, so it is not counted as relevant;
//! test items unknown to the model stay relevant (they can never be hit, which is the truth).

use crate::model::{Model, Query};
use mkt_core::ids::{Id, IdColumn, IdMap};
use mkt_core::{Error, Result};
use mkt_metrics::{RankingAccumulator, RankingMetrics};
use rayon::prelude::*;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub metrics: RankingMetrics,
    pub users_cold: usize,
}

impl Evaluation {
    pub fn named(&self) -> Vec<(String, f64)> {
        let mut v = self.metrics.named();
        v.push(("users_cold".into(), self.users_cold as f64));
        v
    }
}

pub fn evaluate(
    model: &Model,
    users: &IdColumn,
    items: &IdColumn,
    k: usize,
    pool: &rayon::ThreadPool,
) -> Result<Evaluation> {
    if users.is_empty() {
        return Err(Error::EmptyData(
            "the test source has no rows with both a user and an item id".into(),
        ));
    }
    let (test_users, u_idx) = IdMap::build(users);
    let model_user: Vec<Option<u32>> = (0..test_users.len() as u32)
        .map(|u| model.users.index_of(&test_users.id(u)))
        .collect();
    let item_idx = model.items.lookup_column(items);
    // Unknown items get indices past the catalogue, distinct per id, so they count but never hit.
    let mut unknown: HashMap<Id, u32> = HashMap::new();
    let mut relevant: Vec<Vec<u32>> = vec![Vec::new(); test_users.len()];
    for (row, (&tu, mi)) in u_idx.iter().zip(&item_idx).enumerate() {
        let idx = match mi {
            Some(i) => *i,
            None => {
                let next = (model.n_items() + unknown.len()) as u32;
                *unknown.entry(raw_id(items, row)).or_insert(next)
            }
        };
        relevant[tu as usize].push(idx);
    }
    let users_cold = model_user.iter().filter(|u| u.is_none()).count();
    let acc = pool.install(|| {
        relevant
            .par_iter_mut()
            .zip(model_user.par_iter())
            .fold(
                || (RankingAccumulator::default(), Vec::new()),
                |(mut acc, mut scratch), (rel, &mu)| {
                    rel.sort_unstable();
                    rel.dedup();
                    if let Some(u) = mu {
                        rel.retain(|&i| {
                            (i as usize) >= model.n_items() || !model.seen.contains(u as usize, i)
                        });
                    }
                    if !rel.is_empty() {
                        let q = Query {
                            k,
                            exclude_seen: true,
                            candidates: None,
                        };
                        let ranked: Vec<u32> = model
                            .recommend(mu, &q, &mut scratch)
                            .iter()
                            .map(|s| s.index)
                            .collect();
                        acc.add(&ranked, rel, k);
                    }
                    (acc, scratch)
                },
            )
            .map(|(acc, _)| acc)
            .reduce(RankingAccumulator::default, RankingAccumulator::merge)
    });
    Ok(Evaluation {
        metrics: acc.finish(k, model.n_items()),
        users_cold,
    })
}

fn raw_id(items: &IdColumn, row: usize) -> Id {
    match items {
        IdColumn::Int(v) => Id::Int(v[row]),
        IdColumn::Text(v) => Id::Text(v[row].clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::{Algorithm, TrainConfig};
    use mkt_core::interactions::{Interactions, RawInteractions};
    use mkt_core::progress::no_tick;

    #[test]
    fn popularity_evaluation_by_hand() {
        // train: item 10 seen 3x, 11 2x, 12 1x, 13 1x
        let raw = RawInteractions {
            users: IdColumn::Int(vec![1, 2, 3, 1, 2, 3, 4]),
            items: IdColumn::Int(vec![10, 10, 10, 11, 11, 12, 13]),
            weights: vec![],
            times: None,
        };
        let data = Interactions::build(&raw).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let m = TrainConfig::Popularity
            .fit(&data, &pool, &mut no_tick())
            .unwrap();
        assert_eq!(m.algorithm, Algorithm::Popularity);
        // user 1 (seen 10, 11) ranks 12, 13 -> test {12, 99}: hit at rank 1
        // user 4 (seen 13) ranks 10, 11 -> test {11}: hit at rank 2
        // user 5 is cold: ranks 10, 11 -> test {13}: no hit
        // user 3 (seen 10, 12): test {10} was seen in training -> skipped
        let users = IdColumn::Int(vec![1, 1, 4, 5, 3]);
        let items = IdColumn::Int(vec![12, 99, 11, 13, 10]);
        let e = evaluate(&m, &users, &items, 2, &pool).unwrap();
        assert_eq!(e.metrics.users, 3);
        assert_eq!(e.users_cold, 1);
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} != {b}");
        close(e.metrics.precision, (0.5 + 0.5 + 0.0) / 3.0);
        close(e.metrics.recall, (0.5 + 1.0 + 0.0) / 3.0);
        let idcg2 = 1.0 + 1.0 / 3f64.log2();
        close(
            e.metrics.ndcg,
            (1.0 / idcg2 + 1.0 / 3f64.log2() + 0.0) / 3.0,
        );
        close(e.metrics.map, (0.5 + 0.5 + 0.0) / 3.0);
        close(e.metrics.hit_rate, 2.0 / 3.0);
        close(e.metrics.coverage, 4.0 / 4.0);
    }
}
