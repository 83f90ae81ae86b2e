//! Erasing one user from a trained model (mkt.forget_subject).
//!
//! What is the user's own goes: their id, their row of seen items, their vector (factors,
//! NeuMF embeddings) and their sequence (a sequential model's history). What the model learned about items from everyone together (item factors,
//! item-item weights, item popularity) stays until the next retrain on data without them, so that
//! everyone else is served exactly as before; the SQL layer says so.

use crate::model::{Model, Payload};
use mkt_core::ids::IdMap;
use mkt_core::interactions::Csr;
use mkt_core::shared::{Plain, Shared};

/// `rows` without row `r` of `width` elements.
fn without_row<T: Plain>(rows: &[T], width: usize, r: usize) -> Shared<T> {
    let mut v = Vec::with_capacity(rows.len().saturating_sub(width));
    v.extend_from_slice(&rows[..r * width]);
    v.extend_from_slice(&rows[(r + 1) * width..]);
    v.into()
}

fn csr_without_row(m: &Csr, r: usize) -> Csr {
    let (a, b) = (m.indptr[r] as usize, m.indptr[r + 1] as usize);
    let gone = (b - a) as u64;
    let mut indptr: Vec<u64> = m.indptr[..=r].to_vec();
    indptr.extend(m.indptr[r + 2..].iter().map(|p| p - gone));
    let cut = |v: &[u32]| [&v[..a], &v[b..]].concat();
    let cutf = |v: &[f32]| [&v[..a], &v[b..]].concat();
    Csr {
        n_rows: m.n_rows - 1,
        n_cols: m.n_cols,
        indptr: indptr.into(),
        indices: cut(&m.indices).into(),
        values: cutf(&m.values).into(),
    }
}

/// The model without user `u` (an index into `model.users`).
pub fn without_user(model: &Model, u: u32) -> Model {
    let u = u as usize;
    let users = match &model.users {
        IdMap::Int(v) => IdMap::Int([&v[..u], &v[u + 1..]].concat().into()),
        IdMap::Text(v) => IdMap::Text([&v[..u], &v[u + 1..]].concat()),
    };
    let payload = match &model.payload {
        Payload::Factors { dim, users, items } => Payload::Factors {
            dim: *dim,
            users: without_row(users, *dim, u),
            items: items.clone(),
        },
        Payload::NeuMf(m) => {
            let mut m = m.clone();
            m.user_gmf = without_row(&m.user_gmf, m.dim, u);
            m.user_a = without_row(&m.user_a, m.hidden, u);
            Payload::NeuMf(m)
        }
        Payload::Sequential(m) => {
            let mut m = m.clone();
            m.history = m.history.without_row(u);
            Payload::Sequential(m)
        }
        other => other.clone(),
    };
    Model {
        algorithm: model.algorithm,
        users,
        items: model.items.clone(),
        seen: csr_without_row(&model.seen, u),
        popularity: model.popularity.clone(),
        payload,
        serving: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::{Algorithm, TrainConfig};
    use crate::blob::{decode, encode};
    use crate::model::Query;
    use mkt_core::progress::no_tick;
    use serde_json::json;

    #[test]
    fn a_forgotten_user_is_served_as_new_and_everyone_else_as_before() {
        let data = mkt_demo::interactions(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for (alg, params) in [
            (Algorithm::Als, json!({"factors": 8, "iterations": 2})),
            (Algorithm::ItemKnn, json!({})),
            (Algorithm::NeuMf, json!({"epochs": 1, "dim": 4, "hidden": 4})),
        ] {
            let (cfg, _) = TrainConfig::parse(alg, &params).unwrap();
            let m = cfg.fit(&data, &pool, &mut no_tick()).unwrap();
            let target = 17u32;
            let id = m.users.int_id(target).unwrap();
            let f = without_user(&m, target);
            // it is a valid model: it survives its own encoding and the decoder's checks
            let f = decode(&encode(&f).unwrap()).unwrap();
            assert_eq!(f.n_users(), m.n_users() - 1);
            assert_eq!(f.users.index_of_int(id), None, "{alg:?}");
            let q = Query {
                k: 10,
                exclude_seen: true,
                candidates: None,
            };
            let (mut s1, mut s2) = (Vec::new(), Vec::new());
            for other in [0u32, 16, 18, 40] {
                let oid = m.users.int_id(other).unwrap();
                let g = f.users.index_of_int(oid);
                assert_eq!(
                    f.recommend(g, &q, &mut s1),
                    m.recommend(Some(other), &q, &mut s2),
                    "{alg:?}: user {oid} is served as before"
                );
            }
            // and the forgotten user gets what any unknown user gets
            assert_eq!(
                f.recommend(f.users.index_of_int(id), &q, &mut s1),
                f.recommend(None, &q, &mut s2)
            );
        }
    }
}
