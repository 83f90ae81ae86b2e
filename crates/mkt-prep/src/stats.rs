//! Statistics a transform keeps from its fit, stored as JSON with the transform.

use crate::spec::{ColumnSpec, Kind, TransformSpec};
use mkt_core::{Error, Result};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum ColumnStats {
    Standard {
        mean: f64,
        std: f64,
    },
    MinMax {
        min: f64,
        max: f64,
    },
    Robust {
        median: f64,
        q1: f64,
        q3: f64,
    },
    Log1p,
    OneHot {
        categories: Vec<String>,
    },
    Hash {
        buckets: u32,
    },
    /// Increasing interior edges; bucket b holds edges[b-1] <= x < edges[b].
    QuantileBucket {
        edges: Vec<f64>,
    },
    TargetEncode {
        encoding: Vec<(String, f64)>,
        global: f64,
    },
}

/// A fitted transform: each column's spec and statistics.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fitted {
    pub columns: Vec<(ColumnSpec, ColumnStats)>,
}

fn num(v: &Value, key: &str, col: &str) -> Result<f64> {
    v.get(key)
        .and_then(Value::as_f64)
        .filter(|x| x.is_finite())
        .ok_or_else(|| {
            Error::EmptyData(format!(
                "column \"{col}\" has no non-NULL values to fit a transform on"
            ))
        })
}

impl ColumnStats {
    /// The statistics from the JSON the fit query (`sql_expr::fit_query`) returned.
    pub fn from_fit(spec: &ColumnSpec, v: &Value) -> Result<Self> {
        let col = spec.column.as_str();
        Ok(match &spec.kind {
            Kind::Standard => ColumnStats::Standard {
                mean: num(v, "mean", col)?,
                std: num(v, "std", col)?,
            },
            Kind::MinMax => ColumnStats::MinMax {
                min: num(v, "min", col)?,
                max: num(v, "max", col)?,
            },
            Kind::Robust => ColumnStats::Robust {
                median: num(v, "median", col)?,
                q1: num(v, "q1", col)?,
                q3: num(v, "q3", col)?,
            },
            Kind::Log1p => ColumnStats::Log1p,
            Kind::Hash { buckets } => ColumnStats::Hash { buckets: *buckets },
            Kind::OneHot { .. } => {
                let categories: Vec<String> = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                if categories.is_empty() {
                    return Err(Error::EmptyData(format!(
                        "column \"{col}\" has no non-NULL values to fit a transform on"
                    )));
                }
                ColumnStats::OneHot { categories }
            }
            Kind::QuantileBucket { .. } => {
                let mut edges: Vec<f64> = v
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default();
                if edges.is_empty() {
                    return Err(Error::EmptyData(format!(
                        "column \"{col}\" has no non-NULL values to fit a transform on"
                    )));
                }
                // Ties in the data give equal quantiles; a bucket between them would be empty.
                edges.dedup();
                ColumnStats::QuantileBucket { edges }
            }
            Kind::TargetEncode { smoothing, .. } => {
                let global = num(v, "global", col)?;
                let cats = v
                    .get("cats")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut encoding = Vec::with_capacity(cats.len());
                for c in cats {
                    let (Some(name), Some(n), Some(mean)) =
                        (c[0].as_str(), c[1].as_f64(), c[2].as_f64())
                    else {
                        continue;
                    };
                    encoding.push((
                        name.to_string(),
                        (n * mean + smoothing * global) / (n + smoothing),
                    ));
                }
                ColumnStats::TargetEncode { encoding, global }
            }
        })
    }

    pub fn to_json(&self) -> Value {
        match self {
            ColumnStats::Standard { mean, std } => json!({"mean": mean, "std": std}),
            ColumnStats::MinMax { min, max } => json!({"min": min, "max": max}),
            ColumnStats::Robust { median, q1, q3 } => json!({"median": median, "q1": q1, "q3": q3}),
            ColumnStats::Log1p => json!({}),
            ColumnStats::OneHot { categories } => json!({"categories": categories}),
            ColumnStats::Hash { buckets } => json!({"buckets": buckets}),
            ColumnStats::QuantileBucket { edges } => json!({"edges": edges}),
            ColumnStats::TargetEncode { encoding, global } => json!({
                "global": global,
                "encoding": encoding.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            }),
        }
    }

    pub fn from_json(kind: &Kind, v: &Value) -> Result<Self> {
        let bad = || Error::Corrupted("stored transform statistics do not match their spec".into());
        let f = |k: &str| v.get(k).and_then(Value::as_f64).ok_or_else(bad);
        Ok(match kind {
            Kind::Standard => ColumnStats::Standard {
                mean: f("mean")?,
                std: f("std")?,
            },
            Kind::MinMax => ColumnStats::MinMax {
                min: f("min")?,
                max: f("max")?,
            },
            Kind::Robust => ColumnStats::Robust {
                median: f("median")?,
                q1: f("q1")?,
                q3: f("q3")?,
            },
            Kind::Log1p => ColumnStats::Log1p,
            Kind::OneHot { .. } => ColumnStats::OneHot {
                categories: v
                    .get("categories")
                    .and_then(Value::as_array)
                    .ok_or_else(bad)?
                    .iter()
                    .map(|x| x.as_str().map(str::to_string).ok_or_else(bad))
                    .collect::<Result<_>>()?,
            },
            Kind::Hash { .. } => ColumnStats::Hash {
                buckets: v.get("buckets").and_then(Value::as_u64).ok_or_else(bad)? as u32,
            },
            Kind::QuantileBucket { .. } => ColumnStats::QuantileBucket {
                edges: v
                    .get("edges")
                    .and_then(Value::as_array)
                    .ok_or_else(bad)?
                    .iter()
                    .map(|x| x.as_f64().ok_or_else(bad))
                    .collect::<Result<_>>()?,
            },
            Kind::TargetEncode { .. } => ColumnStats::TargetEncode {
                global: f("global")?,
                encoding: v
                    .get("encoding")
                    .and_then(Value::as_array)
                    .ok_or_else(bad)?
                    .iter()
                    .map(|p| match (p[0].as_str(), p[1].as_f64()) {
                        (Some(k), Some(x)) => Ok((k.to_string(), x)),
                        _ => Err(bad()),
                    })
                    .collect::<Result<_>>()?,
            },
        })
    }
}

impl Fitted {
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.columns
                .iter()
                .map(|(s, st)| json!({"column": s.column, "kind": s.kind.name(), "stats": st.to_json()}))
                .collect(),
        )
    }

    /// Reads stored statistics back; `spec` is the stored spec they were fitted for.
    pub fn from_json(spec: &TransformSpec, v: &Value) -> Result<Self> {
        let arr = v
            .as_array()
            .ok_or_else(|| Error::Corrupted("stored transform statistics are not a list".into()))?;
        let mut columns = Vec::new();
        for c in &spec.columns {
            let entry = arr
                .iter()
                .find(|e| e.get("column").and_then(Value::as_str) == Some(c.column.as_str()))
                .ok_or_else(|| {
                    Error::Corrupted(format!("no statistics stored for column \"{}\"", c.column))
                })?;
            columns.push((c.clone(), ColumnStats::from_json(&c.kind, &entry["stats"])?));
        }
        Ok(Fitted { columns })
    }
}
