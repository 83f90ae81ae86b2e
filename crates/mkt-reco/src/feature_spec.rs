//! Where a model finds side features of its users or items.

use mkt_core::params::Params;
use mkt_core::{Error, Result};
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

    /// Bytes the text columns take for `rows` rows once each is `dim` numbers: a column of
    /// optional f64 per number, and the f32 vectors of the column being embedded.
    pub fn text_memory_bytes(&self, rows: usize, dim: usize) -> u128 {
        if self.text_columns.is_empty() {
            return 0;
        }
        let per_number = std::mem::size_of::<Option<f64>>() as u128;
        let cells = rows as u128 * dim as u128;
        cells * per_number * self.text_columns.len() as u128 + cells * 4
    }

    /// Refuses, before anything is embedded, text columns that would take more than `limit_mb`.
    pub fn check_text_memory(
        &self,
        which: &str,
        rows: usize,
        dim: usize,
        limit_mb: usize,
        setting: &str,
    ) -> Result<()> {
        let need_mb = self.text_memory_bytes(rows, dim).div_ceil(1 << 20);
        if need_mb > limit_mb as u128 {
            return Err(Error::TooLarge(format!(
                "the {which} text features ({} column(s) x {rows} rows x {dim} numbers) need about \
                 {need_mb} MB, more than {setting} = {limit_mb} MB; raise it or describe fewer rows",
                self.text_columns.len()
            )));
        }
        Ok(())
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

    #[test]
    fn text_memory_counts_every_embedded_number() {
        let spec = FeatureSpec::parse(
            "item_features",
            &json!({"source": "items", "key": "id", "text_columns": ["title", "blurb"]}),
        )
        .unwrap();
        // 2 columns x 1000 rows x 384 numbers as Option<f64>, plus one column's f32 vectors.
        assert_eq!(spec.text_memory_bytes(1000, 384), 2 * 1000 * 384 * 16 + 1000 * 384 * 4);
        assert!(spec.check_text_memory("item", 1000, 384, 14, "m").is_ok());
        let err = spec.check_text_memory("item", 100_000, 384, 100, "mkt.max_memory_mb");
        assert!(matches!(err, Err(Error::TooLarge(ref m)) if m.contains("1319 MB")), "{err:?}");
        let plain = FeatureSpec::parse(
            "item_features",
            &json!({"source": "items", "key": "id", "columns": ["genre"]}),
        )
        .unwrap();
        assert_eq!(plain.text_memory_bytes(1_000_000, 384), 0);
    }
}
