//! Applying a fitted transform to one JSON context (a policy's decision context), with the same
//! arithmetic as the SQL `sql_expr::outputs` generates, so a state built from a transformed
//! context matches the transformed table the policy was designed on.

use crate::sql_expr::outputs;
use crate::stats::{ColumnStats, Fitted};
use mkt_core::{Error, Result};
use serde_json::{json, Map, Value};

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Whether every column of `fitted` can be applied to a context (hashing uses PostgreSQL's own
/// hash function, which only SQL has).
pub fn check_applicable(fitted: &Fitted) -> Result<()> {
    for (spec, stats) in &fitted.columns {
        if matches!(stats, ColumnStats::Hash { .. }) {
            return Err(Error::NotSupported(format!(
                "column \"{}\" uses a hash transform, which cannot be applied to a decision context",
                spec.column
            )));
        }
    }
    Ok(())
}

fn scaled(x: Option<f64>, center: f64, scale: f64) -> Value {
    match x {
        None => Value::Null,
        Some(x) if scale > 0.0 && scale.is_finite() => json!((x - center) / scale),
        Some(_) => json!(0.0),
    }
}

/// `context` with the transform's output keys added (existing keys of those names are replaced).
pub fn apply(fitted: &Fitted, context: &Value) -> Result<Value> {
    let mut out: Map<String, Value> = match context {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        other => {
            return Err(Error::invalid(format!(
                "a context must be a JSON object, got {other}"
            )))
        }
    };
    for (spec, stats) in &fitted.columns {
        let v = context.get(&spec.column);
        let names: Vec<String> = outputs(spec, stats).into_iter().map(|(n, _)| n).collect();
        let values: Vec<Value> = match stats {
            ColumnStats::Standard { mean, std } => vec![scaled(number(v), *mean, *std)],
            ColumnStats::MinMax { min, max } => vec![scaled(number(v), *min, max - min)],
            ColumnStats::Robust { median, q1, q3 } => vec![scaled(number(v), *median, q3 - q1)],
            ColumnStats::Log1p => vec![match number(v) {
                Some(x) if x > -1.0 => json!((1.0 + x).ln()),
                _ => Value::Null,
            }],
            ColumnStats::OneHot { categories } => {
                let t = text(v);
                categories
                    .iter()
                    .map(|c| json!((t.as_deref() == Some(c.as_str())) as i64))
                    .collect()
            }
            ColumnStats::QuantileBucket { edges } => vec![match number(v) {
                Some(x) => json!(edges.iter().filter(|e| **e <= x).count() as i64 + 1),
                None => Value::Null,
            }],
            ColumnStats::TargetEncode { encoding, global } => {
                let t = text(v);
                let e = t
                    .and_then(|t| encoding.iter().find(|(k, _)| *k == t).map(|(_, x)| *x))
                    .unwrap_or(*global);
                vec![json!(e)]
            }
            ColumnStats::Hash { .. } => {
                check_applicable(fitted)?;
                unreachable!()
            }
        };
        for (n, x) in names.into_iter().zip(values) {
            out.insert(n, x);
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ColumnSpec, Kind};

    fn col(name: &str, kind: Kind) -> ColumnSpec {
        ColumnSpec {
            column: name.into(),
            kind,
        }
    }

    #[test]
    fn adds_the_same_outputs_sql_would() {
        let fitted = Fitted {
            columns: vec![
                (
                    col("age", Kind::QuantileBucket { n: 3 }),
                    ColumnStats::QuantileBucket {
                        edges: vec![25.0, 40.0],
                    },
                ),
                (
                    col("spend", Kind::Standard),
                    ColumnStats::Standard {
                        mean: 10.0,
                        std: 4.0,
                    },
                ),
                (
                    col("seg", Kind::OneHot { max_categories: 5 }),
                    ColumnStats::OneHot {
                        categories: vec!["vip".into(), "new".into()],
                    },
                ),
                (
                    col(
                        "city",
                        Kind::TargetEncode {
                            label: "y".into(),
                            smoothing: 1.0,
                        },
                    ),
                    ColumnStats::TargetEncode {
                        encoding: vec![("Paris".into(), 0.3)],
                        global: 0.1,
                    },
                ),
            ],
        };
        let out = apply(
            &fitted,
            &json!({"age": 40, "spend": "14", "seg": "vip", "city": "Rome"}),
        )
        .unwrap();
        assert_eq!(out["age_bucket"], json!(3));
        assert_eq!(out["spend_std"], json!(1.0));
        assert_eq!(
            (out["seg_vip"].clone(), out["seg_new"].clone()),
            (json!(1), json!(0))
        );
        assert_eq!(out["city_te"], json!(0.1));
        assert_eq!(out["age"], json!(40));
        let empty = apply(&fitted, &json!({})).unwrap();
        assert_eq!(empty["age_bucket"], Value::Null);
        assert_eq!(empty["seg_vip"], json!(0));
        assert!(apply(&fitted, &json!([1])).is_err());
        let hashed = Fitted {
            columns: vec![(
                col("x", Kind::Hash { buckets: 4 }),
                ColumnStats::Hash { buckets: 4 },
            )],
        };
        assert!(check_applicable(&hashed).is_err());
    }
}
