//! What to do with each column: `{"price": "standard", "age": {"type": "quantile_bucket", "n": 4}}`.

use mkt_core::{Error, Result};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// (x - mean) / stddev
    Standard,
    /// (x - min) / (max - min)
    MinMax,
    /// (x - median) / (q3 - q1)
    Robust,
    /// ln(1 + x)
    Log1p,
    /// One 0/1 column per category seen at fit time (the most frequent `max_categories`).
    OneHot { max_categories: usize },
    /// A bucket number in 0..buckets from a hash of the value.
    Hash { buckets: u32 },
    /// The quantile bin (1..n) of the value among the fit data.
    QuantileBucket { n: usize },
    /// The smoothed mean of `label` per category: (n·mean + smoothing·global) / (n + smoothing).
    TargetEncode { label: String, smoothing: f64 },
}

pub const KINDS: [&str; 8] = [
    "standard",
    "min_max",
    "robust",
    "log1p",
    "one_hot",
    "hash",
    "quantile_bucket",
    "target_encode",
];

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Standard => "standard",
            Kind::MinMax => "min_max",
            Kind::Robust => "robust",
            Kind::Log1p => "log1p",
            Kind::OneHot { .. } => "one_hot",
            Kind::Hash { .. } => "hash",
            Kind::QuantileBucket { .. } => "quantile_bucket",
            Kind::TargetEncode { .. } => "target_encode",
        }
    }

    /// Whether the column must be numeric.
    pub fn numeric(&self) -> bool {
        matches!(
            self,
            Kind::Standard
                | Kind::MinMax
                | Kind::Robust
                | Kind::Log1p
                | Kind::QuantileBucket { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    pub column: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TransformSpec {
    pub columns: Vec<ColumnSpec>,
}

fn int_field(
    obj: &serde_json::Map<String, Value>,
    col: &str,
    key: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64> {
    match obj.get(key) {
        None => Ok(default),
        Some(v) => v
            .as_i64()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                Error::invalid(format!(
                "\"{key}\" of column \"{col}\" must be an integer between {min} and {max}, got {v}"
            ))
            }),
    }
}

impl TransformSpec {
    pub fn parse(spec: &Value) -> Result<Self> {
        let Value::Object(m) = spec else {
            return Err(Error::invalid(format!(
                "a transform spec must be a JSON object of column name to transform, got {spec}"
            )));
        };
        if m.is_empty() {
            return Err(Error::EmptyData(
                "a transform spec needs at least one column".into(),
            ));
        }
        let mut columns = Vec::new();
        for (col, v) in m {
            let (name, obj) = match v {
                Value::String(s) => (s.as_str(), serde_json::Map::new()),
                Value::Object(o) => match o.get("type") {
                    Some(Value::String(s)) => (s.as_str(), o.clone()),
                    _ => {
                        return Err(Error::invalid(format!(
                            "the transform of column \"{col}\" needs a \"type\", got {v}"
                        )))
                    }
                },
                other => {
                    return Err(Error::invalid(format!(
                        "the transform of column \"{col}\" must be a name or an object, got {other}"
                    )))
                }
            };
            let kind = match name {
                "standard" => Kind::Standard,
                "min_max" => Kind::MinMax,
                "robust" => Kind::Robust,
                "log1p" => Kind::Log1p,
                "one_hot" => Kind::OneHot {
                    max_categories: int_field(&obj, col, "max_categories", 50, 1, 1000)? as usize,
                },
                "hash" => Kind::Hash {
                    buckets: int_field(&obj, col, "buckets", 1024, 2, 1 << 24)? as u32,
                },
                "quantile_bucket" => Kind::QuantileBucket {
                    n: int_field(&obj, col, "n", 10, 2, 1000)? as usize,
                },
                "target_encode" => Kind::TargetEncode {
                    label: match obj.get("label") {
                        Some(Value::String(l)) => l.clone(),
                        _ => {
                            return Err(Error::invalid(format!(
                                "target_encode of column \"{col}\" needs \"label\": the column it encodes"
                            )))
                        }
                    },
                    smoothing: match obj.get("smoothing") {
                        None => 10.0,
                        Some(v) => v.as_f64().filter(|s| s.is_finite() && *s >= 0.0).ok_or_else(|| {
                            Error::invalid(format!("\"smoothing\" of column \"{col}\" must be a number >= 0, got {v}"))
                        })?,
                    },
                },
                other => return Err(Error::unknown("transform", other, &KINDS)),
            };
            columns.push(ColumnSpec {
                column: col.clone(),
                kind,
            });
        }
        Ok(TransformSpec { columns })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_names_and_objects() {
        let s = TransformSpec::parse(&json!({
            "price": "standard",
            "age": {"type": "quantile_bucket", "n": 4},
            "city": {"type": "target_encode", "label": "converted"}
        }))
        .unwrap();
        assert_eq!(s.columns.len(), 3);
        assert!(s
            .columns
            .iter()
            .any(|c| c.kind == Kind::QuantileBucket { n: 4 }));
        assert!(TransformSpec::parse(&json!({"x": "zscore"})).is_err());
        assert!(TransformSpec::parse(&json!({"x": {"type": "hash", "buckets": 1}})).is_err());
        assert!(TransformSpec::parse(&json!({"x": {"type": "target_encode"}})).is_err());
        assert!(TransformSpec::parse(&json!({})).is_err());
        assert!(TransformSpec::parse(&json!([1])).is_err());
    }
}
