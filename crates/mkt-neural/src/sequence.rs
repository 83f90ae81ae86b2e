//! A next-item model over each user's time-ordered items: SASRec-style causal self-attention, or
//! a GRU4Rec-style recurrent network.
//!
//! Items are embedded (row 0 is padding). With attention, a learned position embedding is added
//! and `blocks` pre-norm transformer blocks (multi-head causal self-attention, then a
//! position-wise feed-forward layer, each with a residual connection) read the sequence; with
//! 'gru', `blocks` stacked GRU layers read it one position at a time (order is in the recurrence,
//! so there is no position embedding). Either way the output at position t sees only items 0..=t.
//! The score of item j after position t is the output's dot product with item j's embedding
//! (input and output embeddings are tied), trained with softmax cross-entropy over the whole
//! catalogue at every position that has a next item.
//!
//! candle 0.11's fused softmax and layer norm have no backward pass (the parameters upstream of
//! them silently get no gradient), so attention uses `candle_nn::ops::softmax` and layer norm is
//! written with tensor ops; a test checks that every parameter moves after one optimiser step.
//! The GRU cell is written with tensor ops too (`ops::sigmoid` and `tanh` have backward passes),
//! so its parameters are named and stored like the others rather than kept in a `VarMap`.
//! Dropout masks come from the seeded generator, so a fit is reproducible.

use crate::features::Encoded;
use crate::net::{normal, xavier};
use crate::sequence_features::ItemSide;
use crate::sequence_serving::{Inference, Lookup};
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use mkt_core::progress::{EpochReport, Progress, Tick};
use mkt_core::rng::Rng;
use mkt_core::shared::Shared;
use mkt_core::{Error, Result};
use std::time::Instant;

type R<T> = candle_core::Result<T>;

/// Masked attention logits: far below any real score, finite so a fully masked row stays finite.
const MASKED: f32 = -1e9;

/// Catalogues above this many items train with sampled softmax unless `negatives` says otherwise
/// (measured: README, "Sampled softmax").
pub const FULL_SOFTMAX_MAX_ITEMS: usize = 10_000;
/// Uniformly drawn negatives a batch shares under sampled softmax by default.
pub const DEFAULT_NEGATIVES: usize = 2048;

/// How the sequence is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Architecture {
    /// Causal self-attention (SASRec).
    #[default]
    Attention,
    /// Gated recurrent units (GRU4Rec).
    Gru,
}

impl Architecture {
    pub const NAMES: [&'static str; 2] = ["attention", "gru"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "attention" => Some(Architecture::Attention),
            "gru" => Some(Architecture::Gru),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Architecture::Attention => "attention",
            Architecture::Gru => "gru",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SequenceConfig {
    pub architecture: Architecture,
    /// Positions read (the latest `max_length` items of a user).
    pub max_length: usize,
    /// Transformer blocks, or stacked GRU layers.
    pub blocks: usize,
    /// Attention heads (attention only).
    pub heads: usize,
    pub dim: usize,
    pub dropout: f64,
    pub learning_rate: f64,
    /// Most epochs; training stops earlier once validation loss has not improved for `patience`.
    pub epochs: usize,
    pub patience: usize,
    /// Users per mini-batch.
    pub batch: usize,
    pub seed: u64,
    /// Negatives drawn per batch for sampled softmax (0: the whole catalogue); None: full
    /// softmax up to `FULL_SOFTMAX_MAX_ITEMS` items, `DEFAULT_NEGATIVES` above.
    pub negatives: Option<usize>,
}

impl SequenceConfig {
    /// Negatives a batch draws on a catalogue of `n_items` (0: full softmax, also when the
    /// negatives would cover the catalogue anyway).
    pub fn negatives_for(&self, n_items: usize) -> usize {
        let k = self.negatives.unwrap_or(if n_items > FULL_SOFTMAX_MAX_ITEMS {
            DEFAULT_NEGATIVES
        } else {
            0
        });
        if k >= n_items {
            0
        } else {
            k
        }
    }

    /// Scores per position a training batch computes: the catalogue, or the positive and the
    /// negatives.
    pub fn logit_width(&self, n_items: usize) -> usize {
        match self.negatives_for(n_items) {
            0 => n_items,
            k => k + 1,
        }
    }

    /// The defaults for `architecture`: GRU4Rec reads with one recurrent layer, SASRec with two
    /// blocks.
    pub fn of(architecture: Architecture) -> Self {
        let d = SequenceConfig::default();
        SequenceConfig {
            architecture,
            blocks: match architecture {
                Architecture::Attention => d.blocks,
                Architecture::Gru => 1,
            },
            ..d
        }
    }
}

impl Default for SequenceConfig {
    fn default() -> Self {
        SequenceConfig {
            architecture: Architecture::Attention,
            max_length: 50,
            blocks: 2,
            heads: 1,
            dim: 64,
            dropout: 0.2,
            learning_rate: 1e-3,
            epochs: 200,
            patience: 5,
            batch: 128,
            seed: 42,
            negatives: None,
        }
    }
}

struct Norm {
    gain: Var,
    bias: Var,
}

impl Norm {
    fn new(dim: usize, dev: &Device) -> R<Self> {
        Ok(Norm {
            gain: Var::ones(dim, DType::F32, dev)?,
            bias: Var::zeros(dim, DType::F32, dev)?,
        })
    }

    /// Layer norm over the last dimension, from tensor ops (see the module comment).
    fn forward(&self, x: &Tensor) -> R<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + 1e-6)?.sqrt()?)?;
        normed
            .broadcast_mul(self.gain.as_tensor())?
            .broadcast_add(self.bias.as_tensor())
    }
}

struct Block {
    attn_norm: Norm,
    wq: Var,
    wk: Var,
    wv: Var,
    wo: Var,
    ffn_norm: Norm,
    w1: Var,
    b1: Var,
    w2: Var,
    b2: Var,
}

impl Block {
    fn new(dim: usize, rng: &mut Rng, dev: &Device) -> R<Self> {
        Ok(Block {
            attn_norm: Norm::new(dim, dev)?,
            wq: xavier(dim, dim, rng, dev)?,
            wk: xavier(dim, dim, rng, dev)?,
            wv: xavier(dim, dim, rng, dev)?,
            wo: xavier(dim, dim, rng, dev)?,
            ffn_norm: Norm::new(dim, dev)?,
            w1: xavier(dim, dim, rng, dev)?,
            b1: Var::zeros(dim, DType::F32, dev)?,
            w2: xavier(dim, dim, rng, dev)?,
            b2: Var::zeros(dim, DType::F32, dev)?,
        })
    }

    fn vars(&self) -> Vec<&Var> {
        vec![
            &self.attn_norm.gain,
            &self.attn_norm.bias,
            &self.wq,
            &self.wk,
            &self.wv,
            &self.wo,
            &self.ffn_norm.gain,
            &self.ffn_norm.bias,
            &self.w1,
            &self.b1,
            &self.w2,
            &self.b2,
        ]
    }
}

/// One GRU layer: input weights `w` and recurrent weights `u` (D, 3D) for the reset, update and
/// candidate parts, with their biases.
struct GruLayer {
    w: Var,
    u: Var,
    bw: Var,
    bu: Var,
}

impl GruLayer {
    fn new(dim: usize, rng: &mut Rng, dev: &Device) -> R<Self> {
        Ok(GruLayer {
            w: xavier(dim, 3 * dim, rng, dev)?,
            u: xavier(dim, 3 * dim, rng, dev)?,
            bw: Var::zeros(3 * dim, DType::F32, dev)?,
            bu: Var::zeros(3 * dim, DType::F32, dev)?,
        })
    }

    fn vars(&self) -> Vec<&Var> {
        vec![&self.w, &self.u, &self.bw, &self.bu]
    }

    /// Outputs (B, L, D) of the layer over `x` (B, L, D). `keep` (B, L, 1) is 0 at padding:
    /// padding is on the left, so the state stays zero until a user's first item.
    fn forward(&self, x: &Tensor, keep: &Tensor) -> R<Tensor> {
        let (rows, l, d) = x.dims3()?;
        let xw = linear(x, &self.w)?.broadcast_add(self.bw.as_tensor())?;
        let mut h = Tensor::zeros((rows, d), DType::F32, x.device())?;
        let mut outs = Vec::with_capacity(l);
        for t in 0..l {
            let xt = xw.narrow(1, t, 1)?.squeeze(1)?;
            let hu = h
                .matmul(self.u.as_tensor())?
                .broadcast_add(self.bu.as_tensor())?;
            let part = |m: &Tensor, i: usize| m.narrow(1, i * d, d);
            let r = candle_nn::ops::sigmoid(&(part(&xt, 0)? + part(&hu, 0)?)?)?;
            let z = candle_nn::ops::sigmoid(&(part(&xt, 1)? + part(&hu, 1)?)?)?;
            let n = (part(&xt, 2)? + r.mul(&part(&hu, 2)?)?)?.tanh()?;
            // h' = (1 - z) n + z h
            let next = (&n + z.mul(&(&h - &n)?)?)?;
            h = next.broadcast_mul(&keep.narrow(1, t, 1)?.squeeze(1)?)?;
            outs.push(h.clone());
        }
        Tensor::stack(&outs, 1)
    }
}

/// x (B, L, D) times w (D, D).
fn linear(x: &Tensor, w: &Var) -> R<Tensor> {
    let (b, l, d) = x.dims3()?;
    x.reshape((b * l, d))?
        .matmul(w.as_tensor())?
        .reshape((b, l, w.dim(1)?))
}

/// A stored parameter: (name, shape, values).
pub type Weight = (String, Vec<usize>, Vec<f32>);

/// A trained (or training) sequence model.
pub struct SequenceNet {
    pub n_items: usize,
    cfg: SequenceConfig,
    /// (n_items + 1, dim); row 0 is padding, row i + 1 is item i.
    items: Var,
    /// Attention only.
    positions: Option<Var>,
    blocks: Vec<Block>,
    gru: Vec<GruLayer>,
    out_norm: Norm,
    /// Item features added to the id embeddings while training; `fold_features` bakes them into
    /// `items` when training ends, so a stored model has none.
    side: Option<ItemSide>,
    dev: Device,
    /// What serving scores with, made from the parameters on the first scoring call (training
    /// never scores, so they no longer change by then).
    serving: std::sync::OnceLock<Option<Inference>>,
}

/// The serving forward pass of a net of `cfg` whose stored parameters `weight` looks up by name,
/// with `items` (n_items x dim, without the padding row) as its item embeddings: a deployed
/// model's, viewed in its mapping, serve without a copy.
pub fn serving_layout(
    cfg: &SequenceConfig,
    items: Shared<f32>,
    weight: Lookup,
) -> Option<Inference> {
    Inference::new(
        cfg.dim,
        cfg.heads,
        cfg.max_length,
        cfg.blocks,
        cfg.architecture == Architecture::Attention,
        items,
        weight,
    )
}

/// One mini-batch: left-padded inputs (item + 1, 0 = padding) and the next item at each position
/// (item + 1, 0 = none), both (B, L).
struct Batch {
    inputs: Vec<u32>,
    targets: Vec<u32>,
    rows: usize,
}

impl SequenceNet {
    pub fn new(n_items: usize, cfg: &SequenceConfig, dev: &Device) -> Result<Self> {
        let attention = cfg.architecture == Architecture::Attention;
        if cfg.dim == 0 || cfg.heads == 0 || (attention && !cfg.dim.is_multiple_of(cfg.heads)) {
            return Err(Error::InvalidParameter(format!(
                "dim ({}) must be a positive multiple of heads ({})",
                cfg.dim, cfg.heads
            )));
        }
        let mut rng = Rng::new(cfg.seed);
        let mut build = || -> R<SequenceNet> {
            Ok(SequenceNet {
                n_items,
                cfg: cfg.clone(),
                items: normal(n_items + 1, cfg.dim, 0.1, &mut rng, dev)?,
                positions: match attention {
                    true => Some(normal(cfg.max_length, cfg.dim, 0.1, &mut rng, dev)?),
                    false => None,
                },
                blocks: match attention {
                    true => (0..cfg.blocks)
                        .map(|_| Block::new(cfg.dim, &mut rng, dev))
                        .collect::<R<_>>()?,
                    false => Vec::new(),
                },
                gru: match attention {
                    true => Vec::new(),
                    false => (0..cfg.blocks)
                        .map(|_| GruLayer::new(cfg.dim, &mut rng, dev))
                        .collect::<R<_>>()?,
                },
                out_norm: Norm::new(cfg.dim, dev)?,
                side: None,
                dev: dev.clone(),
                serving: std::sync::OnceLock::new(),
            })
        };
        build().map_err(crate::compute)
    }

    fn vars(&self) -> Vec<&Var> {
        self.named_vars().into_iter().map(|(_, v)| v).collect()
    }

    /// Every parameter with the name it is stored under.
    fn named_vars(&self) -> Vec<(String, &Var)> {
        let mut v = vec![("items".to_string(), &self.items)];
        if let Some(p) = &self.positions {
            v.push(("positions".to_string(), p));
        }
        const PARTS: [&str; 12] = [
            "attn_norm.gain",
            "attn_norm.bias",
            "wq",
            "wk",
            "wv",
            "wo",
            "ffn_norm.gain",
            "ffn_norm.bias",
            "w1",
            "b1",
            "w2",
            "b2",
        ];
        for (i, b) in self.blocks.iter().enumerate() {
            v.extend(
                PARTS
                    .iter()
                    .zip(b.vars())
                    .map(|(p, var)| (format!("block{i}.{p}"), var)),
            );
        }
        for (i, g) in self.gru.iter().enumerate() {
            v.extend(
                ["w", "u", "bw", "bu"]
                    .iter()
                    .zip(g.vars())
                    .map(|(p, var)| (format!("gru{i}.{p}"), var)),
            );
        }
        v.push(("out_norm.gain".to_string(), &self.out_norm.gain));
        v.push(("out_norm.bias".to_string(), &self.out_norm.bias));
        if let Some(side) = &self.side {
            v.extend(side.vars());
        }
        v
    }

    /// Every item's embedding row (n_items + 1, dim): its id embedding plus what its features add.
    fn item_table(&self) -> R<Tensor> {
        let ids = self.items.as_tensor();
        match &self.side {
            None => Ok(ids.clone()),
            Some(side) => ids + side.table(self.n_items + 1, self.cfg.dim, &self.dev)?,
        }
    }

    /// Bakes the item features into the id embeddings: an item a training sequence held keeps
    /// id + features, one none held (its id embedding only ever learned to lose) gets its
    /// features alone. Scores are unchanged for the first; the net has no features after it.
    fn fold_features(&mut self) -> R<()> {
        let Some(side) = self.side.take() else {
            return Ok(());
        };
        let ids = self.items.as_tensor();
        let kept = ids.broadcast_mul(&side.unseen.affine(-1.0, 1.0)?)?;
        let folded = (kept + side.table(self.n_items + 1, self.cfg.dim, &self.dev)?)?;
        self.items.set(&folded)
    }

    pub fn config(&self) -> &SequenceConfig {
        &self.cfg
    }

    /// Every parameter, for storing.
    pub fn weights(&self) -> Result<Vec<Weight>> {
        let read = |v: &Var| -> R<Vec<f32>> { v.as_tensor().flatten_all()?.to_vec1() };
        self.named_vars()
            .into_iter()
            .map(|(n, v)| Ok((n, v.dims().to_vec(), read(v).map_err(crate::compute)?)))
            .collect()
    }

    /// A net of `n_items` and `cfg` with the stored `weights` (looked up by name); a missing
    /// parameter or one of another shape is an error.
    pub fn from_weights(
        n_items: usize,
        cfg: &SequenceConfig,
        weights: impl Fn(&str) -> Option<(Vec<usize>, Vec<f32>)>,
    ) -> Result<Self> {
        let net = SequenceNet::new(n_items, cfg, &Device::Cpu)?;
        for (name, var) in net.named_vars() {
            let Some((shape, data)) = weights(&name) else {
                return Err(Error::Corrupted(format!(
                    "sequence model parameter {name} is missing"
                )));
            };
            if shape != var.dims() || data.len() != var.elem_count() {
                return Err(Error::Corrupted(format!(
                    "sequence model parameter {name} has shape {shape:?}, expected {:?}",
                    var.dims()
                )));
            }
            let t = Tensor::from_vec(data, shape, &Device::Cpu).map_err(crate::compute)?;
            var.set(&t).map_err(crate::compute)?;
        }
        Ok(net)
    }

    /// The item embeddings (n_items x dim, row-major): what similar items compare.
    pub fn item_vectors(&self) -> Result<Vec<f32>> {
        let run = || -> R<Vec<f32>> {
            self.items
                .as_tensor()
                .narrow(0, 1, self.n_items)?
                .flatten_all()?
                .to_vec1()
        };
        run().map_err(crate::compute)
    }

    /// Hidden states (B, L, D) of left-padded sequences `inputs` (B x L, item + 1, 0 = padding)
    /// over `table` (`item_table`, made once per forward pass: the output scores use it too).
    /// `drop` is the dropout generator while training (None when scoring).
    fn hidden(
        &self,
        table: &Tensor,
        inputs: &[u32],
        rows: usize,
        mut drop: Option<&mut Rng>,
    ) -> R<Tensor> {
        let (l, d, h) = (self.cfg.max_length, self.cfg.dim, self.cfg.heads);
        let dh = d / h;
        let idx = Tensor::from_vec(inputs.to_vec(), rows * l, &self.dev)?;
        let keep: Vec<f32> = inputs
            .iter()
            .map(|&i| if i == 0 { 0.0 } else { 1.0 })
            .collect();
        let keep = Tensor::from_vec(keep, (rows, l, 1), &self.dev)?;
        let mut x = table
            .index_select(&idx, 0)?
            .reshape((rows, l, d))?
            .affine((d as f64).sqrt(), 0.0)?;
        if let Some(p) = &self.positions {
            x = x.broadcast_add(p.as_tensor())?;
        }
        x = self
            .dropout(&x, drop.as_deref_mut())?
            .broadcast_mul(&keep)?;
        for g in &self.gru {
            x = g.forward(&x, &keep)?;
            x = self.dropout(&x, drop.as_deref_mut())?;
        }
        if self.blocks.is_empty() {
            return self.out_norm.forward(&x);
        }
        // Position t attends to positions <= t that hold an item.
        let mut mask = vec![0f32; rows * l * l];
        for r in 0..rows {
            for t in 0..l {
                for s in 0..l {
                    if s > t || inputs[r * l + s] == 0 {
                        mask[(r * l + t) * l + s] = MASKED;
                    }
                }
            }
        }
        let mask = Tensor::from_vec(mask, (rows, 1, l, l), &self.dev)?;
        let heads = |t: Tensor| t.reshape((rows, l, h, dh))?.transpose(1, 2)?.contiguous();
        for b in &self.blocks {
            let n = b.attn_norm.forward(&x)?;
            let q = heads(linear(&n, &b.wq)?)?;
            let k = heads(linear(&n, &b.wk)?)?;
            let v = heads(linear(&n, &b.wv)?)?;
            let scores = q
                .matmul(&k.transpose(2, 3)?.contiguous()?)?
                .affine(1.0 / (dh as f64).sqrt(), 0.0)?
                .broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let out = att
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((rows, l, d))?;
            x = (x + self.dropout(&linear(&out, &b.wo)?, drop.as_deref_mut())?)?;
            let n = b.ffn_norm.forward(&x)?;
            let f = linear(&n, &b.w1)?.broadcast_add(b.b1.as_tensor())?.relu()?;
            let f = linear(&f, &b.w2)?.broadcast_add(b.b2.as_tensor())?;
            x = (x + self.dropout(&f, drop.as_deref_mut())?)?.broadcast_mul(&keep)?;
        }
        self.out_norm.forward(&x)
    }

    fn dropout(&self, x: &Tensor, rng: Option<&mut Rng>) -> R<Tensor> {
        let p = self.cfg.dropout;
        let Some(rng) = rng.filter(|_| p > 0.0) else {
            return Ok(x.clone());
        };
        let scale = (1.0 / (1.0 - p)) as f32;
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| if rng.uniform() < p { 0.0 } else { scale })
            .collect();
        x.mul(&Tensor::from_vec(mask, x.shape(), &self.dev)?)
    }

    /// The item table, the hidden states (P, dim) at the P positions of a batch that have a
    /// target, and those targets as table rows (item index + 1: row 0 is padding).
    fn at_targets(&self, b: &Batch, drop: Option<&mut Rng>) -> R<(Tensor, Tensor, Vec<u32>)> {
        let (l, d) = (self.cfg.max_length, self.cfg.dim);
        let table = self.item_table()?;
        let hidden = self
            .hidden(&table, &b.inputs, b.rows, drop)?
            .reshape((b.rows * l, d))?;
        let at: Vec<u32> = (0..b.targets.len() as u32)
            .filter(|&p| b.targets[p as usize] != 0)
            .collect();
        let rows: Vec<u32> = at.iter().map(|&p| b.targets[p as usize]).collect();
        let n = at.len();
        let picked = hidden.index_select(&Tensor::from_vec(at, n, &self.dev)?, 0)?;
        Ok((table, picked, rows))
    }

    /// Scores over the catalogue (P, n_items) at the P positions of a batch that have a target,
    /// and those targets.
    fn logits(&self, b: &Batch, drop: Option<&mut Rng>) -> R<(Tensor, Vec<u32>)> {
        let (table, picked, rows) = self.at_targets(b, drop)?;
        let wanted = rows.iter().map(|&r| r - 1).collect();
        let catalogue = table.narrow(0, 1, self.n_items)?;
        Ok((picked.matmul(&catalogue.t()?)?, wanted))
    }

    /// Mean cross-entropy of the next items of a batch (its positions with a target): over the
    /// whole catalogue, or, in training (`rng` given) on a catalogue that calls for it, over each
    /// position's next item and negatives drawn uniformly for the batch (sampled softmax).
    fn loss(&self, b: &Batch, mut rng: Option<&mut Rng>) -> R<Tensor> {
        let k = self.cfg.negatives_for(self.n_items);
        if k > 0 {
            if let Some(r) = rng.as_deref_mut() {
                let negatives = distinct_items(self.n_items, k, r);
                return self.sampled_loss(b, &negatives, rng);
            }
        }
        let (logits, wanted) = self.logits(b, rng)?;
        let n = wanted.len();
        candle_nn::loss::cross_entropy(&logits, &Tensor::from_vec(wanted, n, &self.dev)?)
    }

    /// Cross-entropy of each position's next item against `negatives` (distinct item indices,
    /// shared by the batch). A uniform draw needs no correction of the logits (every negative is
    /// equally likely); a negative that is the position's own next item is masked out.
    fn sampled_loss(&self, b: &Batch, negatives: &[u32], drop: Option<&mut Rng>) -> R<Tensor> {
        let (table, picked, wanted) = self.at_targets(b, drop)?;
        let (n, k) = (wanted.len(), negatives.len());
        let positive = table.index_select(&Tensor::from_vec(wanted.clone(), n, &self.dev)?, 0)?;
        let positive = (&picked * &positive)?.sum_keepdim(1)?;
        let rows: Vec<u32> = negatives.iter().map(|&i| i + 1).collect();
        let sampled = table.index_select(&Tensor::from_vec(rows.clone(), k, &self.dev)?, 0)?;
        let mut hits = vec![0f32; n * k];
        for (p, &w) in wanted.iter().enumerate() {
            for (j, &r) in rows.iter().enumerate() {
                if r == w {
                    hits[p * k + j] = MASKED;
                }
            }
        }
        let negative = picked
            .matmul(&sampled.t()?)?
            .add(&Tensor::from_vec(hits, (n, k), &self.dev)?)?;
        let logits = Tensor::cat(&[&positive, &negative], 1)?;
        candle_nn::loss::cross_entropy(&logits, &Tensor::zeros(n, DType::U32, &self.dev)?)
    }

    /// Scores of every item to come after `recent` (item indices, oldest first; the latest
    /// `max_length` are read), by the plain-Rust forward pass (see `sequence_serving`).
    pub fn next_scores(&self, recent: &[u32]) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        self.next_scores_into(recent, &mut out)?;
        Ok(out)
    }

    /// `next_scores` into a buffer the caller reuses.
    pub fn next_scores_into(&self, recent: &[u32], out: &mut Vec<f32>) -> Result<()> {
        self.inference(recent)?.next_scores(recent, out);
        Ok(())
    }

    /// The vector whose dot product with item i's embedding (`item_vectors` row i) is item i's
    /// score after `recent`.
    pub fn next_query(&self, recent: &[u32]) -> Result<Vec<f32>> {
        Ok(self.inference(recent)?.query(recent))
    }

    /// The serving layout of the parameters, with `items` as the item embeddings; the others are
    /// copied one at a time.
    fn build_inference(&self, items: Shared<f32>) -> Option<Inference> {
        let vars = self.named_vars();
        let lookup = |name: &str| -> Option<Vec<f32>> {
            let (_, v) = vars.iter().find(|(n, _)| n == name)?;
            v.as_tensor().flatten_all().ok()?.to_vec1().ok()
        };
        serving_layout(&self.cfg, items, &lookup)
    }

    /// The name and shape of every parameter a net of `n_items` and `cfg` stores (what
    /// `weights` gives), without making the net's item table.
    pub fn param_shapes(n_items: usize, cfg: &SequenceConfig) -> Result<Vec<(String, Vec<usize>)>> {
        let small = SequenceNet::new(0, cfg, &Device::Cpu)?;
        Ok(small
            .named_vars()
            .into_iter()
            .map(|(name, v)| {
                let shape = match name.as_str() {
                    "items" => vec![n_items + 1, cfg.dim],
                    _ => v.dims().to_vec(),
                };
                (name, shape)
            })
            .collect())
    }

    /// The serving forward pass, checking that `recent` is in the catalogue.
    fn inference(&self, recent: &[u32]) -> Result<&Inference> {
        let serving = self
            .serving
            .get_or_init(|| self.build_inference(self.item_vectors().ok()?.into()));
        match serving {
            Some(inference) => inference.checked(recent),
            None => Err(Error::Compute(
                "the sequence model's parameters could not be read for serving".into(),
            )),
        }
    }

    /// The same scores by candle's forward pass (what training runs). Outside a rayon pool it
    /// runs in a one-thread pool of its own: candle must not start the global pool in a backend.
    pub fn next_scores_candle(&self, recent: &[u32]) -> Result<Vec<f32>> {
        if rayon::current_thread_index().is_some() {
            return self.next_scores_here(recent); // inside the caller's pool already
        }
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .map_err(|e| Error::Compute(e.to_string()))?;
        one.install(|| self.next_scores_here(recent))
    }

    fn next_scores_here(&self, recent: &[u32]) -> Result<Vec<f32>> {
        let b = batch_of(&[recent], self.cfg.max_length, false);
        let run = || -> R<Vec<f32>> {
            let (l, d) = (self.cfg.max_length, self.cfg.dim);
            let table = self.item_table()?;
            let last = self
                .hidden(&table, &b.inputs, 1, None)?
                .reshape((l, d))?
                .narrow(0, l - 1, 1)?;
            let catalogue = table.narrow(0, 1, self.n_items)?;
            last.matmul(&catalogue.t()?)?
                .flatten_all()?
                .to_vec1::<f32>()
        };
        run().map_err(crate::compute)
    }
}

/// `k` distinct item indices below `n` drawn uniformly (k < n).
fn distinct_items(n: usize, k: usize, rng: &mut Rng) -> Vec<u32> {
    if 2 * k > n {
        // A partial shuffle of the whole catalogue.
        let mut all: Vec<u32> = (0..n as u32).collect();
        for i in 0..k {
            let j = i + rng.below((n - i) as u64) as usize;
            all.swap(i, j);
        }
        all.truncate(k);
        return all;
    }
    let mut seen = std::collections::HashSet::with_capacity(2 * k);
    let mut out = Vec::with_capacity(k);
    while out.len() < k {
        let i = rng.below(n as u64) as u32;
        if seen.insert(i) {
            out.push(i);
        }
    }
    out
}

/// Left-padded inputs of `seqs` and, when `with_targets`, each position's next item: a sequence
/// of n items gives inputs seq[..n-1] with targets seq[1..]; without targets all n are input.
fn batch_of(seqs: &[&[u32]], l: usize, with_targets: bool) -> Batch {
    let mut inputs = vec![0u32; seqs.len() * l];
    let mut targets = vec![0u32; seqs.len() * l];
    for (r, s) in seqs.iter().enumerate() {
        let (inp, tgt): (&[u32], &[u32]) = if with_targets && !s.is_empty() {
            (&s[..s.len() - 1], &s[1..])
        } else {
            (s, &[])
        };
        let take = inp.len().min(l);
        let pad = l - take;
        for j in 0..take {
            inputs[r * l + pad + j] = inp[inp.len() - take + j] + 1;
            if with_targets {
                targets[r * l + pad + j] = tgt[tgt.len() - take + j] + 1;
            }
        }
    }
    Batch {
        inputs,
        targets,
        rows: seqs.len(),
    }
}

/// What a fit returns besides the net.
pub struct SequenceFit {
    pub net: SequenceNet,
    pub epochs: Vec<EpochReport>,
    /// The epoch whose parameters were kept (highest validation NDCG@10).
    pub best_epoch: usize,
}

/// Trains on `sequences` (per user, item indices oldest first). Each user's last item with at
/// least three items is held out for validation (time-ordered: the model never trains on it);
/// training stops when its NDCG@10 has not improved for `patience` epochs and keeps the best
/// epoch's parameters.
/// Each batch runs inside `pool`; `tick` runs on the calling thread between batches and
/// `on_epoch` after each epoch.
/// `items` are item features aligned to the item indices (see `ItemSide`).
pub fn fit(
    sequences: &[Vec<u32>],
    n_items: usize,
    items: Option<&Encoded>,
    cfg: &SequenceConfig,
    pool: &rayon::ThreadPool,
    tick: &mut dyn Tick,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<SequenceFit> {
    fit_on(sequences, n_items, items, cfg, &Device::Cpu, pool, tick, on_epoch)
}

/// `fit` with optional item features (aligned to the item indices) on a chosen device.
#[allow(clippy::too_many_arguments)]
pub fn fit_on(
    sequences: &[Vec<u32>],
    n_items: usize,
    items: Option<&Encoded>,
    cfg: &SequenceConfig,
    dev: &Device,
    pool: &rayon::ThreadPool,
    tick: &mut dyn Tick,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<SequenceFit> {
    if sequences.iter().flatten().any(|&i| i as usize >= n_items) {
        return Err(Error::InvalidParameter(
            "an item index is outside the catalogue".into(),
        ));
    }
    let mut net = SequenceNet::new(n_items, cfg, dev)?;
    if let Some(f) = items.filter(|f| !f.is_empty()) {
        let mut seen = vec![false; n_items];
        for &i in sequences.iter().flatten() {
            seen[i as usize] = true;
        }
        let mut rng = Rng::stream(cfg.seed, 2);
        net.side = Some(
            ItemSide::new(f, n_items, &seen, cfg.dim, &mut rng, dev).map_err(crate::compute)?,
        );
    }
    let train: Vec<&[u32]> = sequences
        .iter()
        .filter(|s| s.len() >= 2)
        .map(|s| {
            if s.len() >= 3 {
                &s[..s.len() - 1]
            } else {
                &s[..]
            }
        })
        .collect();
    let valid: Vec<&[u32]> = sequences
        .iter()
        .filter(|s| s.len() >= 3)
        .map(|s| &s[..])
        .collect();
    if train.is_empty() {
        return Err(Error::InvalidParameter(
            "no user has two items in order; a sequence model needs histories".into(),
        ));
    }
    let mut opt = optimiser(&net, cfg.learning_rate).map_err(crate::compute)?;
    let mut rng = Rng::stream(cfg.seed, 1);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut epochs = Vec::new();
    let (mut best, mut best_epoch, mut best_vars) = (f64::NEG_INFINITY, 0, snapshot(&net)?);
    for epoch in 1..=cfg.epochs {
        let started = Instant::now();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut sum = 0.0;
        for (c, chunk) in order.chunks(cfg.batch.max(1)).enumerate() {
            let seqs: Vec<&[u32]> = chunk.iter().map(|&i| train[i]).collect();
            let b = batch_of(&seqs, cfg.max_length, true);
            let step = || -> R<f64> {
                let loss = net.loss(&b, Some(&mut rng))?;
                opt.backward_step(&loss)?;
                loss.to_scalar::<f32>().map(f64::from)
            };
            sum += pool.install(step).map_err(crate::compute)? * chunk.len() as f64;
            tick.tick(&Progress {
                phase: "sequence epoch",
                done: ((c + 1) * cfg.batch).min(train.len()),
                total: train.len(),
            });
        }
        let metric = pool.install(|| validation_ndcg(&net, &valid))?;
        let report = EpochReport {
            epoch,
            epochs: cfg.epochs,
            loss: sum / train.len() as f64,
            metric,
            seconds: started.elapsed().as_secs_f64(),
        };
        on_epoch(&report);
        epochs.push(report);
        // Higher is better: validation NDCG, or the negated training loss without validation users.
        let score = metric.unwrap_or(-sum);
        if score > best {
            (best, best_epoch, best_vars) = (score, epoch, snapshot(&net)?);
        } else if epoch - best_epoch >= cfg.patience {
            break;
        }
    }
    for (v, saved) in net.vars().into_iter().zip(best_vars) {
        v.set(&saved).map_err(crate::compute)?;
    }
    net.fold_features().map_err(crate::compute)?;
    Ok(SequenceFit {
        net,
        epochs,
        best_epoch,
    })
}

/// AdamW over every parameter of `net`, without weight decay.
fn optimiser(net: &SequenceNet, lr: f64) -> R<AdamW> {
    AdamW::new(
        net.vars().into_iter().cloned().collect(),
        ParamsAdamW {
            lr,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        },
    )
}

fn snapshot(net: &SequenceNet) -> Result<Vec<Tensor>> {
    net.vars()
        .into_iter()
        .map(|v| v.as_tensor().copy())
        .collect::<R<_>>()
        .map_err(crate::compute)
}

/// NDCG@10 of each validation user's last item ranked over the whole catalogue after the rest
/// (one relevant item: 1 / log2(rank + 2) within the top 10); None without such users.
fn validation_ndcg(net: &SequenceNet, valid: &[&[u32]]) -> Result<Option<f64>> {
    if valid.is_empty() {
        return Ok(None);
    }
    let l = net.cfg.max_length;
    let mut sum = 0.0;
    for chunk in valid.chunks(net.cfg.batch.max(1)) {
        let mut b = batch_of(chunk, l, true);
        // Only the last position's next item counts: the one held out of training.
        for r in 0..b.rows {
            b.targets[r * l..(r + 1) * l - 1].fill(0);
        }
        let scored = net
            .logits(&b, None)
            .and_then(|(t, w)| Ok((t.to_vec2::<f32>()?, w)));
        let (rows, wanted) = scored.map_err(crate::compute)?;
        for (row, &t) in rows.iter().zip(&wanted) {
            let s = row[t as usize];
            let rank = row.iter().filter(|&&x| x > s).count();
            if rank < 10 {
                sum += 1.0 / ((rank + 2) as f64).log2();
            }
        }
    }
    Ok(Some(sum / valid.len() as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mkt_core::progress::no_tick;

    fn small(architecture: Architecture) -> SequenceConfig {
        SequenceConfig {
            architecture,
            max_length: 6,
            blocks: 2,
            heads: 2,
            dim: 8,
            dropout: 0.0,
            learning_rate: 1e-2,
            epochs: 1,
            patience: 1,
            batch: 4,
            seed: 3,
            negatives: None,
        }
    }

    const BOTH: [Architecture; 2] = [Architecture::Attention, Architecture::Gru];

    #[test]
    fn every_parameter_moves_after_one_step() {
        for a in BOTH {
            every_parameter_moves(a);
        }
    }

    /// Two categories (item % 2), one number per item, for items 0..n.
    fn side_features(n: usize) -> Encoded {
        crate::features::FeatureTable {
            keys: mkt_core::ids::IdColumn::Int((0..n as i64).collect()),
            categorical: vec![(
                "kind".into(),
                (0..n).map(|i| Some(format!("k{}", i % 2))).collect(),
            )],
            numeric: vec![("size".into(), (0..n).map(|i| Some(i as f64)).collect())],
        }
        .encode("item", &mkt_core::ids::IdMap::Int((0..n as i64).collect::<Vec<_>>().into()), 16)
        .unwrap()
    }

    #[test]
    fn every_parameter_moves_with_item_features() {
        for a in BOTH {
            let dev = Device::Cpu;
            let mut net = SequenceNet::new(10, &small(a), &dev).unwrap();
            let mut rng = Rng::new(1);
            net.side =
                Some(ItemSide::new(&side_features(10), 10, &[true; 10], 8, &mut rng, &dev).unwrap());
            let names: Vec<String> = net.named_vars().into_iter().map(|(n, _)| n).collect();
            assert!(names.contains(&"side.cat0".into()) && names.contains(&"side.num".into()));
            every_parameter_moves_in(net, a, None);
        }
    }

    #[test]
    fn folding_the_features_keeps_seen_items_scores_and_describes_unseen_ones() {
        let dev = Device::Cpu;
        let mut net = SequenceNet::new(10, &small(Architecture::Gru), &dev).unwrap();
        let mut rng = Rng::new(1);
        let mut seen = [true; 10];
        seen[9] = false;
        net.side = Some(ItemSide::new(&side_features(10), 10, &seen, 8, &mut rng, &dev).unwrap());
        let before = net.next_scores_candle(&[1, 2, 3]).unwrap();
        let side_only = {
            let s = net.side.as_ref().unwrap();
            s.table(11, 8, &dev).unwrap().to_vec2::<f32>().unwrap()
        };
        net.fold_features().unwrap();
        assert!(net.side.is_none());
        let after = net.next_scores_candle(&[1, 2, 3]).unwrap();
        for i in 0..9 {
            assert!((before[i] - after[i]).abs() < 1e-5, "item {i}: {} vs {}", before[i], after[i]);
        }
        // The unseen item's row is what its features add, nothing of its id embedding.
        let row: Vec<f32> = net.items.as_tensor().to_vec2::<f32>().unwrap()[10].clone();
        assert_eq!(row, side_only[10]);
        assert!(net.named_vars().iter().all(|(n, _)| !n.starts_with("side.")));
    }

    #[test]
    fn an_item_no_sequence_holds_is_ranked_by_its_features() {
        // Users walk within one kind of item (item % 2); items 18 and 19 are in no sequence.
        let mut rng = Rng::new(5);
        let seqs: Vec<Vec<u32>> = (0..200)
            .map(|u| {
                (0..8)
                    .map(|_| (2 * rng.below(9) + u % 2) as u32)
                    .collect()
            })
            .collect();
        let cfg = SequenceConfig {
            epochs: 30,
            patience: 30,
            batch: 32,
            ..small(Architecture::Gru)
        };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let f = side_features(20);
        let fitted = fit(&seqs, 20, Some(&f), &cfg, &pool, &mut no_tick(), &mut |_| {}).unwrap();
        let (mut right, mut trials) = (0, 0);
        for start in 0..16u32 {
            let recent: Vec<u32> = (0..4).map(|k| (start + 2 * k) % 18).collect();
            let s = fitted.net.next_scores(&recent).unwrap();
            let own = 18 + (start % 2) as usize;
            let other = 18 + 1 - (start % 2) as usize;
            trials += 1;
            if s[own] > s[other] {
                right += 1;
            }
        }
        assert!(right >= 14, "the new item of the session's kind first in {right} of {trials}");
    }

    fn every_parameter_moves(architecture: Architecture) {
        let dev = Device::Cpu;
        let net = SequenceNet::new(10, &small(architecture), &dev).unwrap();
        every_parameter_moves_in(net, architecture, None);
    }

    /// One optimiser step on a small batch (training with `rng`); returns the loss it took.
    fn every_parameter_moves_in(
        net: SequenceNet,
        architecture: Architecture,
        rng: Option<&mut Rng>,
    ) -> f32 {
        let before: Vec<Vec<f32>> = net
            .vars()
            .iter()
            .map(|v| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
            .collect();
        let seqs: [&[u32]; 3] = [&[1, 2, 3, 4, 5, 6, 7], &[3, 4], &[9, 8, 7, 6]];
        let b = batch_of(&seqs, 6, true);
        let mut opt = optimiser(&net, 1e-2).unwrap();
        let loss = net.loss(&b, rng).unwrap();
        opt.backward_step(&loss).unwrap();
        for (i, (v, old)) in net.vars().iter().zip(&before).enumerate() {
            let new: Vec<f32> = v.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
            assert!(
                new.iter().zip(old).any(|(a, b)| a != b),
                "{architecture:?} parameter {i} did not move"
            );
        }
        loss.to_scalar::<f32>().unwrap()
    }

    #[test]
    fn serving_scores_equal_the_training_nets() {
        // dim 8 runs serving's products through their masked columns only, dim 32 through
        // their full sixteen-column tiles too.
        // Three blocks run the middle one directly; 40 positions go by three bands.
        for (a, dim) in BOTH.into_iter().flat_map(|a| [(a, 8), (a, 32)]) {
            for (blocks, heads) in [(1, 2), (2, 2), (2, 1), (3, 2)] {
                let cfg = SequenceConfig {
                    blocks,
                    dim,
                    heads,
                    max_length: 40,
                    ..small(a)
                };
                let net = SequenceNet::new(10, &cfg, &Device::Cpu).unwrap();
                // a few steps, so biases and gains are no longer their initial zeros and ones
                let mut opt = optimiser(&net, 5e-2).unwrap();
                let seqs: [&[u32]; 3] = [&[1, 2, 3, 4, 5, 6, 7], &[3, 4], &[9, 8, 7, 6]];
                for _ in 0..3 {
                    let b = batch_of(&seqs, cfg.max_length, true);
                    opt.backward_step(&net.loss(&b, None).unwrap()).unwrap();
                }
                let long: Vec<u32> = (0..45).map(|i| (i * 7 + i / 5) % 10).collect();
                let histories: [&[u32]; 7] = [&[], &[4], &[4, 9], &[1, 2, 3, 4, 5, 6], &[0, 9, 1, 8, 2, 7, 3, 6, 4], &long[..33], &long];
                let check = |projected: bool| {
                    for h in histories {
                        let fast = net.next_scores(h).unwrap();
                        let slow = net.next_scores_candle(h).unwrap();
                        assert_eq!(fast.len(), slow.len());
                        for (x, y) in fast.iter().zip(&slow) {
                            assert!(
                                (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                                "{a:?} dim {dim} blocks {blocks} projected {projected} history {h:?}: {fast:?} vs {slow:?}"
                            );
                        }
                    }
                };
                check(false);
                // the first block from its projected item rows, as a serving file gives them
                let inference = net.inference(&[]).unwrap();
                let rows = inference.first_block_items();
                assert_eq!(rows.is_some(), a == Architecture::Attention && blocks > 1);
                if let Some(rows) = rows {
                    assert!(inference.attach_first_block(rows.into()));
                    check(true);
                }
            }
        }
    }

    #[test]
    fn a_position_sees_only_the_items_before_it() {
        for a in BOTH {
            sees_only_what_came_before(a);
        }
    }

    fn sees_only_what_came_before(architecture: Architecture) {
        let net = SequenceNet::new(10, &small(architecture), &Device::Cpu).unwrap();
        let a = batch_of(&[&[1, 2, 3, 4, 5, 6]], 6, false);
        let b = batch_of(&[&[1, 2, 3, 4, 5, 9]], 6, false);
        let table = net.item_table().unwrap();
        let ha: Vec<Vec<f32>> = net
            .hidden(&table, &a.inputs, 1, None)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2()
            .unwrap();
        let hb: Vec<Vec<f32>> = net
            .hidden(&table, &b.inputs, 1, None)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2()
            .unwrap();
        assert_eq!(ha[..5], hb[..5], "earlier positions ignore a later item");
        assert_ne!(ha[5], hb[5]);
        // left padding: a short sequence scores the same whatever the padded length holds
        let short = net.next_scores(&[4, 5]).unwrap();
        assert_eq!(short.len(), 10);
        assert!(short.iter().all(|s| s.is_finite()));
    }

    #[test]
    fn batches_pad_on_the_left_and_keep_the_latest_items() {
        let b = batch_of(&[&[0, 1, 2, 3, 4, 5, 6, 7]], 4, true);
        assert_eq!(b.inputs, vec![4, 5, 6, 7]); // items 3..=6, shifted by one
        assert_eq!(b.targets, vec![5, 6, 7, 8]);
        let b = batch_of(&[&[7, 8]], 4, true);
        assert_eq!((b.inputs, b.targets), (vec![0, 0, 0, 8], vec![0, 0, 0, 9]));
    }

    #[test]
    fn attention_learns_what_comes_next_where_popularity_and_the_last_item_cannot() {
        learns_what_comes_next(Architecture::Attention);
    }

    #[test]
    fn a_gru_learns_what_comes_next_where_popularity_and_the_last_item_cannot() {
        learns_what_comes_next(Architecture::Gru);
    }

    #[test]
    fn sampled_softmax_learns_what_comes_next() {
        learns_what_comes_next_with(Architecture::Attention, Some(8));
    }

    #[test]
    fn sampled_softmax_above_the_measured_catalogue_size() {
        let auto = SequenceConfig::default();
        assert_eq!(auto.negatives_for(FULL_SOFTMAX_MAX_ITEMS), 0);
        assert_eq!(auto.negatives_for(FULL_SOFTMAX_MAX_ITEMS + 1), DEFAULT_NEGATIVES);
        assert_eq!(auto.logit_width(1_000_000), DEFAULT_NEGATIVES + 1);
        assert_eq!(auto.logit_width(500), 500);
        let full = SequenceConfig {
            negatives: Some(0),
            ..SequenceConfig::default()
        };
        assert_eq!(full.negatives_for(1_000_000), 0);
        let few = SequenceConfig {
            negatives: Some(100),
            ..SequenceConfig::default()
        };
        assert_eq!(few.negatives_for(50), 0, "as many negatives as items: the catalogue");
        assert_eq!(few.negatives_for(5000), 100);
    }

    #[test]
    fn sampled_softmax_over_every_item_is_the_full_softmax() {
        let net = SequenceNet::new(10, &small(Architecture::Attention), &Device::Cpu).unwrap();
        let seqs: [&[u32]; 3] = [&[1, 2, 3, 4, 5, 6, 7], &[3, 4], &[9, 8, 7, 6]];
        let b = batch_of(&seqs, 6, true);
        let full = net.loss(&b, None).unwrap().to_scalar::<f32>().unwrap();
        let every: Vec<u32> = (0..10).rev().collect();
        let sampled = net.sampled_loss(&b, &every, None).unwrap().to_scalar::<f32>().unwrap();
        assert!((full - sampled).abs() < 1e-5, "{full} vs {sampled}");
    }

    #[test]
    fn every_parameter_moves_under_sampled_softmax() {
        let cfg = SequenceConfig {
            negatives: Some(4),
            ..small(Architecture::Attention)
        };
        let net = SequenceNet::new(10, &cfg, &Device::Cpu).unwrap();
        let l0 = every_parameter_moves_in(net, Architecture::Attention, Some(&mut Rng::new(4)));
        // Over the positive and 4 negatives the loss starts near ln 5, not ln 10.
        assert!(l0 < 10f32.ln(), "sampled loss {l0}");
    }

    fn learns_what_comes_next(architecture: Architecture) {
        learns_what_comes_next_with(architecture, None);
    }

    fn learns_what_comes_next_with(architecture: Architecture, negatives: Option<usize>) {
        // Two walks interleaved: the next item is the one two positions back plus one, nine times
        // in ten. Every item is equally popular and the last item alone says nothing, so only
        // attention to the item before it can tell what comes next.
        let n = 30u32;
        let mut rng = Rng::new(5);
        let seqs: Vec<Vec<u32>> = (0..300)
            .map(|_| {
                let mut s = vec![rng.below(n as u64) as u32, rng.below(n as u64) as u32];
                for _ in 0..10 {
                    let back = s[s.len() - 2];
                    s.push(if rng.uniform() < 0.9 {
                        (back + 1) % n
                    } else {
                        rng.below(n as u64) as u32
                    });
                }
                s
            })
            .collect();
        let cfg = SequenceConfig {
            architecture,
            max_length: 10,
            blocks: 2,
            heads: 1,
            dim: 32,
            dropout: 0.0,
            learning_rate: 5e-3,
            epochs: 60,
            patience: 4,
            batch: 32,
            seed: 9,
            negatives,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let fit = fit(&seqs, n as usize, None, &cfg, &pool, &mut no_tick(), &mut |_| {}).unwrap();
        let ndcg: Vec<f64> = fit.epochs.iter().filter_map(|e| e.metric).collect();
        // A uniform guess scores about 0.1 NDCG@10 over 30 items.
        assert!(
            ndcg[fit.best_epoch - 1] > 0.6 && ndcg[fit.best_epoch - 1] >= ndcg[0],
            "{architecture:?} validation ndcg rose: {ndcg:?}"
        );
        let mut hits = 0;
        for a in 0..n {
            let b = (a * 7 + 3) % n;
            let s = fit
                .net
                .next_scores(&[(b + n - 1) % n, (a + n - 1) % n, b, a, (b + 1) % n])
                .unwrap();
            let best = (0..n as usize)
                .max_by(|&x, &y| s[x].total_cmp(&s[y]))
                .unwrap();
            hits += usize::from(best as u32 == (a + 1) % n);
        }
        assert!(
            hits >= 20,
            "{architecture:?}: top-1 next item right for {hits} of {n} (popularity or the last item: about 1)"
        );
    }
}
