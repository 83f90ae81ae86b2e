//! What a model derives for serving (the 8-bit, norm-ordered copy of factor and sequential models' item vectors,
//! a sequential model's first-block item rows, and the popularity order that ranks unknown users), stored beside the model's own file so that every process maps one copy instead of
//! building its own.
//!
//! Built by one process per server and version (the deploying transaction, or the first caller
//! after a restart or on a standby); the others only map it. Building it for a 1M-item model takes
//! seconds and 80 MB; mapping it takes microseconds and no private memory.

use crate::model::{popularity_order, Model, Payload};
use mkt_core::shared::Backing;
use mkt_core::tensors::{f32s, metadata, serialize, u32s, Reader};
use mkt_core::{Error, Result};
use mkt_topk::QuantizedRows;
use std::sync::Arc;

/// Follows the generation in the files' names (mkt-core's `model_files`).
pub const FORMAT: &str = "pg_marketing.serving/2";

/// The most bytes of a sequence model's first-block rows a serving file holds ((2 + heads)·4·dim
/// bytes an item: 350k items at dim 64 and one head). They save a third of each forward pass;
/// a larger catalogue serves by the direct products instead of tripling its item table's
/// mapping.
const FIRST_BLOCK_MAX_BYTES: usize = 256 << 20;

impl Model {
    /// The bytes of the serving file.
    pub fn encode_serving(&self) -> Result<Vec<u8>> {
        let mut t = Vec::new();
        // Built here rather than taken from `self.serving`: the builder does not keep a private
        // copy it will map a moment later.
        t.push(("popular".into(), u32s(&popularity_order(&self.popularity))));
        if let Some((dim, items)) = self.indexed_vectors() {
            if let Some(index) = QuantizedRows::build(items, dim) {
                index.push_tensors(&mut t, "items");
            }
        }
        if let Payload::Sequential(m) = &self.payload {
            if let Some(rows) = m.first_block_items(FIRST_BLOCK_MAX_BYTES) {
                let shape = vec![rows.len()];
                t.push(("sequence.first_block".into(), f32s(&rows, shape)));
            }
        }
        serialize(&t, FORMAT)
    }

    /// Serves from the index in `backing` (a mapped serving file), so no process builds its own.
    /// A file of another format or shape is an error and leaves the model as it was.
    pub fn attach_serving(&self, backing: Arc<dyn Backing>) -> Result<()> {
        let bytes = backing.bytes();
        if metadata(bytes)?.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(Error::Corrupted("not a serving file".into()));
        }
        let r = Reader::new(bytes, Some(backing.clone()))?;
        let popular = r.u32s("popular")?;
        let n = self.n_items();
        if popular.len() > n || popular.iter().any(|&i| i as usize >= n) {
            return Err(Error::Corrupted("the serving file's popularity order is not this model's".into()));
        }
        let items = match self.indexed_vectors() {
            // No index stored: a vector is not finite, and serving scores in f32.
            Some((dim, _)) => Some(if r.has("items.shape") {
                Some(QuantizedRows::read(&r, "items", n, dim)?)
            } else {
                None
            }),
            None => None,
        };
        if let (Payload::Sequential(m), true) = (&self.payload, r.has("sequence.first_block")) {
            m.attach_first_block(r.f32s("sequence.first_block")?.1)?;
        }
        self.serving.set(items, Some(popular));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::{Algorithm, TrainConfig};
    use crate::model::Query;
    use mkt_core::progress::no_tick;

    #[test]
    fn a_model_serving_from_the_file_ranks_as_one_that_built_its_own_and_holds_no_copy() {
        let data = mkt_demo::interactions(1);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        // wide enough that the 8-bit blocks are large enough to be viewed, not copied
        let params = serde_json::json!({"factors": 64, "iterations": 2});
        let (cfg, _) = TrainConfig::parse(Algorithm::Als, &params).unwrap();
        let built = cfg.fit(&data, &pool, &mut no_tick()).unwrap();
        let file = Arc::new(built.encode_serving().unwrap());
        let blob = Arc::new(crate::blob::encode(&built).unwrap());
        let mapped = crate::blob::decode_mapped(blob).unwrap();
        mapped.attach_serving(file.clone()).unwrap();
        assert!(mapped.serving_mapped_bytes() > 0, "the index views the file");
        let q = Query { k: 10, exclude_seen: true, candidates: None };
        let (mut s1, mut s2) = (Vec::new(), Vec::new());
        for u in (0..built.n_users() as u32).step_by(11) {
            assert_eq!(built.recommend(Some(u), &q, &mut s1), mapped.recommend(Some(u), &q, &mut s2));
        }
        // the file of another model (other shape) is refused
        let (cfg, _) = TrainConfig::parse(Algorithm::Als, &serde_json::json!({"factors": 8})).unwrap();
        let other = cfg.fit(&data, &pool, &mut no_tick()).unwrap();
        assert!(other.attach_serving(file).is_err());
        assert!(other.attach_serving(Arc::new(b"junk".to_vec())).is_err());
        // a popularity model's file holds its order, and it serves from it as when built privately
        let pop = TrainConfig::Popularity.fit(&data, &pool, &mut no_tick()).unwrap();
        let mapped = crate::blob::decode_mapped(Arc::new(crate::blob::encode(&pop).unwrap())).unwrap();
        mapped.attach_serving(Arc::new(pop.encode_serving().unwrap())).unwrap();
        for u in [None, Some(0), Some(5)] {
            assert_eq!(pop.recommend(u, &q, &mut s1), mapped.recommend(u, &q, &mut s2));
        }
    }
}
