//! all-MiniLM-L6-v2 as sentence-transformers runs it: BERT, mean pooling over the attention mask,
//! L2 normalisation (its modules.json: Transformer, Pooling(mean), Normalize), at most 256 tokens.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use mkt_core::{Error, Result};
use rayon::prelude::*;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// sentence_bert_config.json's `max_seq_length`: longer texts keep their first 254 word pieces
/// between `[CLS]` and `[SEP]`, as sentence-transformers truncates them.
pub const MAX_TOKENS: usize = 256;

/// Texts per forward pass. Texts are sorted by length first, so a batch pads little.
pub const BATCH: usize = 32;

/// The files a model folder must hold.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

pub struct TextEncoder {
    model: BertModel,
    tokenizer: Tokenizer,
    dim: usize,
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
        let config: Config =
            serde_json::from_str(&config_text).map_err(|e| corrupt("config.json", &e))?;
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
        let bytes = std::fs::read(folder.join("model.safetensors"))
            .map_err(|e| corrupt("model.safetensors", &e))?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)
            .map_err(|e| corrupt("model.safetensors", &e))?;
        let model = BertModel::load(vb, &config).map_err(|e| corrupt("model.safetensors", &e))?;
        Ok(Self {
            model,
            tokenizer,
            dim: config.hidden_size,
            folder: folder.to_path_buf(),
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
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
    /// space has nothing to encode and gets a zero vector. Tokenising and each forward pass run in
    /// `pool` (the caller's thread when None); `between_batches` runs on the caller's thread
    /// before each forward pass with the number of texts done so far, and an error from it stops
    /// the work (the extension checks for a cancel there).
    pub fn embed(
        &self,
        texts: &[&str],
        pool: Option<&rayon::ThreadPool>,
        between_batches: impl FnMut(usize) -> Result<()>,
    ) -> Result<Vec<Vec<f32>>> {
        let at_once = match pool {
            Some(p) if candle_elementwise_threads() == 1 => p.current_num_threads().max(1),
            _ => 1,
        };
        self.embed_batches(texts, pool, at_once, between_batches)
    }

    /// [`embed`](Self::embed) with `at_once` batches running side by side in `pool`, one per
    /// thread (1: one batch at a time, every thread on each of its operations).
    pub fn embed_batches(
        &self,
        texts: &[&str],
        pool: Option<&rayon::ThreadPool>,
        at_once: usize,
        mut between_batches: impl FnMut(usize) -> Result<()>,
    ) -> Result<Vec<Vec<f32>>> {
        let mut out = vec![vec![0f32; self.dim]; texts.len()];
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
        let batches: Vec<&[usize]> = order.chunks(BATCH).collect();
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

    /// Mean-pooled, normalised BERT output of equally padded rows.
    fn forward(&self, rows: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let b = rows.len();
        let width = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut ids = vec![0u32; b * width];
        let mut mask = vec![0u32; b * width];
        for (r, row) in rows.iter().enumerate() {
            ids[r * width..r * width + row.len()].copy_from_slice(row);
            mask[r * width..r * width + row.len()].fill(1);
        }
        let dev = &self.model.device;
        let ids = Tensor::from_vec(ids, (b, width), dev).map_err(compute)?;
        let mask = Tensor::from_vec(mask, (b, width), dev).map_err(compute)?;
        let types = ids.zeros_like().map_err(compute)?;
        let hidden = self
            .model
            .forward(&ids, &types, Some(&mask))
            .map_err(compute)?;
        let hidden: Vec<Vec<Vec<f32>>> = hidden.to_vec3().map_err(compute)?;
        Ok(hidden
            .iter()
            .zip(rows)
            .map(|(tokens, row)| mean_normalised(&tokens[..row.len()], self.dim))
            .collect())
    }
}

/// The threads candle's process-wide pool gives each large elementwise operation (GELU, softmax,
/// additions), as candle counts them when it first builds that pool: `CANDLE_NUM_THREADS`, else
/// `RAYON_NUM_THREADS`, else the cores. At 1 there is no such pool and each thread of the call
/// runs whole batches (156-174 against 139-146 sentences/s in alternating runs on 2 cores);
/// above 1, batches run one at a time with every thread on each operation, since two batches at
/// once would queue on that pool's single lock.
pub fn candle_elementwise_threads() -> usize {
    let from = |k: &str| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&n| n > 0)
    };
    from("CANDLE_NUM_THREADS")
        .or_else(|| from("RAYON_NUM_THREADS"))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// sentence-transformers' Pooling(mean) over the unmasked tokens, then Normalize (which divides
/// by max(norm, 1e-12)).
fn mean_normalised(tokens: &[Vec<f32>], dim: usize) -> Vec<f32> {
    let mut sum = vec![0f64; dim];
    for t in tokens {
        for (s, &x) in sum.iter_mut().zip(t) {
            *s += x as f64;
        }
    }
    let n = tokens.len().max(1) as f64;
    let norm = sum
        .iter()
        .map(|s| (s / n) * (s / n))
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    sum.iter().map(|s| (s / n / norm) as f32).collect()
}
