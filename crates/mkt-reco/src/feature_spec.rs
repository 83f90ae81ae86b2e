//! Where a model finds side features of its users or items.

use mkt_core::params::Params;
use mkt_core::Result;
use mkt_neural::params::bad_feature_spec;
use serde_json::Value;

/// Where a model finds side features: `{"source": ..., "key": ..., "columns": [...]}`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSpec {
    pub source: String,
    pub key: String,
    pub columns: Vec<String>,
    /// A stored transform (mkt.fit_transform) applied to `source` first; `columns` may name its
    /// outputs.
    pub transform: Option<String>,
}

impl FeatureSpec {
    pub const KEYS: [&'static str; 4] = ["source", "key", "columns", "transform"];

    pub(crate) fn parse(which: &str, v: &Value) -> Result<Self> {
        let owner = format!("parameter \"{which}\"");
        let p = Params::new(&owner, v, &Self::KEYS)?;
        let text = |k: &str| -> Result<String> {
            match p.value(k) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                _ => Err(bad_feature_spec(which, &format!("\"{k}\" must be a non-empty string"))),
            }
        };
        let columns = p.strings("columns")?;
        if columns.is_empty() {
            return Err(bad_feature_spec(which, "\"columns\" must name at least one column"));
        }
        let transform = match p.value("transform") {
            None => None,
            Some(_) => Some(text("transform")?),
        };
        Ok(FeatureSpec {
            source: text("source")?,
            key: text("key")?,
            columns,
            transform,
        })
    }
}
