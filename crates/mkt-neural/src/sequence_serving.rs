//! Scoring what comes next for one history, as serving calls it: the trained sequence network's
//! forward pass in plain Rust over a copy of its weights.
//!
//! Measured on 10k items, dim 64, 50 positions, one call at a time on one core: candle's forward
//! pass took 1.2 ms per call for attention and 3.0 ms for a GRU (a graph of ~60 small tensor
//! ops, the padded 50 x 50 mask, and a one-thread pool per call so that candle does not start
//! rayon's global pool in a backend). This path skips work the answer does not need: left
//! padding (masked anyway), and every position but the last in the final block. Its products
//! go through `mkt_topk::gemm` (the gemm crate's kernels): through ndarray's matrixmultiply the
//! attention pass took 94 us against about 65 us now, of which about 40 us is the arithmetic
//! itself (1.6M multiply-adds at ~100 GFLOP/s).
//! The candle net stays the one that trains; a test checks both give the same scores.

use mkt_core::shared::Shared;
use mkt_core::{Error, Result};
use mkt_topk::gemm::{matmul, Operand};
use mkt_topk::{matmul_into, scores_into};

/// A weight matrix W (inputs x outputs, row-major) applied as `x W` to all rows of `x` at once.
#[derive(Clone)]
struct Linear {
    w: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

impl Linear {
    fn new(w: Vec<f32>, inputs: usize) -> Option<Self> {
        let outputs = w.len().checked_div(inputs)?;
        (w.len() == inputs * outputs).then_some(Linear { w, inputs, outputs })
    }

    /// Several matrices with the same inputs side by side, so that one product gives the
    /// outputs of all of them.
    fn beside(parts: &[&Linear]) -> Linear {
        let inputs = parts[0].inputs;
        let outputs = parts.iter().map(|p| p.outputs).sum();
        let mut w = Vec::with_capacity(inputs * outputs);
        for k in 0..inputs {
            for p in parts {
                w.extend_from_slice(&p.w[k * p.outputs..(k + 1) * p.outputs]);
            }
        }
        Linear { w, inputs, outputs }
    }

    /// The transpose (outputs x inputs).
    fn transposed(&self) -> Vec<f32> {
        let mut t = vec![0f32; self.w.len()];
        for k in 0..self.inputs {
            for j in 0..self.outputs {
                t[j * self.inputs + k] = self.w[k * self.outputs + j];
            }
        }
        t
    }

    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; x.len() / self.inputs * self.outputs];
        matmul_into(x, self.inputs, &self.w, self.outputs, &mut out);
        out
    }
}

/// Adds `bias` to every row of `x`.
fn add_rows(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
    }
}

/// The sum of `f` over `x` in eight lanes: a single running sum is one long chain of dependent
/// additions, which the compiler may not reorder.
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            acc[l] += f(c[l]);
        }
    }
    acc.iter().sum::<f32>() + rest.iter().map(|&v| f(v)).sum::<f32>()
}

#[derive(Clone)]
struct Norm {
    gain: Vec<f32>,
    bias: Vec<f32>,
}

impl Norm {
    /// Layer norm of every row of `x` (rows of `gain.len()`).
    fn rows(&self, x: &[f32]) -> Vec<f32> {
        let d = self.gain.len();
        let mut out = vec![0f32; x.len()];
        for (r, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            self.row(r, o);
        }
        out
    }

    /// Layer norm of one row into `out` (the arithmetic of the training net's).
    fn row(&self, x: &[f32], out: &mut [f32]) {
        let d = x.len() as f32;
        let mean = lane_sum(x, |v| v) / d;
        let var = lane_sum(x, |v| (v - mean) * (v - mean)) / d;
        let inv = 1.0 / (var + 1e-6).sqrt();
        for (((o, v), g), b) in out.iter_mut().zip(x).zip(&self.gain).zip(&self.bias) {
            *o = (v - mean) * inv * g + b;
        }
    }
}

#[derive(Clone)]
struct Block {
    attn_norm: Norm,
    wq: Linear,
    /// The key and value weights side by side: every position needs both, while only the last
    /// one's query is needed in the final block.
    wkv: Linear,
    wo: Linear,
    ffn_norm: Norm,
    w1: Linear,
    b1: Vec<f32>,
    w2: Linear,
    b2: Vec<f32>,
}

#[derive(Clone)]
struct GruLayer {
    w: Linear,
    /// The recurrent weights transposed (3d x d): one step is 3d dot products of the state.
    ut: Vec<f32>,
    bw: Vec<f32>,
    bu: Vec<f32>,
}

/// The parameters of a trained net in the layout serving reads.
#[derive(Clone)]
pub struct Inference {
    dim: usize,
    heads: usize,
    max_length: usize,
    /// n_items x dim (the padding row left out): a view of a deployed model's mapping.
    items: Shared<f32>,
    /// Attention only: max_length x dim.
    positions: Option<Vec<f32>>,
    blocks: Vec<Block>,
    gru: Vec<GruLayer>,
    out_norm: Norm,
}

/// Looks a stored parameter up by name.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<Vec<f32>>;

impl Inference {
    /// From a net's parameters (`weight(name)` as `SequenceNet::weights` names them) and its item
    /// embeddings without the padding row (`items`, n_items x dim); None when one is missing.
    pub fn new(
        dim: usize,
        heads: usize,
        max_length: usize,
        blocks: usize,
        attention: bool,
        items: Shared<f32>,
        weight: Lookup,
    ) -> Option<Self> {
        let norm = |p: &str| {
            Some(Norm {
                gain: weight(&format!("{p}.gain"))?,
                bias: weight(&format!("{p}.bias"))?,
            })
        };
        let lin = |n: &str| Linear::new(weight(n)?, dim);
        let (mut att, mut gru) = (Vec::new(), Vec::new());
        for i in 0..blocks {
            if attention {
                let p = |n: &str| format!("block{i}.{n}");
                att.push(Block {
                    attn_norm: norm(&p("attn_norm"))?,
                    wq: lin(&p("wq"))?,
                    wkv: Linear::beside(&[&lin(&p("wk"))?, &lin(&p("wv"))?]),
                    wo: lin(&p("wo"))?,
                    ffn_norm: norm(&p("ffn_norm"))?,
                    w1: lin(&p("w1"))?,
                    b1: weight(&p("b1"))?,
                    w2: lin(&p("w2"))?,
                    b2: weight(&p("b2"))?,
                });
            } else {
                let p = |n: &str| format!("gru{i}.{n}");
                gru.push(GruLayer {
                    w: lin(&p("w"))?,
                    ut: lin(&p("u"))?.transposed(),
                    bw: weight(&p("bw"))?,
                    bu: weight(&p("bu"))?,
                });
            }
        }
        Some(Inference {
            dim,
            heads,
            max_length,
            items,
            positions: if attention {
                Some(weight("positions")?)
            } else {
                None
            },
            blocks: att,
            gru,
            out_norm: norm("out_norm")?,
        })
    }

    /// Itself, once every item of `recent` is checked to be in the catalogue it scores.
    pub fn checked(&self, recent: &[u32]) -> Result<&Self> {
        let n_items = self.items.len() / self.dim;
        if recent.iter().any(|&i| i as usize >= n_items) {
            return Err(Error::InvalidParameter(
                "an item index is outside the catalogue".into(),
            ));
        }
        Ok(self)
    }

    /// Scores of every item after `recent` (item indices, oldest first; the latest
    /// `max_length` are read) into `out`.
    pub fn next_scores(&self, recent: &[u32], out: &mut Vec<f32>) {
        let h = self.query(recent);
        out.clear();
        out.resize(self.items.len() / self.dim, 0.0);
        scores_into(&self.items, self.dim, &h, out);
    }

    /// The vector whose dot product with an item's embedding is that item's score after
    /// `recent`: what an index over the item embeddings ranks with.
    pub fn query(&self, recent: &[u32]) -> Vec<f32> {
        let d = self.dim;
        let recent = &recent[recent.len().saturating_sub(self.max_length)..];
        let n = recent.len();
        // n x d, row-major.
        let mut x = vec![0f32; n * d];
        let scale = (d as f32).sqrt();
        for (t, (&i, row)) in recent.iter().zip(x.chunks_exact_mut(d)).enumerate() {
            let e = &self.items[i as usize * d..(i as usize + 1) * d];
            row.iter_mut().zip(e).for_each(|(o, e)| *o = e * scale);
            if let Some(p) = &self.positions {
                // Histories are left-padded to max_length: the latest item takes the last position.
                let at = self.max_length - n + t;
                row.iter_mut()
                    .zip(&p[at * d..(at + 1) * d])
                    .for_each(|(o, e)| *o += e);
            }
        }
        for g in &self.gru {
            x = gru_layer(g, &x, d);
        }
        if !self.blocks.is_empty() {
            x = self.attend(x);
        }
        // No history: what the padded net gives (a zero row).
        let last = match x.len() {
            0 => vec![0f32; d],
            l => x[l - d..].to_vec(),
        };
        let mut h = vec![0f32; d];
        self.out_norm.row(&last, &mut h);
        h
    }

    /// The transformer blocks over `x` (n x d); in the final block only the last position is
    /// carried on (the only one scored). Each head's attention is two small products: its
    /// queries times its keys (causal weights, softmax), then those weights times its values.
    fn attend(&self, mut x: Vec<f32>) -> Vec<f32> {
        let d = self.dim;
        let n = x.len() / d;
        if n == 0 {
            return x;
        }
        let h = self.heads;
        let dh = d / h;
        let inv = 1.0 / (dh as f32).sqrt();
        for (bi, b) in self.blocks.iter().enumerate() {
            let first = if bi + 1 == self.blocks.len() {
                n - 1
            } else {
                0
            };
            let m = n - first;
            let nrm = b.attn_norm.rows(&x);
            let kv = b.wkv.apply(&nrm);
            let q = b.wq.apply(&nrm[first * d..]);
            let mut att = vec![0f32; m * d];
            let mut weights = vec![0f32; m * n];
            for hd in 0..h {
                let c = hd * dh;
                // The head's columns are read in place: its queries, and its keys transposed.
                matmul(
                    m,
                    n,
                    dh,
                    Operand {
                        data: &q[c..],
                        row_stride: d,
                        col_stride: 1,
                    },
                    Operand {
                        data: &kv[c..],
                        row_stride: 1,
                        col_stride: 2 * d,
                    },
                    &mut weights,
                    (n, 1),
                    false,
                );
                for (i, row) in weights.chunks_exact_mut(n).enumerate() {
                    let (seen, future) = row.split_at_mut(first + i + 1);
                    let mut max = f32::NEG_INFINITY;
                    for w in seen.iter_mut() {
                        *w *= inv;
                        max = max.max(*w);
                    }
                    let mut sum = 0f32;
                    for w in seen.iter_mut() {
                        *w = (*w - max).exp();
                        sum += *w;
                    }
                    seen.iter_mut().for_each(|w| *w /= sum);
                    future.iter_mut().for_each(|w| *w = 0.0);
                }
                matmul(
                    m,
                    dh,
                    n,
                    Operand::rows(&weights, n),
                    Operand {
                        data: &kv[d + c..],
                        row_stride: 2 * d,
                        col_stride: 1,
                    },
                    &mut att[c..],
                    (d, 1),
                    false,
                );
            }
            let mut y = b.wo.apply(&att);
            y.iter_mut().zip(&x[first * d..]).for_each(|(v, r)| *v += r);
            // The position-wise feed-forward layer with its residual.
            let mut f = b.w1.apply(&b.ffn_norm.rows(&y));
            add_rows(&mut f, &b.b1);
            f.iter_mut().for_each(|z| *z = z.max(0.0));
            let g = b.w2.apply(&f);
            y.iter_mut().zip(&g).for_each(|(v, g)| *v += g);
            add_rows(&mut y, &b.b2);
            x = y;
        }
        x
    }
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// A GRU layer over `x` (n x d): its outputs at every position.
fn gru_layer(g: &GruLayer, x: &[f32], d: usize) -> Vec<f32> {
    let mut xw = g.w.apply(x);
    add_rows(&mut xw, &g.bw);
    let mut out = vec![0f32; x.len()];
    let mut h = vec![0f32; d];
    let mut hu = vec![0f32; 3 * d];
    for (xt, o) in xw.chunks_exact(3 * d).zip(out.chunks_exact_mut(d)) {
        scores_into(&g.ut, d, &h, &mut hu);
        hu.iter_mut().zip(&g.bu).for_each(|(x, b)| *x += b);
        for j in 0..d {
            let r = sigmoid(xt[j] + hu[j]);
            let z = sigmoid(xt[d + j] + hu[d + j]);
            let c = (xt[2 * d + j] + r * hu[2 * d + j]).tanh();
            h[j] = c + z * (h[j] - c);
        }
        o.copy_from_slice(&h);
    }
    out
}
