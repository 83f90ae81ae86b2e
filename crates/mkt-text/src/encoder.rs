//! all-MiniLM-L6-v2 as sentence-transformers runs it: BERT, mean pooling over the attention mask,
//! L2 normalisation (its modules.json: Transformer, Pooling(mean), Normalize), at most 256 tokens.

use std::path::{Path, PathBuf};

use mkt_core::{Error, Result};
use rayon::prelude::*;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::bert::Bert;
use crate::bert_config::BertConfig;
use crate::weights::Weights;

/// sentence_bert_config.json's `max_seq_length`: longer texts keep their first 254 word pieces
/// between `[CLS]` and `[SEP]`, as sentence-transformers truncates them.
pub const MAX_TOKENS: usize = 256;

/// Texts per forward pass at most: their tokens go through each dense layer as one matrix product.
/// Texts are sorted by length first, so the passes that run side by side take about as long.
pub const BATCH: usize = 32;

/// The files a model folder must hold.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

pub struct TextEncoder {
    model: Bert,
    tokenizer: Tokenizer,
    folder: PathBuf,
}

fn compute(e: impl std::fmt::Display) -> Error {
    Error::Compute(e.to_string())
}

impl TextEncoder {
    /// Reads a sentence-transformers folder (config.json, tokenizer.json, model.safetensors).
    pub fn load(folder: &Path) -> Result<Self> {
        let missing: Vec<&str> = MODEL_FILES
            .iter()
            .copied()
            .filter(|f| !folder.join(f).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingFile(format!(
                "text model folder \"{}\" lacks {}",
                folder.display(),
                missing.join(", ")
            )));
        }
        let corrupt = |f: &str, e: &dyn std::fmt::Display| {
            Error::Corrupted(format!("{}: {e}", folder.join(f).display()))
        };
        let config_text = std::fs::read_to_string(folder.join("config.json"))
            .map_err(|e| corrupt("config.json", &e))?;
        let config = BertConfig::parse(&config_text)?;
        let mut tokenizer = Tokenizer::from_file(folder.join("tokenizer.json"))
            .map_err(|e| corrupt("tokenizer.json", &e))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| corrupt("tokenizer.json", &e))?;
        tokenizer.with_padding(None);
        let weights = Weights::open(&folder.join("model.safetensors"))?;
        let model = Bert::new(config, weights)?;
        Ok(Self {
            model,
            tokenizer,
            folder: folder.to_path_buf(),
        })
    }

    pub fn dim(&self) -> usize {
        self.model.config().hidden
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Word-piece ids of each text, `[CLS]` and `[SEP]` included, truncated to [`MAX_TOKENS`].
    /// The tokenizer parallelises over texts in the current rayon pool.
    pub fn token_ids(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(compute)?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// One L2-normalised vector per text, in the order given. A text that is empty or only white
    /// space has nothing to encode and gets a zero vector. Tokenising and the forward passes run in
    /// `pool` (the caller's thread when None), one pass per thread side by side; `between_batches`
    /// runs on the caller's thread before each round of passes with the number of texts done so
    /// far, and an error from it stops the work (the extension checks for a cancel there).
    pub fn embed(
        &self,
        texts: &[&str],
        pool: Option<&rayon::ThreadPool>,
        between_batches: impl FnMut(usize) -> Result<()>,
    ) -> Result<Vec<Vec<f32>>> {
        let at_once = pool.map_or(1, |p| p.current_num_threads().max(1));
        self.embed_batches(texts, pool, at_once, between_batches)
    }

    /// [`embed`](Self::embed) with `at_once` passes running side by side in `pool`.
    pub fn embed_batches(
        &self,
        texts: &[&str],
        pool: Option<&rayon::ThreadPool>,
        at_once: usize,
        mut between_batches: impl FnMut(usize) -> Result<()>,
    ) -> Result<Vec<Vec<f32>>> {
        let mut out = vec![vec![0f32; self.dim()]; texts.len()];
        let live: Vec<usize> = (0..texts.len())
            .filter(|&i| !texts[i].trim().is_empty())
            .collect();
        if live.is_empty() {
            return Ok(out);
        }
        let live_texts: Vec<&str> = live.iter().map(|&i| texts[i]).collect();
        let ids = match pool {
            Some(p) => p.install(|| self.token_ids(&live_texts))?,
            None => self.token_ids(&live_texts)?,
        };
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&j| ids[j].len());
        // Fewer texts than would fill a pass per thread are split evenly over the threads.
        let per_pass = order.len().div_ceil(at_once.max(1)).clamp(1, BATCH);
        let batches: Vec<&[usize]> = order.chunks(per_pass).collect();
        let mut done = 0;
        for group in batches.chunks(at_once.max(1)) {
            between_batches(done)?;
            let rows_of = |chunk: &&[usize]| -> Vec<&[u32]> {
                chunk.iter().map(|&j| ids[j].as_slice()).collect()
            };
            let vectors: Vec<Vec<Vec<f32>>> = match pool {
                Some(p) => p.install(|| {
                    group
                        .par_iter()
                        .map(|chunk| self.forward(&rows_of(chunk)))
                        .collect::<Result<_>>()
                })?,
                None => group
                    .iter()
                    .map(|chunk| self.forward(&rows_of(chunk)))
                    .collect::<Result<_>>()?,
            };
            for (chunk, vs) in group.iter().zip(vectors) {
                for (&j, v) in chunk.iter().zip(vs) {
                    out[live[j]] = v;
                }
                done += chunk.len();
            }
        }
        Ok(out)
    }

    /// Mean-pooled, normalised BERT output of each text.
    fn forward(&self, rows: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let hidden = self.model.forward(rows)?;
        let dim = self.dim();
        let mut at = 0;
        Ok(rows
            .iter()
            .map(|row| {
                let tokens = &hidden[at * dim..(at + row.len()) * dim];
                at += row.len();
                mean_normalised(tokens, dim)
            })
            .collect())
    }
}

/// sentence-transformers' Pooling(mean) over the unmasked tokens, then Normalize (which divides
/// by max(norm, 1e-12)).
fn mean_normalised(tokens: &[f32], dim: usize) -> Vec<f32> {
    let mut sum = vec![0f64; dim];
    for t in tokens.chunks_exact(dim) {
        for (s, &x) in sum.iter_mut().zip(t) {
            *s += x as f64;
        }
    }
    let n = (tokens.len() / dim).max(1) as f64;
    let norm = sum
        .iter()
        .map(|s| (s / n) * (s / n))
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    sum.iter().map(|s| (s / n / norm) as f32).collect()
}
