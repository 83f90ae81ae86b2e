//! Item features of a sequence model: what an item's categorical codes and numbers (text
//! embeddings among them) add to its id embedding while training, so items no training sequence
//! holds are still scored from their description.

use crate::features::Encoded;
use crate::net::normal;
use candle_core::{DType, Device, Tensor, Var};
use mkt_core::rng::Rng;

type R<T> = candle_core::Result<T>;

/// Side features of the items: each categorical column's embedding of the item's code, and a
/// projection of its standardised numbers (text embeddings among them), summed with its id
/// embedding. Items no training sequence holds are described by these alone.
pub(crate) struct ItemSide {
    /// Per categorical column: its codes by embedding row (row 0, padding, has code 0) and table.
    pub(crate) cat: Vec<(Tensor, Var)>,
    /// Numbers by embedding row (n_items + 1, k) and their projection (k, dim).
    pub(crate) num: Option<(Tensor, Var)>,
    /// 1.0 for the embedding rows of items no training sequence holds (n_items + 1, 1).
    pub(crate) unseen: Tensor,
}

impl ItemSide {
    pub(crate) fn new(
        f: &Encoded,
        n_items: usize,
        seen: &[bool],
        dim: usize,
        rng: &mut Rng,
        dev: &Device,
    ) -> R<Self> {
        let mut cat = Vec::with_capacity(f.cat.len());
        for c in &f.cat {
            let codes: Vec<u32> = std::iter::once(0).chain(c.codes.iter().copied()).collect();
            let codes = Tensor::from_vec(codes, n_items + 1, dev)?;
            cat.push((codes, normal(c.size, dim, 0.05, rng, dev)?));
        }
        let k = f.n_num();
        let num = if k > 0 {
            let mut rows = vec![0f32; k];
            rows.extend_from_slice(&f.num);
            let x = Tensor::from_vec(rows, (n_items + 1, k), dev)?;
            Some((x, normal(k, dim, 0.1 / (k as f64).sqrt(), rng, dev)?))
        } else {
            None
        };
        let unseen: Vec<f32> = std::iter::once(0.0)
            .chain(seen.iter().map(|&s| if s { 0.0 } else { 1.0 }))
            .collect();
        Ok(ItemSide {
            cat,
            num,
            unseen: Tensor::from_vec(unseen, (n_items + 1, 1), dev)?,
        })
    }

    pub(crate) fn vars(&self) -> Vec<(String, &Var)> {
        let mut v: Vec<(String, &Var)> = self
            .cat
            .iter()
            .enumerate()
            .map(|(c, (_, t))| (format!("side.cat{c}"), t))
            .collect();
        if let Some((_, w)) = &self.num {
            v.push(("side.num".to_string(), w));
        }
        v
    }

    /// What the features add to each embedding row (n_items + 1, dim).
    pub(crate) fn table(&self, rows: usize, dim: usize, dev: &Device) -> R<Tensor> {
        let mut t = Tensor::zeros((rows, dim), DType::F32, dev)?;
        for (codes, table) in &self.cat {
            t = (t + table.as_tensor().index_select(codes, 0)?)?;
        }
        if let Some((x, w)) = &self.num {
            t = (t + x.matmul(w.as_tensor())?)?;
        }
        Ok(t)
    }
}
