//! The algorithms `train_recommender` accepts, their parameters and the training entry point.

use crate::als::{AlsParams, Solver};
use crate::bpr::BprParams;
use crate::ease::EaseParams;
pub use crate::feature_spec::FeatureSpec;
use crate::item_knn::KnnParams;
pub use crate::kind::Algorithm;
use crate::model::{Model, Payload};
use mkt_core::interactions::Interactions;
use mkt_core::params::Params;
use mkt_core::progress::Tick;
use mkt_core::{Error, Result};
use mkt_core::progress::EpochReport;
use mkt_neural::{Encoded, NeuralParams};
use serde_json::Value;

/// Keys of a neural model: its hyper-parameters and the two feature tables.
const NEURAL_KEYS: [&str; 21] = {
    let mut k = [""; 21];
    let mut i = 0;
    while i < NeuralParams::KEYS.len() {
        k[i] = NeuralParams::KEYS[i];
        i += 1;
    }
    k[19] = "user_features";
    k[20] = "item_features";
    k
};

/// Keys of NeuMF: the neural keys that mean something for a pointwise model.
const NEUMF_KEYS: [&str; 15] = [
    "dim",
    "hidden",
    "epochs",
    "batch_size",
    "learning_rate",
    "weight_decay",
    "negatives",
    "cold_dropout",
    "validation",
    "patience",
    "hash_buckets",
    "seed",
    "device",
    "user_features",
    "item_features",
];

/// Parameters every algorithm accepts (handled by the SQL layer, not by training).
pub const COMMON_PARAMS: [&str; 1] = ["deploy"];

/// Validated hyper-parameters of one training run.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainConfig {
    Popularity,
    Als(AlsParams),
    ItemKnn(KnnParams),
    Ease(EaseParams),
    Bpr(BprParams),
    Neural(Box<NeuralConfig>),
    NeuMf(Box<NeuralConfig>),
    Sequential(Box<crate::sequential::SequentialParams>),
}

/// A neural model's hyper-parameters and the feature tables it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuralConfig {
    pub params: NeuralParams,
    pub user_features: Option<FeatureSpec>,
    pub item_features: Option<FeatureSpec>,
}

impl NeuralConfig {
    fn parse(p: &Params, default_device: &str) -> Result<Self> {
        Ok(NeuralConfig {
            params: NeuralParams::parse(p, default_device)?,
            user_features: p
                .value("user_features")
                .map(|v| FeatureSpec::parse("user_features", v))
                .transpose()?,
            item_features: p
                .value("item_features")
                .map(|v| FeatureSpec::parse("item_features", v))
                .transpose()?,
        })
    }

    /// The config of a neural-family model (they share feature handling).
    pub fn of(config: &TrainConfig) -> Option<&NeuralConfig> {
        match config {
            TrainConfig::Neural(c) | TrainConfig::NeuMf(c) => Some(c),
            _ => None,
        }
    }
}

/// Side data a training run may use besides the interactions (features for neural models).
#[derive(Default)]
pub struct Side<'a> {
    pub users: Option<&'a Encoded>,
    pub items: Option<&'a Encoded>,
    /// A neural model's teacher, when its params name one.
    pub teacher: Option<mkt_neural::TeacherScores<'a>>,
}

impl std::fmt::Debug for Side<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Side")
            .field("users", &self.users)
            .field("items", &self.items)
            .field("teacher", &self.teacher.is_some())
            .finish()
    }
}

impl TrainConfig {
    /// Parses `params` for `algorithm`; unknown keys and out-of-range values are errors.
    /// Returns the config and the `deploy` flag.
    pub fn parse(algorithm: Algorithm, params: &Value) -> Result<(TrainConfig, bool)> {
        Self::parse_with_device(algorithm, params, "auto")
    }

    /// Like `parse`, with the device a neural model uses when `params` names none.
    pub fn parse_with_device(
        algorithm: Algorithm,
        params: &Value,
        default_device: &str,
    ) -> Result<(TrainConfig, bool)> {
        let owner = format!("algorithm '{}'", algorithm.name());
        let specific: &[&str] = match algorithm {
            Algorithm::Popularity => &[],
            Algorithm::Als => &[
                "factors",
                "regularization",
                "alpha",
                "iterations",
                "seed",
                "solver",
                "cg_steps",
            ],
            Algorithm::ItemKnn => &["neighbors", "shrinkage"],
            Algorithm::Ease => &[
                "regularization",
                "max_memory_mb",
                "time_col",
                "time_scale",
                "time_weight",
                "dropout",
                "item_features",
                "feature_weight",
                "hash_buckets",
            ],
            Algorithm::Bpr => &[
                "factors",
                "learning_rate",
                "regularization",
                "iterations",
                "seed",
            ],
            Algorithm::Neural => &NEURAL_KEYS,
            Algorithm::NeuMf => &NEUMF_KEYS,
            Algorithm::Sequential => &crate::sequential::KEYS,
        };
        let allowed: Vec<&str> = specific
            .iter()
            .chain(COMMON_PARAMS.iter())
            .copied()
            .collect();
        let p = Params::new(&owner, params, &allowed)?;
        let deploy = p.boolean("deploy", true)?;
        let config = match algorithm {
            Algorithm::Popularity => TrainConfig::Popularity,
            Algorithm::Als => TrainConfig::Als(AlsParams {
                factors: p.int("factors", 32, 1, 1024)? as usize,
                regularization: p.float("regularization", 1.0, 0.0, 1e6)? as f32,
                alpha: p.float("alpha", 5.0, 0.0, 1e6)? as f32,
                iterations: p.int("iterations", 15, 1, 10_000)? as usize,
                seed: p.int("seed", 42, 0, i64::MAX)? as u64,
                solver: match p.choice("solver", "cg", &["cg", "cholesky"])? {
                    "cholesky" => Solver::Cholesky,
                    _ => Solver::ConjugateGradient,
                },
                cg_steps: p.int("cg_steps", 3, 1, 100)? as usize,
            }),
            Algorithm::ItemKnn => TrainConfig::ItemKnn(KnnParams {
                neighbors: p.int("neighbors", 100, 1, 100_000)? as usize,
                shrinkage: p.float("shrinkage", 10.0, 0.0, 1e9)? as f32,
            }),
            Algorithm::Ease => TrainConfig::Ease(EaseParams {
                regularization: p.float("regularization", 250.0, 0.0, 1e12)?,
                max_memory_mb: p.int("max_memory_mb", 2048, 1, 1 << 30)? as usize,
                time_col: p.text("time_col")?,
                time_scale: p.float("time_scale", 300.0, 1e-6, 1e12)?,
                time_weight: p.float("time_weight", 2.0, 0.0, 1e6)?,
                dropout: p.float("dropout", 0.5, 0.0, 0.95)?,
                item_features: p
                    .value("item_features")
                    .map(|v| FeatureSpec::parse("item_features", v))
                    .transpose()?,
                feature_weight: p.float("feature_weight", 10.0, 0.0, 1e6)?,
                hash_buckets: p.int("hash_buckets", 4096, 1, 1 << 24)? as usize,
            }),
            Algorithm::Bpr => TrainConfig::Bpr(BprParams {
                factors: p.int("factors", 32, 1, 1024)? as usize,
                learning_rate: p.float("learning_rate", 0.05, 1e-6, 10.0)? as f32,
                regularization: p.float("regularization", 0.01, 0.0, 1e3)? as f32,
                iterations: p.int("iterations", 30, 1, 10_000)? as usize,
                seed: p.int("seed", 42, 0, i64::MAX)? as u64,
            }),
            Algorithm::Neural => TrainConfig::Neural(Box::new(NeuralConfig::parse(&p, default_device)?)),
            Algorithm::NeuMf => TrainConfig::NeuMf(Box::new(NeuralConfig::parse(&p, default_device)?)),
            Algorithm::Sequential => {
                TrainConfig::Sequential(Box::new(crate::sequential::SequentialParams::parse(
                    &p,
                    default_device,
                )?))
            }
        };
        Ok((config, deploy))
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            TrainConfig::Popularity => Algorithm::Popularity,
            TrainConfig::Als(_) => Algorithm::Als,
            TrainConfig::ItemKnn(_) => Algorithm::ItemKnn,
            TrainConfig::Ease(_) => Algorithm::Ease,
            TrainConfig::Bpr(_) => Algorithm::Bpr,
            TrainConfig::Neural(_) => Algorithm::Neural,
            TrainConfig::NeuMf(_) => Algorithm::NeuMf,
            TrainConfig::Sequential(_) => Algorithm::Sequential,
        }
    }

    /// Checks, before any data is read or memory taken, what can be checked from sizes alone.
    /// Roughly the bytes a fit of `data` holds at its peak: the model with its copy of the
    /// interactions and ids, and the trainer's working state (factors, transposed rows, optimiser
    /// moments, a batch's logits), so a call can refuse before allocating rather than meet the OOM
    /// killer halfway.
    pub fn memory_bytes(&self, data: &Interactions) -> u128 {
        let (nu, ni) = (data.n_users() as u128, data.n_items() as u128);
        let nnz = data.by_user.nnz() as u128;
        let model = nnz * 8 + (nu + 1) * 8 + (nu + ni) * 8 + ni * 4;
        let work = match self {
            TrainConfig::Popularity => 0,
            TrainConfig::Als(p) => (nu + ni) * p.factors as u128 * 4 + nnz * 8 + (ni + 1) * 8,
            TrainConfig::Bpr(p) => (nu + ni) * p.factors as u128 * 4,
            TrainConfig::ItemKnn(p) => {
                ni * (p.neighbors as u128).min(ni) * 8 + nnz * 8 + (ni + 1) * 8
            }
            TrainConfig::Ease(_) => crate::ease::memory_bytes(ni as usize),
            TrainConfig::Neural(c) | TrainConfig::NeuMf(c) => {
                let (d, h) = (c.params.dim as u128, c.params.hidden as u128);
                // item embeddings in and out, user ids, the towers; each with its gradient and
                // two AdamW moments
                let params = (2 * ni + nu) * (d + 1) + 4 * (d + 1) * h;
                // a batch's scores against the whole catalogue, with their softmax and gradient
                let batch = c.params.batch_size as u128 * ni * 3;
                (params * 4 + batch) * 4
            }
            TrainConfig::Sequential(p) => {
                let (d, l) = (p.net.dim as u128, p.net.max_length as u128);
                // parameters with their gradients and two AdamW moments, and a batch's logits
                // over the catalogue with their softmax and gradient
                let params = (ni + 1 + l) * d + p.net.blocks as u128 * 6 * (d * d + d);
                let width = p.net.logit_width(ni as usize) as u128;
                params * 16 + p.net.batch as u128 * l * width * 12
            }
        };
        model + work
    }

    /// Refuses (TooLarge) a fit whose `memory_bytes`, plus the `held_bytes` its feature tables
    /// already take, exceed `limit_mb`.
    pub fn check_memory(
        &self,
        data: &Interactions,
        held_bytes: u128,
        limit_mb: usize,
        setting: &str,
    ) -> Result<()> {
        let need_mb = (self.memory_bytes(data) + held_bytes).div_ceil(1 << 20);
        if need_mb > limit_mb as u128 {
            let held = match held_bytes.div_ceil(1 << 20) {
                0 => String::new(),
                mb => format!(" ({mb} MB of it for the feature tables)"),
            };
            return Err(Error::TooLarge(format!(
                "training {} on {} users x {} items ({} interactions) needs about {need_mb} MB{held}, \
                 more than {setting} = {limit_mb} MB; raise it or make the model smaller",
                self.algorithm().name(),
                data.n_users(),
                data.n_items(),
                data.by_user.nnz()
            )));
        }
        Ok(())
    }

    /// The (user, item) feature tables the model reads, if any.
    pub fn feature_specs(&self) -> (Option<&FeatureSpec>, Option<&FeatureSpec>) {
        match self {
            TrainConfig::Neural(c) | TrainConfig::NeuMf(c) => {
                (c.user_features.as_ref(), c.item_features.as_ref())
            }
            TrainConfig::Ease(p) => (None, p.item_features.as_ref()),
            TrainConfig::Sequential(p) => (None, p.item_features.as_ref()),
            _ => (None, None),
        }
    }

    /// Above this many distinct values a categorical feature is hashed into this many buckets.
    pub fn hash_buckets(&self) -> usize {
        match self {
            TrainConfig::Neural(c) | TrainConfig::NeuMf(c) => c.params.hash_buckets,
            TrainConfig::Ease(p) => p.hash_buckets,
            TrainConfig::Sequential(p) => p.hash_buckets,
            _ => 0,
        }
    }

    /// The model a neural model learns from besides the interactions, if any.
    pub fn teacher(&self) -> Option<&str> {
        match self {
            TrainConfig::Neural(c) => c.params.teacher.as_deref(),
            _ => None,
        }
    }

    /// The source column a time-aware model reads besides the ids, if any.
    pub fn time_col(&self) -> Option<&str> {
        match self {
            TrainConfig::Ease(p) => p.time_col.as_deref(),
            TrainConfig::Sequential(p) => Some(&p.time_col),
            _ => None,
        }
    }

    /// The table or view a sequential model's serving reads histories from, if any.
    pub fn history_source(&self) -> Option<&str> {
        match self {
            TrainConfig::Sequential(p) => p.history_source.as_deref(),
            _ => None,
        }
    }

    pub fn check_size(&self, n_items: usize) -> Result<()> {
        if let TrainConfig::Ease(p) = self {
            crate::ease::check_memory(n_items, p)?;
        }
        Ok(())
    }

    /// Trains on `data` using `pool` for the parallel parts; `tick` runs on the calling thread
    /// between chunks of work.
    pub fn fit(
        &self,
        data: &Interactions,
        pool: &rayon::ThreadPool,
        tick: &mut dyn Tick,
    ) -> Result<Model> {
        self.fit_with(data, &Side::default(), pool, tick, &mut |_| {})
    }

    /// `fit` with side features and a callback after each epoch of an epoch-based trainer.
    pub fn fit_with(
        &self,
        data: &Interactions,
        side: &Side,
        pool: &rayon::ThreadPool,
        tick: &mut dyn Tick,
        on_epoch: &mut dyn FnMut(&EpochReport),
    ) -> Result<Model> {
        self.check_size(data.n_items())?;
        let payload = match self {
            TrainConfig::Popularity => Payload::None,
            TrainConfig::Als(p) => {
                let (users, items) = crate::als::fit(&data.by_user, p, pool, tick);
                Payload::Factors {
                    dim: p.factors,
                    users: users.into(),
                    items: items.into(),
                }
            }
            TrainConfig::ItemKnn(p) => {
                Payload::Neighbors(crate::item_knn::fit(&data.by_user, p, pool, tick))
            }
            TrainConfig::Ease(p) => Payload::Dense(crate::ease::fit(&data.by_user, data.times.as_deref(), side.items, p, pool, tick)?.into()),
            TrainConfig::Bpr(p) => {
                let (users, items) = crate::bpr::fit(&data.by_user, p, pool, tick);
                Payload::Factors {
                    dim: p.factors,
                    users: users.into(),
                    items: items.into(),
                }
            }
            TrainConfig::Neural(c) => {
                let t = mkt_neural::fit_distilled(
                    &data.by_user,
                    side.users,
                    side.items,
                    side.teacher,
                    &c.params,
                    pool,
                    tick,
                    on_epoch,
                )?;
                Payload::Factors {
                    dim: t.dim,
                    users: t.users.into(),
                    items: t.items.into(),
                }
            }
            TrainConfig::NeuMf(c) => Payload::NeuMf(Box::new(mkt_neural::neumf::fit(
                &data.by_user,
                side.users,
                side.items,
                &c.params,
                pool,
                tick,
                on_epoch,
            )?)),
            TrainConfig::Sequential(p) => {
                Payload::Sequential(Box::new(crate::sequential::fit(
                    data, side.items, p, pool, tick, on_epoch,
                )?))
            }
        };
        Ok(Model::new(self.algorithm(), data, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn memory_estimates_grow_with_the_model_and_refuse_over_the_limit() {
        let data = mkt_demo::interactions(1);
        let bytes = |alg: Algorithm, p: serde_json::Value| {
            TrainConfig::parse(alg, &p).unwrap().0.memory_bytes(&data)
        };
        let small = bytes(Algorithm::Als, json!({"factors": 8}));
        let large = bytes(Algorithm::Als, json!({"factors": 256}));
        let users_items = (data.n_users() + data.n_items()) as u128;
        assert_eq!(large - small, users_items * (256 - 8) * 4, "the factor matrices");
        assert!(bytes(Algorithm::Popularity, json!({})) < small);
        let ni = data.n_items() as u128;
        assert!(bytes(Algorithm::Ease, json!({})) > ni * ni * 28);
        assert!(
            bytes(Algorithm::Neural, json!({"batch_size": 4096}))
                > bytes(Algorithm::Neural, json!({"batch_size": 64}))
        );
        let (cfg, _) = TrainConfig::parse(Algorithm::Als, &json!({"factors": 256})).unwrap();
        let limit = (large >> 20) as usize;
        let e = cfg.check_memory(&data, 0, limit, "mkt.max_memory_mb").unwrap_err();
        assert!(matches!(e, Error::TooLarge(_)));
        assert!(e.to_string().contains("mkt.max_memory_mb"), "{e}");
        assert!(cfg.check_memory(&data, 0, limit + 1, "mkt.max_memory_mb").is_ok());
        // What the feature tables hold counts too: a model under the limit on its own is refused
        // when its features take the rest.
        let e = cfg
            .check_memory(&data, 2 << 20, limit + 1, "mkt.max_memory_mb")
            .unwrap_err();
        assert!(e.to_string().contains("2 MB of it for the feature tables"), "{e}");
    }

    #[test]
    fn unknown_algorithm_lists_valid_ones() {
        let e = Algorithm::parse("svd").unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown algorithm \"svd\"; valid values are: popularity, als, item_knn, ease, bpr, neural, neumf, sequential"
        );
    }

    #[test]
    fn params_are_checked() {
        let (c, deploy) =
            TrainConfig::parse(Algorithm::Als, &json!({"factors": 8, "deploy": false})).unwrap();
        assert!(!deploy);
        assert!(matches!(c, TrainConfig::Als(AlsParams { factors: 8, .. })));
        let e = TrainConfig::parse(Algorithm::Popularity, &json!({"factors": 8})).unwrap_err();
        assert!(
            e.to_string().contains("valid parameters are: deploy"),
            "{e}"
        );
        assert!(TrainConfig::parse(Algorithm::Als, &json!({"factors": 0})).is_err());
        assert!(TrainConfig::parse(Algorithm::Als, &json!({"solver": "lu"})).is_err());
    }
}
