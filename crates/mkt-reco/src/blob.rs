//! The stored form of a model: one safetensors buffer (tensors + string metadata).
//!
//! Decoding checks every length, index and order the scorers rely on, so corrupted or hostile bytes
//! give `Error::Corrupted`, never a panic or an out-of-bounds read later.

use crate::algorithm::Algorithm;
use crate::model::{Model, Payload};
use mkt_core::interactions::Csr;
use mkt_core::shared::Backing;
use mkt_core::tensors::{expect_shape, f32s, push_ids, serialize, u32s, u64s, Buf, Reader};
use mkt_core::{Error, Result};
use safetensors::Dtype;
use std::sync::Arc;

pub const FORMAT: &str = "pg_marketing.model/1";

fn push_csr(out: &mut Vec<(String, Buf)>, name: &str, m: &Csr) {
    out.push((format!("{name}.indptr"), u64s(&m.indptr)));
    out.push((format!("{name}.indices"), u32s(&m.indices)));
    out.push((
        format!("{name}.values"),
        f32s(&m.values, vec![m.values.len()]),
    ));
}

pub fn encode(model: &Model) -> Result<Vec<u8>> {
    let mut t: Vec<(String, Buf)> = Vec::new();
    // In a tensor, not the metadata: safetensors writes metadata in HashMap order, so a second
    // key would make equal models encode to different bytes.
    let name = model.algorithm.name().as_bytes().to_vec();
    t.push(("algorithm".into(), Buf(Dtype::U8, vec![name.len()], name)));
    push_ids(&mut t, "users", &model.users);
    push_ids(&mut t, "items", &model.items);
    push_csr(&mut t, "seen", &model.seen);
    t.push((
        "popularity".into(),
        f32s(&model.popularity, vec![model.popularity.len()]),
    ));
    match &model.payload {
        Payload::None => {}
        Payload::Factors { dim, users, items } => {
            t.push((
                "factors.users".into(),
                f32s(users, vec![model.n_users(), *dim]),
            ));
            t.push((
                "factors.items".into(),
                f32s(items, vec![model.n_items(), *dim]),
            ));
        }
        Payload::Neighbors(sim) => push_csr(&mut t, "neighbors", sim),
        Payload::Dense(b) => t.push((
            "dense".into(),
            f32s(b, vec![model.n_items(), model.n_items()]),
        )),
        Payload::NeuMf(m) => {
            let (nu, ni) = (model.n_users(), model.n_items());
            t.push(("neumf.user_gmf".into(), f32s(&m.user_gmf, vec![nu, m.dim])));
            t.push(("neumf.item_gmf".into(), f32s(&m.item_gmf, vec![ni, m.dim])));
            t.push(("neumf.user_a".into(), f32s(&m.user_a, vec![nu, m.hidden])));
            t.push(("neumf.item_b".into(), f32s(&m.item_b, vec![ni, m.hidden])));
            t.push(("neumf.w2".into(), f32s(&m.w2, vec![m.hidden, m.hidden2])));
            t.push(("neumf.b2".into(), f32s(&m.b2, vec![m.hidden2])));
            t.push(("neumf.out_g".into(), f32s(&m.out_g, vec![m.dim])));
            t.push(("neumf.out_h".into(), f32s(&m.out_h, vec![m.hidden2])));
            t.push(("neumf.out_b".into(), f32s(&[m.out_b], vec![1])));
        }
        Payload::Sequential(m) => m.push_tensors(&mut t)?,
    }
    serialize(&t, FORMAT)
}

/// The recommenders' part of the reader: sparse matrices.
trait CsrReader {
    fn csr(&self, name: &str, n_rows: usize, n_cols: usize) -> Result<Csr>;
}

impl CsrReader for Reader<'_> {
    fn csr(&self, name: &str, n_rows: usize, n_cols: usize) -> Result<Csr> {
        let (_, values) = self.f32s(&format!("{name}.values"))?;
        let m = Csr {
            n_rows,
            n_cols,
            indptr: self.u64s(&format!("{name}.indptr"))?,
            indices: self.u32s(&format!("{name}.indices"))?,
            values,
        };
        m.validate()?;
        Ok(m)
    }
}

pub fn decode(bytes: &[u8]) -> Result<Model> {
    decode_with(bytes, None)
}

/// Decodes bytes that stay mapped: factor and dense matrices and the seen-items arrays view the
/// mapping instead of being copied, so processes mapping one file share one copy.
pub fn decode_mapped(backing: Arc<dyn Backing>) -> Result<Model> {
    let b = backing.clone();
    decode_with(b.bytes(), Some(backing))
}

fn decode_with(bytes: &[u8], backing: Option<Arc<dyn Backing>>) -> Result<Model> {
    let info = mkt_core::tensors::metadata(bytes)?;
    if info.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(Error::Corrupted(format!(
            "unknown model format {:?}",
            info.get("format")
        )));
    }
    let r = Reader::new(bytes, backing)?;
    // Blobs written before the algorithm moved into a tensor keep it in the metadata.
    let name = match info.get("algorithm") {
        Some(a) => a.clone(),
        None => r.text("algorithm").unwrap_or_default(),
    };
    let algorithm = Algorithm::parse(&name)
        .map_err(|_| Error::Corrupted(format!("unknown algorithm {name:?} in model blob")))?;
    let users = r.ids("users")?;
    let items = r.ids("items")?;
    let (nu, ni) = (users.len(), items.len());
    let seen = r.csr("seen", nu, ni)?;
    let (ps, popularity) = r.f32s("popularity")?;
    expect_shape("popularity", &ps, &[ni])?;
    let payload = match algorithm {
        Algorithm::Popularity => Payload::None,
        Algorithm::Als | Algorithm::Bpr | Algorithm::Neural => {
            let (us, uf) = r.f32s("factors.users")?;
            let (is, itf) = r.f32s("factors.items")?;
            let dim = us.get(1).copied().unwrap_or(0);
            if dim == 0 {
                return Err(Error::Corrupted("factor dimension is 0".into()));
            }
            expect_shape("factors.users", &us, &[nu, dim])?;
            expect_shape("factors.items", &is, &[ni, dim])?;
            Payload::Factors {
                dim,
                users: uf,
                items: itf,
            }
        }
        Algorithm::ItemKnn => Payload::Neighbors(r.csr("neighbors", ni, ni)?),
        Algorithm::NeuMf => {
            let get = |n: &str| r.f32s(&format!("neumf.{n}"));
            let (gs, user_gmf) = get("user_gmf")?;
            let (hs, user_a) = get("user_a")?;
            let (ws, w2) = get("w2")?;
            let (dim, hidden) = (gs.get(1).copied().unwrap_or(0), hs.get(1).copied().unwrap_or(0));
            let hidden2 = ws.get(1).copied().unwrap_or(0);
            let m = mkt_neural::neumf::NeuMf {
                dim,
                hidden,
                hidden2,
                user_gmf,
                item_gmf: get("item_gmf")?.1,
                user_a,
                item_b: get("item_b")?.1,
                w2: w2.to_vec(),
                b2: get("b2")?.1.to_vec(),
                out_g: get("out_g")?.1.to_vec(),
                out_h: get("out_h")?.1.to_vec(),
                out_b: get("out_b")?.1.first().copied().unwrap_or(0.0),
            };
            m.validate(nu, ni).map_err(Error::Corrupted)?;
            Payload::NeuMf(Box::new(m))
        }
        Algorithm::Sequential => {
            Payload::Sequential(Box::new(crate::sequential::Sequential::read(&r, nu, ni)?))
        }
        Algorithm::Ease => {
            let (s, b) = r.f32s("dense")?;
            expect_shape("dense", &s, &[ni, ni])?;
            Payload::Dense(b)
        }
    };
    Ok(Model {
        algorithm,
        users,
        items,
        seen,
        popularity,
        payload,
        serving: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::TrainConfig;
    use mkt_core::ids::IdColumn;
    use mkt_core::interactions::{Interactions, RawInteractions};
    use mkt_core::progress::no_tick;
    use serde_json::json;

    fn data(text: bool) -> Interactions {
        let users: Vec<i64> = (0..40).map(|i| i % 7).collect();
        let items: Vec<i64> = (0..40).map(|i| (i * 3) % 11).collect();
        let raw = RawInteractions {
            users: if text {
                IdColumn::Text(users.iter().map(|u| format!("ü{u}")).collect())
            } else {
                IdColumn::Int(users)
            },
            items: IdColumn::Int(items),
            weights: vec![],
            times: None,
        };
        Interactions::build(&raw).unwrap()
    }

    #[test]
    fn every_algorithm_round_trips() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for (alg, text) in [
            ("popularity", false),
            ("als", true),
            ("item_knn", false),
            ("ease", true),
            ("bpr", false),
            ("neural", true),
            ("neumf", false),
        ] {
            let a = Algorithm::parse(alg).unwrap();
            let params = match alg {
                "neural" | "neumf" => json!({"epochs": 2, "dim": 4, "hidden": 4}),
                _ => json!({}),
            };
            let (cfg, _) = TrainConfig::parse(a, &params).unwrap();
            let m = cfg.fit(&data(text), &pool, &mut no_tick()).unwrap();
            let bytes = encode(&m).unwrap();
            assert_eq!(decode(&bytes).unwrap(), m, "{alg}");
            // Equal models give equal bytes (HashMaps differ in order from one to the next).
            for _ in 0..5 {
                assert_eq!(encode(&m).unwrap(), bytes, "{alg}");
            }
        }
    }

    #[test]
    fn mapped_decoding_views_the_large_arrays_and_serves_the_same() {
        let data = mkt_demo::interactions(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for (alg, params) in [
            (Algorithm::Als, json!({"factors": 32, "iterations": 2})),
            (Algorithm::Ease, json!({})),
        ] {
            let (cfg, _) = TrainConfig::parse(alg, &params).unwrap();
            let m = cfg.fit(&data, &pool, &mut no_tick()).unwrap();
            let owned_bytes = m.heap_bytes();
            let mapped = decode_mapped(Arc::new(encode(&m).unwrap())).unwrap();
            assert_eq!(mapped, m);
            let large = match &mapped.payload {
                Payload::Factors { users, .. } => users.is_mapped(),
                Payload::Dense(b) => b.is_mapped(),
                _ => false,
            };
            assert!(large, "{alg:?}: the model matrix views the mapping");
            assert!(mapped.heap_bytes() * 2 < owned_bytes, "{alg:?}");
            assert!(mapped.mapped_bytes() * 2 > owned_bytes, "{alg:?}");
            assert_eq!(m.mapped_bytes(), 0);
            let q = crate::model::Query {
                k: 10,
                exclude_seen: true,
                candidates: None,
            };
            let (mut s1, mut s2) = (Vec::new(), Vec::new());
            for u in (0..m.n_users() as u32).step_by(13) {
                assert_eq!(
                    mapped.recommend(Some(u), &q, &mut s1),
                    m.recommend(Some(u), &q, &mut s2)
                );
            }
        }
    }

    #[test]
    fn corrupted_bytes_are_errors() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (cfg, _) = TrainConfig::parse(Algorithm::Als, &json!({"factors": 4})).unwrap();
        let m = cfg.fit(&data(false), &pool, &mut no_tick()).unwrap();
        let bytes = encode(&m).unwrap();
        assert!(decode(&[]).is_err());
        assert!(decode(&bytes[..bytes.len() / 2]).is_err());
        assert!(decode(b"garbage that is not a model").is_err());
        // flip bytes all over the buffer: decode must return, Ok or Err, never panic
        for pos in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[pos] ^= 0xA5;
            let _ = decode(&b);
        }
    }
}
