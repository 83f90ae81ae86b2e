//! The two towers and their parameters.

use crate::features::Encoded;
use candle_core::{DType, Device, Tensor, Var};
use mkt_core::rng::Rng;

type R<T> = candle_core::Result<T>;

/// A dense layer pair: tanh(x W1 + b1) W2 + b2.
struct Mlp {
    w1: Var,
    b1: Var,
    w2: Var,
    b2: Var,
}

impl Mlp {
    fn new(inp: usize, hidden: usize, out: usize, rng: &mut Rng, dev: &Device) -> R<Self> {
        Ok(Mlp {
            w1: xavier(inp, hidden, rng, dev)?,
            b1: Var::zeros(hidden, DType::F32, dev)?,
            w2: xavier(hidden, out, rng, dev)?,
            b2: Var::zeros(out, DType::F32, dev)?,
        })
    }

    fn forward(&self, x: &Tensor) -> R<Tensor> {
        let h = x.matmul(self.w1.as_tensor())?.broadcast_add(self.b1.as_tensor())?.tanh()?;
        h.matmul(self.w2.as_tensor())?.broadcast_add(self.b2.as_tensor())
    }

    fn vars(&self) -> Vec<&Var> {
        vec![&self.w1, &self.b1, &self.w2, &self.b2]
    }
}

/// Embeddings and scaled numbers of the side features of `entities`, one tensor per column
/// group (categorical tables `tables`, then all numeric columns).
pub(crate) fn side(dev: &Device, f: &Encoded, tables: &[Var], entities: &[u32]) -> R<Vec<Tensor>> {
    let mut parts = Vec::new();
    for (c, table) in f.cat.iter().zip(tables) {
        let codes: Vec<u32> = entities.iter().map(|&e| c.codes[e as usize]).collect();
        let idx = Tensor::from_vec(codes, entities.len(), dev)?;
        parts.push(table.as_tensor().index_select(&idx, 0)?);
    }
    let k = f.n_num();
    if k > 0 {
        let mut v = Vec::with_capacity(entities.len() * k);
        for &e in entities {
            v.extend_from_slice(&f.num[e as usize * k..(e as usize + 1) * k]);
        }
        parts.push(Tensor::from_vec(v, (entities.len(), k), dev)?);
    }
    Ok(parts)
}

/// Embedding tables of a feature set's categorical columns.
pub(crate) fn cat_tables(f: Option<&Encoded>, dim: usize, rng: &mut Rng, dev: &Device) -> R<Vec<Var>> {
    let mut out = Vec::new();
    for c in f.map_or(&[][..], |f| &f.cat[..]) {
        out.push(normal(c.size, cat_dim(dim), 0.1, rng, dev)?);
    }
    Ok(out)
}

pub(crate) fn xavier(inp: usize, out: usize, rng: &mut Rng, dev: &Device) -> R<Var> {
    let a = (6.0 / (inp + out) as f64).sqrt();
    let v: Vec<f32> = (0..inp * out)
        .map(|_| ((rng.uniform() * 2.0 - 1.0) * a) as f32)
        .collect();
    Var::from_vec(v, (inp, out), dev)
}

pub(crate) fn normal(rows: usize, cols: usize, sd: f64, rng: &mut Rng, dev: &Device) -> R<Var> {
    let v: Vec<f32> = (0..rows * cols).map(|_| (rng.normal() * sd) as f32).collect();
    Var::from_vec(v, (rows, cols), dev)
}

/// Width of a categorical feature's embedding.
fn cat_dim(dim: usize) -> usize {
    dim.clamp(1, 16)
}

/// What the user tower reads for one batch of users.
#[derive(Debug, Default, Clone)]
pub struct UserInput {
    /// The users, one per output row.
    pub users: Vec<u32>,
    /// 1 to use the user's id embedding, 0 to train or score the user as new.
    pub id_keep: Vec<f32>,
    /// History entries: output row, item, weight (already normalised).
    pub rows: Vec<u32>,
    pub items: Vec<u32>,
    pub weights: Vec<f32>,
}

pub struct Net {
    pub dev: Device,
    pub dim: usize,
    hist: Var,
    user_id: Option<Var>,
    user_cat: Vec<Var>,
    user_mlp: Mlp,
    item_id: Var,
    item_bias: Var,
    item_cat: Vec<Var>,
    item_mlp: Option<Mlp>,
}

pub(crate) fn side_width(f: Option<&Encoded>, dim: usize) -> usize {
    f.map_or(0, |f| f.cat.len() * cat_dim(dim) + f.n_num())
}

impl Net {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        n_users: usize,
        n_items: usize,
        dim: usize,
        hidden: usize,
        user_embedding: bool,
        uf: Option<&Encoded>,
        itf: Option<&Encoded>,
        rng: &mut Rng,
        dev: &Device,
    ) -> R<Self> {
        let sd = 1.0 / (dim as f64).sqrt();
        let hist = normal(n_items, dim, sd, rng, dev)?;
        let user_id = if user_embedding {
            Some(normal(n_users, dim, 0.01, rng, dev)?)
        } else {
            None
        };
        let cd = cat_dim(dim);
        let mut user_cat = Vec::new();
        for c in uf.map_or(&[][..], |f| &f.cat[..]) {
            user_cat.push(normal(c.size, cd, 0.1, rng, dev)?);
        }
        let u_in = dim * (1 + user_embedding as usize) + side_width(uf, dim);
        let user_mlp = Mlp::new(u_in, hidden, dim, rng, dev)?;
        let item_id = normal(n_items, dim, 0.01, rng, dev)?;
        let item_bias = Var::zeros(n_items, DType::F32, dev)?;
        let mut item_cat = Vec::new();
        for c in itf.map_or(&[][..], |f| &f.cat[..]) {
            item_cat.push(normal(c.size, cd, 0.1, rng, dev)?);
        }
        let i_in = side_width(itf, dim);
        let item_mlp = if i_in > 0 {
            Some(Mlp::new(i_in, hidden, dim + 1, rng, dev)?)
        } else {
            None
        };
        Ok(Net {
            dev: dev.clone(),
            dim,
            hist,
            user_id,
            user_cat,
            user_mlp,
            item_id,
            item_bias,
            item_cat,
            item_mlp,
        })
    }

    pub fn vars(&self) -> Vec<Var> {
        let mut v: Vec<&Var> = vec![&self.hist];
        v.extend(self.user_id.iter());
        v.extend(self.user_cat.iter());
        v.extend(self.user_mlp.vars());
        v.push(&self.item_id);
        v.push(&self.item_bias);
        v.extend(self.item_cat.iter());
        if let Some(m) = &self.item_mlp {
            v.extend(m.vars());
        }
        v.into_iter().cloned().collect()
    }

    /// Copies of every parameter (the best epoch so far).
    pub fn snapshot(&self) -> R<Vec<Tensor>> {
        self.vars().iter().map(|v| v.as_tensor().copy()).collect()
    }

    pub fn restore(&self, saved: &[Tensor]) -> R<()> {
        for (v, t) in self.vars().iter().zip(saved) {
            v.set(t)?;
        }
        Ok(())
    }

    fn u32s(&self, v: &[u32]) -> R<Tensor> {
        Tensor::from_slice(v, v.len(), &self.dev)
    }

    fn f32s(&self, v: &[f32], shape: (usize, usize)) -> R<Tensor> {
        Tensor::from_slice(v, shape, &self.dev)
    }

    /// User vectors, one row per user of `input`.
    pub fn users(&self, input: &UserInput, uf: Option<&Encoded>) -> R<Tensor> {
        let b = input.users.len();
        let hist = Tensor::zeros((b, self.dim), DType::F32, &self.dev)?;
        let hist = if input.items.is_empty() {
            hist
        } else {
            let m = input.items.len();
            let e = self.hist.as_tensor().index_select(&self.u32s(&input.items)?, 0)?;
            let e = e.broadcast_mul(&self.f32s(&input.weights, (m, 1))?)?;
            hist.index_add(&self.u32s(&input.rows)?, &e, 0)?
        };
        let mut parts = vec![hist];
        if let Some(ids) = &self.user_id {
            let e = ids.as_tensor().index_select(&self.u32s(&input.users)?, 0)?;
            parts.push(e.broadcast_mul(&self.f32s(&input.id_keep, (b, 1))?)?);
        }
        if let Some(f) = uf {
            parts.extend(side(&self.dev, f, &self.user_cat, &input.users)?);
        }
        let x = if parts.len() == 1 {
            parts.pop().unwrap()
        } else {
            Tensor::cat(&parts, 1)?
        };
        self.user_mlp.forward(&x)
    }

    /// Item vectors and biases for `items` (all items when `None`); `id_keep` (one per returned
    /// item) zeroes the id part of items treated as new.
    pub fn items(
        &self,
        items: Option<&[u32]>,
        id_keep: &[f32],
        itf: Option<&Encoded>,
    ) -> R<(Tensor, Tensor)> {
        let (mut v, mut bias) = match items {
            None => (
                self.item_id.as_tensor().clone(),
                self.item_bias.as_tensor().clone(),
            ),
            Some(idx) => {
                let t = self.u32s(idx)?;
                (
                    self.item_id.as_tensor().index_select(&t, 0)?,
                    self.item_bias.as_tensor().index_select(&t, 0)?,
                )
            }
        };
        let n = v.dim(0)?;
        let keep = self.f32s(id_keep, (n, 1))?;
        v = v.broadcast_mul(&keep)?;
        bias = bias.mul(&keep.squeeze(1)?)?;
        if let (Some(mlp), Some(f)) = (&self.item_mlp, itf) {
            let all: Vec<u32>;
            let ents = match items {
                Some(idx) => idx,
                None => {
                    all = (0..n as u32).collect();
                    &all
                }
            };
            let x = Tensor::cat(&side(&self.dev, f, &self.item_cat, ents)?, 1)?;
            let out = mlp.forward(&x)?;
            v = (v + out.narrow(1, 0, self.dim)?)?;
            bias = (bias + out.narrow(1, self.dim, 1)?.squeeze(1)?)?;
        }
        Ok((v, bias))
    }
}
