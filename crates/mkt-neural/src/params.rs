//! Hyper-parameters of the two-tower model.

use crate::device::DeviceChoice;
use mkt_core::params::Params;
use mkt_core::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Multinomial likelihood of the user's items over the whole catalogue.
    Softmax,
    /// The same over the batch's items plus `negatives` uniform samples, each logit corrected by
    /// the log of its item's popularity (the in-batch items are drawn in proportion to it).
    SampledSoftmax,
    /// Bayesian personalised ranking: each positive against `negatives` uniform samples.
    Bpr,
    /// Binary cross-entropy on positives and `negatives` uniform samples per positive.
    Bce,
}

impl Loss {
    pub const NAMES: [&'static str; 5] = ["auto", "softmax", "sampled_softmax", "bpr", "bce"];

    /// Full softmax up to this many items; 'auto' samples above it.
    pub const FULL_SOFTMAX_MAX_ITEMS: usize = 50_000;

    pub fn name(self) -> &'static str {
        match self {
            Loss::Softmax => "softmax",
            Loss::SampledSoftmax => "sampled_softmax",
            Loss::Bpr => "bpr",
            Loss::Bce => "bce",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NeuralParams {
    pub dim: usize,
    pub hidden: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// `None`: chosen from the catalogue size ('auto').
    pub loss: Option<Loss>,
    /// `None`: the loss's default (1000 per batch for sampled softmax, 4 per positive otherwise).
    pub negatives: Option<usize>,
    /// Share of each user's history hidden from the user tower in a training step.
    pub dropout: f64,
    /// Learn a per-user id embedding besides the history.
    pub user_embedding: bool,
    /// Share of users (and items) trained as if new: no history and no id, features only.
    pub cold_dropout: f64,
    pub validation: f64,
    pub patience: usize,
    pub hash_buckets: usize,
    pub seed: u64,
    pub device: DeviceChoice,
    /// A trained model whose scores the student also learns from (read by the SQL layer).
    pub teacher: Option<String>,
    /// Share of the target that comes from the teacher.
    pub teacher_weight: f64,
    /// Temperature of the softmax over the teacher's standardised scores.
    pub teacher_temperature: f64,
    /// Stop after this many batches (benchmarks; not a SQL parameter).
    pub max_steps: Option<usize>,
}

impl NeuralParams {
    pub const KEYS: [&'static str; 19] = [
        "dim",
        "hidden",
        "epochs",
        "batch_size",
        "learning_rate",
        "weight_decay",
        "loss",
        "negatives",
        "dropout",
        "user_embedding",
        "cold_dropout",
        "validation",
        "patience",
        "hash_buckets",
        "seed",
        "device",
        "teacher",
        "teacher_weight",
        "teacher_temperature",
    ];

    /// Reads the model's keys of `p` (the feature-table keys are the SQL layer's);
    /// `default_device` comes from the `mkt.device` setting.
    pub fn parse(p: &Params, default_device: &str) -> Result<Self> {
        let loss = match p.choice("loss", "auto", &Loss::NAMES)? {
            "softmax" => Some(Loss::Softmax),
            "sampled_softmax" => Some(Loss::SampledSoftmax),
            "bpr" => Some(Loss::Bpr),
            "bce" => Some(Loss::Bce),
            _ => None,
        };
        let negatives = match p.value("negatives") {
            None => None,
            Some(_) => Some(p.int("negatives", 1, 1, 1_000_000)? as usize),
        };
        let device = DeviceChoice::from_params(p, default_device)?;
        let params = NeuralParams {
            dim: p.int("dim", 64, 1, 4096)? as usize,
            hidden: p.int("hidden", 64, 1, 65_536)? as usize,
            epochs: p.int("epochs", 100, 1, 100_000)? as usize,
            batch_size: p.int("batch_size", 128, 1, 1 << 20)? as usize,
            learning_rate: p.float("learning_rate", 0.003, 1e-7, 10.0)?,
            weight_decay: p.float("weight_decay", 0.0, 0.0, 10.0)?,
            loss,
            negatives,
            dropout: p.float("dropout", 0.0, 0.0, 0.95)?,
            user_embedding: p.boolean("user_embedding", false)?,
            cold_dropout: p.float("cold_dropout", 0.1, 0.0, 0.9)?,
            validation: p.float("validation", 0.1, 0.0, 0.9)?,
            patience: p.int("patience", 20, 1, 100_000)? as usize,
            hash_buckets: p.int("hash_buckets", 4096, 1, 1 << 24)? as usize,
            seed: p.int("seed", 42, 0, i64::MAX)? as u64,
            device,
            teacher: p.text("teacher")?,
            teacher_weight: p.float("teacher_weight", 0.8, 0.0, 1.0)?,
            teacher_temperature: p.float("teacher_temperature", 1.0, 1e-3, 100.0)?,
            max_steps: None,
        };
        Ok(params)
    }

    pub fn loss_for(&self, n_items: usize) -> Loss {
        self.loss.unwrap_or(if n_items <= Loss::FULL_SOFTMAX_MAX_ITEMS {
            Loss::Softmax
        } else {
            Loss::SampledSoftmax
        })
    }

    pub fn negatives_for(&self, loss: Loss) -> usize {
        self.negatives.unwrap_or(match loss {
            Loss::SampledSoftmax => 1000,
            _ => 4,
        })
    }
}

impl Default for NeuralParams {
    fn default() -> Self {
        let p = Params::new("algorithm 'neural'", &serde_json::Value::Null, &[]).unwrap();
        Self::parse(&p, "cpu").unwrap()
    }
}

/// Builds the error for a feature table spec that is not an object with the right keys.
pub fn bad_feature_spec(which: &str, msg: &str) -> Error {
    Error::invalid(format!(
        "parameter \"{which}\" must be an object {{\"source\": ..., \"key\": ..., \"columns\": \
         [...], \"transform\": ... (optional), \"text_columns\": [...] (optional)}}: {msg}"
    ))
}
