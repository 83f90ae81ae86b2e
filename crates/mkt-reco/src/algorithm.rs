//! The algorithms `train_recommender` accepts, their parameters and the training entry point.

use crate::als::{AlsParams, Solver};
use crate::bpr::BprParams;
use crate::ease::EaseParams;
use crate::item_knn::KnnParams;
use crate::model::{Model, Payload};
use mkt_core::interactions::Interactions;
use mkt_core::params::Params;
use mkt_core::progress::Tick;
use mkt_core::{Error, Result};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Popularity,
    Als,
    ItemKnn,
    Ease,
    Bpr,
}

impl Algorithm {
    pub const NAMES: [&'static str; 5] = ["popularity", "als", "item_knn", "ease", "bpr"];

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "popularity" => Ok(Algorithm::Popularity),
            "als" => Ok(Algorithm::Als),
            "item_knn" => Ok(Algorithm::ItemKnn),
            "ease" => Ok(Algorithm::Ease),
            "bpr" => Ok(Algorithm::Bpr),
            _ => Err(Error::unknown("algorithm", name, &Self::NAMES)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Popularity => "popularity",
            Algorithm::Als => "als",
            Algorithm::ItemKnn => "item_knn",
            Algorithm::Ease => "ease",
            Algorithm::Bpr => "bpr",
        }
    }
}

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
}

impl TrainConfig {
    /// Parses `params` for `algorithm`; unknown keys and out-of-range values are errors.
    /// Returns the config and the `deploy` flag.
    pub fn parse(algorithm: Algorithm, params: &Value) -> Result<(TrainConfig, bool)> {
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
            Algorithm::Ease => &["regularization", "max_memory_mb"],
            Algorithm::Bpr => &[
                "factors",
                "learning_rate",
                "regularization",
                "iterations",
                "seed",
            ],
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
            }),
            Algorithm::Bpr => TrainConfig::Bpr(BprParams {
                factors: p.int("factors", 32, 1, 1024)? as usize,
                learning_rate: p.float("learning_rate", 0.05, 1e-6, 10.0)? as f32,
                regularization: p.float("regularization", 0.01, 0.0, 1e3)? as f32,
                iterations: p.int("iterations", 30, 1, 10_000)? as usize,
                seed: p.int("seed", 42, 0, i64::MAX)? as u64,
            }),
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
        }
    }

    /// Checks, before any data is read or memory taken, what can be checked from sizes alone.
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
        self.check_size(data.n_items())?;
        let payload = match self {
            TrainConfig::Popularity => Payload::None,
            TrainConfig::Als(p) => {
                let (users, items) = crate::als::fit(&data.by_user, p, pool, tick);
                Payload::Factors {
                    dim: p.factors,
                    users,
                    items,
                }
            }
            TrainConfig::ItemKnn(p) => {
                Payload::Neighbors(crate::item_knn::fit(&data.by_user, p, pool, tick))
            }
            TrainConfig::Ease(p) => Payload::Dense(crate::ease::fit(&data.by_user, p, pool, tick)?),
            TrainConfig::Bpr(p) => {
                let (users, items) = crate::bpr::fit(&data.by_user, p, pool, tick);
                Payload::Factors {
                    dim: p.factors,
                    users,
                    items,
                }
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
    fn unknown_algorithm_lists_valid_ones() {
        let e = Algorithm::parse("svd").unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown algorithm \"svd\"; valid values are: popularity, als, item_knn, ease, bpr"
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
