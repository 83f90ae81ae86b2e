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
    /// Text columns, each turned into the 384 numbers of its sentence embedding (mkt.embed).
    pub text_columns: Vec<String>,
}

impl FeatureSpec {
    pub const KEYS: [&'static str; 5] = ["source", "key", "columns", "transform", "text_columns"];

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
        let text_columns = p.strings("text_columns")?;
        if columns.is_empty() && text_columns.is_empty() {
            return Err(bad_feature_spec(
                which,
                "\"columns\" or \"text_columns\" must name at least one column",
            ));
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
            text_columns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_columns_may_stand_alone_but_something_must_be_named() {
        let spec = FeatureSpec::parse(
            "item_features",
            &json!({"source": "items", "key": "item_id", "text_columns": ["description"]}),
        )
        .unwrap();
        assert!(spec.columns.is_empty());
        assert_eq!(spec.text_columns, vec!["description".to_string()]);
        let err = FeatureSpec::parse("item_features", &json!({"source": "items", "key": "item_id"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"columns\" or \"text_columns\""), "{err}");
        let err = FeatureSpec::parse(
            "item_features",
            &json!({"source": "items", "key": "item_id", "text_columns": "description"}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("text_columns"), "{err}");
    }
}
