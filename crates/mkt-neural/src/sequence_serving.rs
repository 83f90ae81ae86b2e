//! Scoring what comes next for one history, as serving calls it: the trained sequence network's
//! forward pass in plain Rust over a copy of its weights.
//!
//! Measured on 10k items, dim 64, 50 positions, one call at a time on one core: candle's forward
//! pass took 1.2 ms per call for attention and 3.0 ms for a GRU (a graph of ~60 small tensor
//! ops, the padded 50 x 50 mask, and a one-thread pool per call so that candle does not start
//! rayon's global pool in a backend). This path skips work the answer does not need:
//! - left padding (masked anyway);
//! - in the final block, every position but the last, and the keys and values of all of them:
//!   the last query meets them only through dot products, so it is taken through the key and
//!   value weights once instead (`last_attention`);
//! - in the first block, the layer norm and the products that make queries, keys and values,
//!   and the output projection of the values: they are linear in the item's and the position's
//!   embeddings apart from the norm's mean and scale, so they come from rows stored per item
//!   (`FirstBlock`);
//! - in the attention products, most of the masked (future) half (`attend`).
//!
//! Its products go through `mkt_topk::gemm` (the gemm crate's kernels; through ndarray's
//! matrixmultiply they took half as long again), and the row loops are compiled for AVX2 where
//! the CPU has it. `cargo run --release -p mkt-neural --example sequence_serving`, best of ten
//! batches: 62 us per attention forward pass with all positions' keys and values in the final
//! block, 50 us without them, 38 us with the first block's rows as well; 32 us with the values
//! through the output projection in those rows and the products by bands. A GRU's 50 steps took
//! 123 us with a libm call per gate value and the state's products as 3·dim dot products, 65 us
//! with the gates through the vectorised exponential and the products by column tiles
//! (`recurrent`).
//! The candle net stays the one that trains; a test checks both give the same scores.

use mkt_core::shared::Shared;
use mkt_core::{Error, Result};
use mkt_topk::gemm::{matmul, Operand};
use mkt_topk::{dot, matmul_into, scores_into};

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

    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; x.len() / self.inputs * self.outputs];
        matmul_into(x, self.inputs, &self.w, self.outputs, &mut out);
        out
    }
}

/// Adds `bias` to every row of `x`.
#[inline(always)]
fn add_rows(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
    }
}

/// The sum of `f` over `x` in eight lanes: a single running sum is one long chain of dependent
/// additions, which the compiler may not reorder.
#[inline(always)]
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

/// Asks the CPU for the rows of the items `recent` in `table` (rows of `width`) before they are
/// read. They are scattered over tables of megabytes that the top-k scan has just pushed out of
/// the caches, and a forward pass otherwise waits on them one row at a time: in a live call,
/// over a third of the first block's time went to the loads of its item rows. Live calls in
/// paired rounds: 2% more a second (12,865 to 13,133 and 13,108 to 13,361).
#[inline(always)]
fn prefetch_rows(table: &[f32], width: usize, recent: &[u32]) {
    #[cfg(target_arch = "x86_64")]
    for &i in recent {
        let Some(row) = table.get(i as usize * width..(i as usize + 1) * width) else {
            continue;
        };
        for line in row.chunks(16) {
            // SAFETY: a prefetch only hints at an address, here one inside `row`; it reads
            // nothing into the program and cannot fault.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    line.as_ptr() as *const i8,
                )
            };
        }
    }
}

/// e^x for x <= 0 (what the softmax takes), as Cephes' expf computes it: x = n·ln 2 + r with
/// |r| <= ln 2 / 2, a degree-7 polynomial for e^r, and 2^n put in the exponent bits; within two
/// units in the last place of libm's. Unlike a call to libm's `expf` the compiler can run it
/// eight lanes at a time: the softmax of the first block's 1,275 causal weights went from one
/// call and a store per weight to a few vector instructions per eight.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    // Below this e^x is about f32's smallest normal number: the weight is 0.
    const LOWEST: f32 = -87.336;
    let small = x < LOWEST;
    let x = x.max(LOWEST);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    // ln 2 in two parts, so that n·ln 2 is subtracted without rounding.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    if small {
        0.0
    } else {
        e * scale
    }
}

/// The softmax of `w` in place, shifted by its maximum so that no exponential overflows.
#[inline(always)]
fn softmax(w: &mut [f32]) {
    let max = w.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    w.iter_mut().for_each(|v| *v = exp_nonpositive(*v - max));
    let inv = 1.0 / lane_sum(w, |v| v);
    w.iter_mut().for_each(|v| *v *= inv);
}

/// The mean of a row and the inverse of its standard deviation as the layer norm takes them.
#[inline(always)]
fn moments(x: &[f32]) -> (f32, f32) {
    let d = x.len() as f32;
    let mean = lane_sum(x, |v| v) / d;
    let var = lane_sum(x, |v| (v - mean) * (v - mean)) / d;
    (mean, 1.0 / (var + 1e-6).sqrt())
}

#[derive(Clone)]
struct Norm {
    gain: Vec<f32>,
    bias: Vec<f32>,
}

impl Norm {
    /// Layer norm of every row of `x` (rows of `gain.len()`).
    #[inline(always)]
    fn rows(&self, x: &[f32]) -> Vec<f32> {
        let d = self.gain.len();
        let mut out = vec![0f32; x.len()];
        for (r, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            self.row(r, o);
        }
        out
    }

    /// Layer norm of one row into `out` (the arithmetic of the training net's).
    #[inline(always)]
    fn row(&self, x: &[f32], out: &mut [f32]) {
        let (mean, inv) = moments(x);
        for (((o, v), g), b) in out.iter_mut().zip(x).zip(&self.gain).zip(&self.bias) {
            *o = (v - mean) * inv * g + b;
        }
    }
}

#[derive(Clone)]
struct Block {
    attn_norm: Norm,
    /// The query, key and value weights side by side (dim x 3·dim), so that one product gives
    /// all three.
    wqkv: Linear,
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
    /// The recurrent weights (d x 3d), read by `recurrent`.
    u: Linear,
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
    /// Attention only: the first block's projections by table lookup (see `FirstBlock`).
    first: Option<FirstBlock>,
    gru: Vec<GruLayer>,
    out_norm: Norm,
}

/// The first block's queries, keys and values without its layer norm's output or its product.
/// Its input at a position is x = s·e + p (s = √dim, e the item's embedding, p the position's),
/// and LN(x)·W = ((x - μ)/σ ⊙ g + β)·W = (s·(e·G) + p·G - μ·c)/σ + β·W, with G = diag(g)·W and
/// c the column sums of G. With e·G at hand for every item a position costs 3·dim multiply-adds
/// instead of 3·dim·dim, a third of the forward pass.
///
/// The values only ever reach the rest of the block through the output projection: head h adds
/// A_h·(V_h·Wo_h) to it, where A_h are its attention weights and Wo_h its rows of Wo. V_h·Wo_h is
/// as linear in e and p as V_h, so the rows hold e·G_v,h·Wo_h (dim values a head) in place of the
/// values, and the output projection (dim·dim multiply-adds a position) is left out as well:
/// 39 to 34 us a forward pass in `cargo run --release -p mkt-neural --example sequence_serving`.
///
/// The item rows are (2 + heads)·dim values each, so they are made once per server, stored in the
/// serving file, and attached; until then the direct path runs.
#[derive(Clone)]
struct FirstBlock {
    /// diag(g)·W with the value columns of each head taken through its rows of Wo
    /// (dim x (2 + heads)·dim).
    g: Linear,
    /// p·G for every position (max_length x (2 + heads)·dim).
    positions: Vec<f32>,
    /// c ((2 + heads)·dim).
    colsum: Vec<f32>,
    /// β·W ((2 + heads)·dim).
    bias: Vec<f32>,
    /// e·G for every item (n_items x (2 + heads)·dim).
    items: std::sync::OnceLock<Shared<f32>>,
}

/// Rows of queries, keys and values (width 3·dim) as rows of queries, keys and each head's values
/// taken through its rows of `wo` (width (2 + heads)·dim).
fn through_output(rows: &[f32], wo: &Linear, heads: usize) -> Vec<f32> {
    let d = wo.outputs;
    let (dh, d3, width) = (d / heads, 3 * d, (2 + heads) * d);
    let n = rows.len() / d3;
    let mut out = vec![0f32; n * width];
    for (r, o) in rows.chunks_exact(d3).zip(out.chunks_exact_mut(width)) {
        o[..2 * d].copy_from_slice(&r[..2 * d]);
        for h in 0..heads {
            let v = &r[2 * d + h * dh..2 * d + (h + 1) * dh];
            matmul_into(v, dh, &wo.w[h * dh * d..(h + 1) * dh * d], d, &mut o[(2 + h) * d..(3 + h) * d]);
        }
    }
    out
}

impl FirstBlock {
    fn new(b: &Block, positions: &[f32], heads: usize) -> Self {
        let (w, d3) = (&b.wqkv, b.wqkv.outputs);
        let gain = &b.attn_norm.gain;
        let mut g = w.clone();
        for (row, &gk) in g.w.chunks_exact_mut(d3).zip(gain) {
            row.iter_mut().for_each(|v| *v *= gk);
        }
        let mut colsum = vec![0f32; d3];
        for row in g.w.chunks_exact(d3) {
            colsum.iter_mut().zip(row).for_each(|(c, v)| *c += v);
        }
        let out = |rows: &[f32]| through_output(rows, &b.wo, heads);
        FirstBlock {
            positions: out(&g.apply(positions)),
            bias: out(&w.apply(&b.attn_norm.bias)),
            colsum: out(&colsum),
            g: Linear {
                w: out(&g.w),
                inputs: g.inputs,
                outputs: (2 + heads) * g.inputs,
            },
            items: std::sync::OnceLock::new(),
        }
    }

    /// The rows of queries, keys and values through the output projection (n x (2 + heads)·dim)
    /// of the inputs `x` (n x dim), which are the items `recent` at positions from `at` on; None
    /// while the item rows are not attached.
    #[inline(always)]
    fn qkv(&self, x: &[f32], recent: &[u32], at: usize, scale: f32) -> Option<Vec<f32>> {
        // Dereferenced once: a mapped array's deref is a call through its backing.
        let items: &[f32] = self.items.get()?;
        let (d, d3) = (self.g.inputs, self.g.outputs);
        let mut out = vec![0f32; recent.len() * d3];
        for (t, ((&i, xt), o)) in recent
            .iter()
            .zip(x.chunks_exact(d))
            .zip(out.chunks_exact_mut(d3))
            .enumerate()
        {
            let (mean, inv) = moments(xt);
            let e = &items[i as usize * d3..(i as usize + 1) * d3];
            let p = &self.positions[(at + t) * d3..(at + t + 1) * d3];
            for ((((o, e), p), c), b) in o.iter_mut().zip(e).zip(p).zip(&self.colsum).zip(&self.bias) {
                *o = (scale * e + p - mean * c) * inv + b;
            }
        }
        Some(out)
    }
}

/// Positions per band of the first blocks' attention products (see `attend`).
const BAND: usize = 16;

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
                    wqkv: Linear::beside(&[&lin(&p("wq"))?, &lin(&p("wk"))?, &lin(&p("wv"))?]),
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
                    u: lin(&p("u"))?,
                    bw: weight(&p("bw"))?,
                    bu: weight(&p("bu"))?,
                });
            }
        }
        let positions = if attention {
            Some(weight("positions")?)
        } else {
            None
        };
        Some(Inference {
            dim,
            heads,
            max_length,
            items,
            // A single block is the final one, which needs the last position only.
            first: match (&att[..], &positions) {
                ([b, _, ..], Some(p)) => Some(FirstBlock::new(b, p, heads)),
                _ => None,
            },
            positions,
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
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has the feature the function is compiled for.
            return unsafe { self.query_avx2(recent) };
        }
        self.query_here(recent)
    }

    /// `query` compiled for AVX2: the layer norms, the first block's projected rows and the
    /// last position's attention are short loops over 64-wide rows that the baseline target
    /// runs four lanes at a time (measured: 43 to 39 us a forward pass).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn query_avx2(&self, recent: &[u32]) -> Vec<f32> {
        self.query_here(recent)
    }

    #[inline(always)]
    fn query_here(&self, recent: &[u32]) -> Vec<f32> {
        let d = self.dim;
        let recent = &recent[recent.len().saturating_sub(self.max_length)..];
        let n = recent.len();
        // n x d, row-major.
        let mut x = vec![0f32; n * d];
        let scale = (d as f32).sqrt();
        // Dereferenced once: a mapped array's deref is a call through its backing.
        let items: &[f32] = &self.items;
        prefetch_rows(items, d, recent);
        if let Some(f) = self.first.as_ref() {
            if let Some(rows) = f.items.get() {
                prefetch_rows(rows, f.g.outputs, recent);
            }
        }
        for (t, (&i, row)) in recent.iter().zip(x.chunks_exact_mut(d)).enumerate() {
            let e = &items[i as usize * d..(i as usize + 1) * d];
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
            x = self.attend(x, recent);
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

    /// The transformer blocks over `x` (n x d, the inputs of the items `recent`); in the final
    /// block only the last position is carried on (the only one scored). Each head's attention is
    /// two small products: its queries times its keys (causal weights, softmax), then those
    /// weights times its values. Both go by bands of `BAND` positions, each against the keys up to
    /// its last position only, so the products skip most of the masked (future) half.
    #[inline(always)]
    fn attend(&self, mut x: Vec<f32>, recent: &[u32]) -> Vec<f32> {
        let d = self.dim;
        let n = x.len() / d;
        if n == 0 {
            return x;
        }
        let h = self.heads;
        let dh = d / h;
        let inv = 1.0 / (dh as f32).sqrt();
        for (bi, b) in self.blocks.iter().enumerate() {
            if bi + 1 == self.blocks.len() {
                let att = last_attention(b, &b.attn_norm.rows(&x), n, h, inv);
                x = b.feed_forward(&att, &x[(n - 1) * d..]);
                break;
            }
            let projected = match (bi, &self.first) {
                (0, Some(f)) => f.qkv(&x, recent, self.max_length - n, (d as f32).sqrt()),
                _ => None,
            };
            // Through the output projection already (`FirstBlock`): each head's values are dim
            // wide and the heads' products add up; otherwise each head fills its own columns.
            let through = projected.is_some();
            let qkv = projected.unwrap_or_else(|| b.wqkv.apply(&b.attn_norm.rows(&x)));
            let width = qkv.len() / n;
            let mut att = vec![0f32; n * d];
            let mut weights = vec![0f32; n * n];
            for hd in 0..h {
                let c = hd * dh;
                let (values, value_width, out_col) = match through {
                    true => (2 * d + hd * d, d, 0),
                    false => (2 * d + c, dh, c),
                };
                for r0 in (0..n).step_by(BAND) {
                    let r1 = (r0 + BAND).min(n);
                    // Rows r0..r1 of the weights, against keys 0..r1, read in place: the head's
                    // queries, and its keys transposed.
                    matmul(
                        r1 - r0,
                        r1,
                        dh,
                        Operand {
                            data: &qkv[r0 * width + c..],
                            row_stride: width,
                            col_stride: 1,
                        },
                        Operand {
                            data: &qkv[d + c..],
                            row_stride: 1,
                            col_stride: width,
                        },
                        &mut weights[r0 * n..],
                        (n, 1),
                        false,
                    );
                    for i in r0..r1 {
                        let row = &mut weights[i * n..i * n + r1];
                        let (seen, future) = row.split_at_mut(i + 1);
                        seen.iter_mut().for_each(|w| *w *= inv);
                        softmax(seen);
                        future.iter_mut().for_each(|w| *w = 0.0);
                    }
                    matmul(
                        r1 - r0,
                        value_width,
                        r1,
                        Operand::rows(&weights[r0 * n..], n),
                        Operand {
                            data: &qkv[values..],
                            row_stride: width,
                            col_stride: 1,
                        },
                        &mut att[r0 * d + out_col..],
                        (d, 1),
                        through && hd > 0,
                    );
                }
            }
            x = match through {
                true => {
                    att.iter_mut().zip(&x).for_each(|(v, r)| *v += r);
                    b.feed_forward_from(att)
                }
                false => b.feed_forward(&att, &x),
            };
        }
        x
    }

    /// The first block's projection of every item (n_items x (2 + heads)·dim), which the serving file
    /// stores; None for a model without attention blocks.
    pub fn first_block_items(&self) -> Option<Vec<f32>> {
        let f = self.first.as_ref()?;
        Some(f.g.apply(&self.items))
    }

    /// The length `first_block_items` has (0 for a model without attention blocks).
    pub fn first_block_len(&self) -> usize {
        self.first
            .as_ref()
            .map_or(0, |f| self.items.len() / self.dim * f.g.outputs)
    }

    /// (private, mapped) bytes of the attached first-block rows.
    pub fn first_block_bytes(&self) -> (usize, usize) {
        match self.first.as_ref().and_then(|f| f.items.get()) {
            Some(rows) => (rows.heap_bytes(), rows.mapped_bytes()),
            None => (0, 0),
        }
    }

    /// Serves the first block from `rows` (what `first_block_items` gave, usually a view of the
    /// serving file's mapping); false, and nothing changes, when the length is not the model's.
    pub fn attach_first_block(&self, rows: Shared<f32>) -> bool {
        match &self.first {
            Some(f) if rows.len() == self.first_block_len() => {
                let _ = f.items.set(rows);
                true
            }
            _ => false,
        }
    }
}

impl Block {
    /// The rest of the block after attention (`att`, rows of dim) over its input `x`: the output
    /// projection with its residual, then the position-wise feed-forward layer with its own.
    #[inline(always)]
    fn feed_forward(&self, att: &[f32], x: &[f32]) -> Vec<f32> {
        let mut y = self.wo.apply(att);
        y.iter_mut().zip(x).for_each(|(v, r)| *v += r);
        self.feed_forward_from(y)
    }

    /// The position-wise feed-forward layer with its residual over `y`, the attention's output
    /// projection plus the block's input.
    #[inline(always)]
    fn feed_forward_from(&self, mut y: Vec<f32>) -> Vec<f32> {
        let mut f = self.w1.apply(&self.ffn_norm.rows(&y));
        add_rows(&mut f, &self.b1);
        f.iter_mut().for_each(|z| *z = z.max(0.0));
        let g = self.w2.apply(&f);
        y.iter_mut().zip(&g).for_each(|(v, g)| *v += g);
        add_rows(&mut y, &self.b2);
        y
    }
}

/// The attention output of the last position alone (dim values) from the normalised inputs
/// `nrm` (n x dim). Its query meets the keys only through dot products, so each head's query is
/// taken through the key weights once (q Wkᵀ, dim values) and met with the inputs themselves;
/// likewise the values are the weighted sum of the inputs taken through Wv once. That is
/// 4·dim·dim + 2·n·dim multiply-adds per head's share instead of projecting keys and values at
/// every position (2·n·dim·dim): the same numbers up to rounding.
#[inline(always)]
fn last_attention(b: &Block, nrm: &[f32], n: usize, heads: usize, inv: f32) -> Vec<f32> {
    let d = nrm.len() / n;
    let dh = d / heads;
    let last = &nrm[(n - 1) * d..];
    // Row k of wqkv: the query, key and value weights of input k (d each).
    let w = &b.wqkv.w;
    let mut q = vec![0f32; d];
    for (k, &v) in last.iter().enumerate() {
        q.iter_mut().zip(&w[k * 3 * d..k * 3 * d + d]).for_each(|(o, w)| *o += v * w);
    }
    let mut att = vec![0f32; d];
    let mut qk = vec![0f32; d];
    let mut a = vec![0f32; n];
    let mut mix = vec![0f32; d];
    for hd in 0..heads {
        let c = hd * dh;
        for (k, o) in qk.iter_mut().enumerate() {
            *o = dot(&w[k * 3 * d + d + c..k * 3 * d + d + c + dh], &q[c..c + dh]) * inv;
        }
        for (t, o) in a.iter_mut().enumerate() {
            *o = dot(&nrm[t * d..(t + 1) * d], &qk);
        }
        softmax(&mut a);
        mix.fill(0.0);
        for (t, &a) in a.iter().enumerate() {
            mix.iter_mut()
                .zip(&nrm[t * d..(t + 1) * d])
                .for_each(|(m, v)| *m += a * v);
        }
        for (k, &s) in mix.iter().enumerate() {
            let row = &w[k * 3 * d + 2 * d + c..k * 3 * d + 2 * d + c + dh];
            att[c..c + dh].iter_mut().zip(row).for_each(|(o, v)| *o += s * v);
        }
    }
    att
}

/// The logistic function through `exp_nonpositive`, so that the gates of a step run eight lanes
/// at a time instead of a libm call each.
#[inline(always)]
fn sigmoid(v: f32) -> f32 {
    let e = exp_nonpositive(-v.abs());
    let inv = 1.0 / (1.0 + e);
    if v >= 0.0 {
        inv
    } else {
        e * inv
    }
}

/// tanh through `exp_nonpositive` (as `sigmoid`): (1 - t)/(1 + t) with t = e^(-2|v|), or its
/// series near 0, where 1 - t would lose the digits that matter.
#[inline(always)]
fn tanh(v: f32) -> f32 {
    let a = v.abs();
    let t = exp_nonpositive(-2.0 * a);
    let far = (1.0 - t) / (1.0 + t);
    let a2 = a * a;
    let near = a * (1.0 + a2 * (-1.0 / 3.0 + a2 * (2.0 / 15.0 - a2 * (17.0 / 315.0))));
    let m = if a < 0.0625 { near } else { far };
    if v < 0.0 {
        -m
    } else {
        m
    }
}

/// `out = bias + h·u` (u: h.len() x out.len(), row-major) by column tiles of 32 whose sums stay in
/// registers while every row adds to them: summing whole rows into `out` loads and stores all of
/// it once per row.
#[inline(always)]
fn recurrent(u: &[f32], h: &[f32], bias: &[f32], out: &mut [f32]) {
    const TILE: usize = 32;
    let width = out.len();
    let tiles = width / TILE * TILE;
    for c0 in (0..tiles).step_by(TILE) {
        let mut acc = [0f32; TILE];
        acc.copy_from_slice(&bias[c0..c0 + TILE]);
        for (k, &hk) in h.iter().enumerate() {
            let row = &u[k * width + c0..k * width + c0 + TILE];
            for l in 0..TILE {
                acc[l] += hk * row[l];
            }
        }
        out[c0..c0 + TILE].copy_from_slice(&acc);
    }
    out[tiles..].copy_from_slice(&bias[tiles..]);
    for (k, &hk) in h.iter().enumerate() {
        let row = &u[k * width + tiles..(k + 1) * width];
        out[tiles..].iter_mut().zip(row).for_each(|(o, w)| *o += hk * w);
    }
}

/// A GRU layer over the rows of `x` (n x d), as the training net's: each step's gates from the
/// inputs' products (made for all steps at once) and the state's.
#[inline(always)]
fn gru_layer(g: &GruLayer, x: &[f32], d: usize) -> Vec<f32> {
    let mut xw = g.w.apply(x);
    add_rows(&mut xw, &g.bw);
    let mut out = vec![0f32; x.len()];
    let mut h = vec![0f32; d];
    let mut hu = vec![0f32; 3 * d];
    let (mut r, mut z) = (vec![0f32; d], vec![0f32; d]);
    for (xt, o) in xw.chunks_exact(3 * d).zip(out.chunks_exact_mut(d)) {
        recurrent(&g.u.w, &h, &g.bu, &mut hu);
        for j in 0..d {
            r[j] = sigmoid(xt[j] + hu[j]);
            z[j] = sigmoid(xt[d + j] + hu[d + j]);
        }
        for j in 0..d {
            let c = tanh(xt[2 * d + j] + r[j] * hu[2 * d + j]);
            h[j] = c + z[j] * (h[j] - c);
        }
        o.copy_from_slice(&h);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulps_of_the_exact_value() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -90.0 * i as f32 / 200_000.0;
            let got = exp_nonpositive(x) as f64;
            let want = (x as f64).exp();
            if x < -87.336 {
                assert!(got <= 2.0 * f32::MIN_POSITIVE as f64, "x = {x}");
                continue;
            }
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 2.5e-7, "largest relative error {worst}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        let (mut worst_s, mut worst_t) = (0f64, 0f64);
        for i in -200_000..=200_000 {
            let v = 20.0 * i as f32 / 200_000.0;
            let s = 1.0 / (1.0 + (-(v as f64)).exp());
            worst_s = worst_s.max((sigmoid(v) as f64 - s).abs() / s);
            let t = (v as f64).tanh();
            if t != 0.0 {
                worst_t = worst_t.max((tanh(v) as f64 - t).abs() / t.abs());
            }
        }
        assert!(worst_s < 5e-7 && worst_t < 1e-6, "sigmoid {worst_s}, tanh {worst_t}");
        assert_eq!((tanh(0.0), tanh(-0.0), sigmoid(0.0)), (0.0, 0.0, 0.5));
        assert!(tanh(-40.0) == -1.0 && sigmoid(-100.0) >= 0.0 && sigmoid(100.0) == 1.0);
        let mut w = [0.5f32, -3.0, 2.0, 2.0, -80.0];
        softmax(&mut w);
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6 && w[2] == w[3] && w[4] > 0.0);
    }
}
