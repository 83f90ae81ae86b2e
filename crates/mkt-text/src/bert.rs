//! A BERT encoder's forward pass (as Hugging Face's `BertModel` computes it, without dropout) in
//! plain Rust, over weights read in place from the mapped model file.
//!
//! Each text runs alone through the attention, so a batch is its texts' tokens one after another
//! with no padding: the dense layers are one matrix product over every token of the batch, and
//! attention is two small products per text and head. The matrix products run on gemm's kernels
//! (AVX-512 where the CPU has it, chosen at run time); everything else is loops that vectorise.

use std::ops::Range;

use mkt_core::{Error, Result};

use crate::bert_config::BertConfig;
use crate::gelu::gelu_in_place;
use mkt_topk::gemm::{matmul, Operand};
use crate::weights::Weights;

/// A dense layer: `out = in · weightᵀ + bias`, the weight stored `[out, in]` as PyTorch stores it.
struct Dense {
    weight: Range<usize>,
    bias: Range<usize>,
    inputs: usize,
    outputs: usize,
}

struct Norm {
    gamma: Range<usize>,
    beta: Range<usize>,
}

struct Layer {
    query: Dense,
    key: Dense,
    value: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    intermediate: Dense,
    output: Dense,
    output_norm: Norm,
}

pub struct Bert {
    config: BertConfig,
    weights: Weights,
    words: Range<usize>,
    positions: Range<usize>,
    types: Range<usize>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
}

impl Bert {
    /// Finds every tensor the forward pass reads, with its shape checked.
    pub fn new(config: BertConfig, weights: Weights) -> Result<Self> {
        let h = config.hidden;
        let dense = |name: &str, inputs: usize, outputs: usize| -> Result<Dense> {
            Ok(Dense {
                weight: weights.span(&format!("{name}.weight"), &[outputs, inputs])?,
                bias: weights.span(&format!("{name}.bias"), &[outputs])?,
                inputs,
                outputs,
            })
        };
        let norm = |name: &str| -> Result<Norm> {
            Ok(Norm {
                gamma: weights.span(&format!("{name}.weight"), &[h])?,
                beta: weights.span(&format!("{name}.bias"), &[h])?,
            })
        };
        let layers = (0..config.layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                Ok(Layer {
                    query: dense(&format!("{p}.attention.self.query"), h, h)?,
                    key: dense(&format!("{p}.attention.self.key"), h, h)?,
                    value: dense(&format!("{p}.attention.self.value"), h, h)?,
                    attention_out: dense(&format!("{p}.attention.output.dense"), h, h)?,
                    attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                    intermediate: dense(
                        &format!("{p}.intermediate.dense"),
                        h,
                        config.intermediate,
                    )?,
                    output: dense(&format!("{p}.output.dense"), config.intermediate, h)?,
                    output_norm: norm(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            words: weights.span("embeddings.word_embeddings.weight", &[config.vocab, h])?,
            positions: weights.span(
                "embeddings.position_embeddings.weight",
                &[config.max_positions, h],
            )?,
            types: weights.span(
                "embeddings.token_type_embeddings.weight",
                &[config.type_vocab, h],
            )?,
            embedding_norm: norm("embeddings.LayerNorm")?,
            layers,
            config,
            weights,
        })
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// The last hidden state of every token of `texts` (word-piece ids, each text on its own),
    /// the texts' rows one after another: `[Σ len, hidden]`.
    pub fn forward(&self, texts: &[&[u32]]) -> Result<Vec<f32>> {
        let c = &self.config;
        let h = c.hidden;
        for t in texts {
            if t.len() > c.max_positions {
                return Err(Error::Compute(format!(
                    "{} tokens, more than the model's {} positions",
                    t.len(),
                    c.max_positions
                )));
            }
            if let Some(&id) = t.iter().find(|&&id| id as usize >= c.vocab) {
                return Err(Error::Compute(format!(
                    "token id {id} is outside the vocabulary of {}",
                    c.vocab
                )));
            }
        }
        let spans: Vec<Range<usize>> = texts
            .iter()
            .scan(0, |at, t| {
                let r = *at..*at + t.len();
                *at = r.end;
                Some(r)
            })
            .collect();
        let n = spans.last().map_or(0, |r| r.end);
        let w = |r: &Range<usize>| self.weights.at(r);

        let mut x = vec![0f32; n * h];
        let (words, positions, types) = (w(&self.words), w(&self.positions), w(&self.types));
        for (t, span) in texts.iter().zip(&spans) {
            for (p, &id) in t.iter().enumerate() {
                let row = &mut x[(span.start + p) * h..][..h];
                let word = &words[id as usize * h..][..h];
                let pos = &positions[p * h..][..h];
                for (((o, a), b), c) in row.iter_mut().zip(word).zip(pos).zip(&types[..h]) {
                    *o = a + b + c;
                }
            }
        }
        self.layer_norm(&mut x, &self.embedding_norm);

        let mut q = vec![0f32; n * h];
        let mut k = vec![0f32; n * h];
        let mut v = vec![0f32; n * h];
        let mut context = vec![0f32; n * h];
        let mut attended = vec![0f32; n * h];
        let mut inner = vec![0f32; n * c.intermediate];
        let mut scores = Vec::new();
        for layer in &self.layers {
            self.dense(&layer.query, &x, &mut q);
            self.dense(&layer.key, &x, &mut k);
            self.dense(&layer.value, &x, &mut v);
            for span in &spans {
                self.attention(&q, &k, &v, span, &mut scores, &mut context);
            }
            self.dense(&layer.attention_out, &context, &mut attended);
            add(&mut attended, &x);
            self.layer_norm(&mut attended, &layer.attention_norm);
            self.dense(&layer.intermediate, &attended, &mut inner);
            gelu_in_place(&mut inner);
            self.dense(&layer.output, &inner, &mut x);
            add(&mut x, &attended);
            self.layer_norm(&mut x, &layer.output_norm);
        }
        Ok(x)
    }

    fn dense(&self, d: &Dense, input: &[f32], out: &mut [f32]) {
        let rows = input.len() / d.inputs;
        debug_assert_eq!(out.len(), rows * d.outputs);
        let bias = self.weights.at(&d.bias);
        for row in out.chunks_exact_mut(d.outputs) {
            row.copy_from_slice(bias);
        }
        // out (rows × outputs, row-major) += input (rows × inputs) · weightᵀ, weightᵀ read in
        // place: its element (i, o) is weight[o · inputs + i].
        matmul(
            rows,
            d.outputs,
            d.inputs,
            Operand::rows(input, d.inputs),
            Operand {
                data: self.weights.at(&d.weight),
                row_stride: 1,
                col_stride: d.inputs,
            },
            out,
            (d.outputs, 1),
            true,
        );
    }

    /// Scaled dot-product attention of one text's tokens, every head, into `context`.
    fn attention(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        span: &Range<usize>,
        scores: &mut Vec<f32>,
        context: &mut [f32],
    ) {
        let h = self.config.hidden;
        let d = h / self.config.heads;
        let len = span.len();
        let scale = 1.0 / (d as f32).sqrt();
        scores.resize(len * len, 0.0);
        let from = span.start * h;
        for head in 0..self.config.heads {
            let at = from + head * d;
            // scores (len × len) = q_head · k_headᵀ, both read in place (row stride: hidden).
            matmul(
                len,
                len,
                d,
                Operand {
                    data: &q[at..],
                    row_stride: h,
                    col_stride: 1,
                },
                Operand {
                    data: &k[at..],
                    row_stride: 1,
                    col_stride: h,
                },
                scores,
                (len, 1),
                false,
            );
            for row in scores.chunks_exact_mut(len) {
                softmax_scaled(row, scale);
            }
            // context_head (len × d, row stride hidden) = scores · v_head.
            matmul(
                len,
                d,
                len,
                Operand {
                    data: scores,
                    row_stride: len,
                    col_stride: 1,
                },
                Operand {
                    data: &v[at..],
                    row_stride: h,
                    col_stride: 1,
                },
                &mut context[at..],
                (h, 1),
                false,
            );
        }
    }

    fn layer_norm(&self, x: &mut [f32], norm: &Norm) {
        let (gamma, beta) = (self.weights.at(&norm.gamma), self.weights.at(&norm.beta));
        let h = self.config.hidden as f32;
        for row in x.chunks_exact_mut(self.config.hidden) {
            let mean = sum(row) / h;
            let var = row.iter().map(|a| (a - mean) * (a - mean)).sum::<f32>() / h;
            let inv = 1.0 / (var + self.config.eps).sqrt();
            for ((a, g), b) in row.iter_mut().zip(gamma).zip(beta) {
                *a = (*a - mean) * inv * g + b;
            }
        }
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// A sum in eight lanes, so it vectorises.
fn sum(xs: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = xs.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (l, a) in lanes.iter_mut().zip(c) {
            *l += a;
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// softmax(scale · row) in place.
fn softmax_scaled(row: &mut [f32], scale: f32) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &a| m.max(a));
    let mut total = 0f32;
    for a in row.iter_mut() {
        *a = ((*a - max) * scale).exp();
        total += *a;
    }
    let inv = 1.0 / total;
    for a in row.iter_mut() {
        *a *= inv;
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut row = [1.0f32, 3.0, 2.0, -50.0];
        softmax_scaled(&mut row, 0.5);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(row[1] > row[2] && row[2] > row[0] && row[3] < 1e-10);
        let e = |a: f32| (0.5 * a).exp();
        let want = e(3.0) / (e(1.0) + e(3.0) + e(2.0) + e(-50.0));
        assert!((row[1] - want).abs() < 1e-6);
    }
}
