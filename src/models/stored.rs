//! What a stored version decodes to: every model kind of the catalog, told apart by the `format`
//! its bytes carry, so caching, model files, export/import and erasure serve them all alike.

use crate::pg::error::{report, SqlResult};
use mkt_clv::model::ClvModel;
use mkt_core::names::quote_shown;
use mkt_core::shared::Backing;
use mkt_core::{Error, Result};
use mkt_predict::predictor::Predictor;
use mkt_predict::uplift_stored::Uplift;
use mkt_reco::Model;
use pgrx::pg_sys::panic::ErrorReport;
use std::sync::Arc;

#[derive(Clone)]
pub enum Stored {
    Recommender(Arc<Model>),
    CustomerValue(Arc<ClvModel>),
    Predictor(Arc<Predictor>),
    Uplift(Arc<Uplift>),
}

fn format_of(bytes: &[u8]) -> Result<String> {
    Ok(mkt_core::tensors::metadata(bytes)?
        .get("format")
        .cloned()
        .unwrap_or_default())
}

impl Stored {
    pub fn decode(bytes: &[u8]) -> Result<Stored> {
        Ok(match format_of(bytes)?.as_str() {
            mkt_clv::model::FORMAT => {
                Stored::CustomerValue(Arc::new(mkt_clv::model::decode(bytes)?))
            }
            mkt_predict::predictor::FORMAT => {
                Stored::Predictor(Arc::new(Predictor::decode(bytes)?))
            }
            mkt_predict::uplift_stored::FORMAT => Stored::Uplift(Arc::new(Uplift::decode(bytes)?)),
            _ => Stored::Recommender(Arc::new(mkt_reco::blob::decode(bytes)?)),
        })
    }

    /// Decodes bytes that stay mapped (large arrays view the mapping).
    pub fn decode_mapped(backing: Arc<dyn Backing>) -> Result<Stored> {
        Ok(match format_of(backing.bytes())?.as_str() {
            mkt_clv::model::FORMAT => {
                Stored::CustomerValue(Arc::new(mkt_clv::model::decode_mapped(backing)?))
            }
            // Small models: decoded into memory, the mapping is not kept.
            mkt_predict::predictor::FORMAT => {
                Stored::Predictor(Arc::new(Predictor::decode(backing.bytes())?))
            }
            mkt_predict::uplift_stored::FORMAT => {
                Stored::Uplift(Arc::new(Uplift::decode(backing.bytes())?))
            }
            _ => Stored::Recommender(Arc::new(mkt_reco::blob::decode_mapped(backing)?)),
        })
    }

    /// The bytes of the version's serving file: what serving derives from the stored arrays
    /// (empty for kinds that derive nothing).
    pub fn encode_serving(&self) -> Result<Vec<u8>> {
        match self {
            Stored::Recommender(m) => m.encode_serving(),
            _ => mkt_core::tensors::serialize(&[], mkt_reco::serving_file::FORMAT),
        }
    }

    /// Serves from a mapped serving file instead of deriving a private copy.
    pub fn attach_serving(&self, backing: Arc<dyn Backing>) -> Result<()> {
        match self {
            Stored::Recommender(m) => m.attach_serving(backing),
            _ => Ok(()),
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            Stored::Recommender(m) => m.heap_bytes(),
            Stored::CustomerValue(m) => m.heap_bytes(),
            Stored::Predictor(m) => m.heap_bytes(),
            Stored::Uplift(_) => 0,
        }
    }

    pub fn mapped_bytes(&self) -> usize {
        match self {
            Stored::Recommender(m) => m.mapped_bytes(),
            Stored::CustomerValue(m) => m.mapped_bytes(),
            Stored::Predictor(_) | Stored::Uplift(_) => 0,
        }
    }

    /// The algorithm or model, as mkt.model_versions names it.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Stored::Recommender(m) => m.algorithm.name(),
            Stored::CustomerValue(m) => m.kind.name(),
            Stored::Predictor(m) => m.algorithm.name(),
            Stored::Uplift(m) => m.meta.name(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Stored::Recommender(_) => "a recommender",
            Stored::CustomerValue(_) => "a customer value model",
            Stored::Predictor(_) => "a predictor",
            Stored::Uplift(_) => "an uplift model",
        }
    }

    /// The recommender, or 42809 naming what the model is instead.
    pub fn recommender(&self, name: &str) -> SqlResult<Arc<Model>> {
        match self {
            Stored::Recommender(m) => Ok(m.clone()),
            other => Err(other.wrong(name, "a recommender")),
        }
    }

    pub fn customer_value(&self, name: &str) -> SqlResult<Arc<ClvModel>> {
        match self {
            Stored::CustomerValue(m) => Ok(m.clone()),
            other => Err(other.wrong(name, "a customer value model (mkt.train_clv)")),
        }
    }

    pub fn predictor(&self, name: &str) -> SqlResult<Arc<Predictor>> {
        match self {
            Stored::Predictor(m) => Ok(m.clone()),
            other => Err(other.wrong(name, "a predictor (mkt.train_predictor)")),
        }
    }

    pub fn uplift(&self, name: &str) -> SqlResult<Arc<Uplift>> {
        match self {
            Stored::Uplift(m) => Ok(m.clone()),
            other => Err(other.wrong(name, "an uplift model (mkt.train_uplift)")),
        }
    }

    fn wrong(&self, name: &str, wanted: &str) -> ErrorReport {
        report(Error::WrongObjectType(format!(
            "model {} is {} ({}), not {wanted}",
            quote_shown(name),
            self.kind(),
            self.algorithm()
        )))
    }
}
