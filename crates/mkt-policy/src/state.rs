//! Turning a jsonb context into the discrete state a tabular policy keys its values by.

use mkt_core::params::Params;
use mkt_core::{Error, Result};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct StateFeature {
    pub name: String,
    /// Increasing bin edges for a numeric feature; `None` for a categorical one.
    pub bins: Option<Vec<f64>>,
}

/// The declared state features of a policy. No features: one state, "*".
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StateSpec {
    pub features: Vec<StateFeature>,
}

/// A context as an object; NULL or absent is an empty one.
pub fn context_object(context: &Value) -> Result<serde_json::Map<String, Value>> {
    match context {
        Value::Object(m) => Ok(m.clone()),
        Value::Null => Ok(serde_json::Map::new()),
        other => Err(Error::invalid(format!(
            "a context must be a JSON object, got {other}"
        ))),
    }
}

fn edge(x: f64) -> String {
    // Shortest form that reads back to the same number.
    format!("{x}")
}

impl StateSpec {
    /// From params `state_features` (names) and `bins` ({"name": [edges...]}).
    pub fn parse(p: &Params) -> Result<Self> {
        let names = p.strings("state_features")?;
        let mut features: Vec<StateFeature> = Vec::new();
        for n in names {
            if n.is_empty() || features.iter().any(|f| f.name == n) {
                return Err(Error::invalid(format!(
                    "state_features must be distinct non-empty names, got \"{n}\" twice or empty"
                )));
            }
            features.push(StateFeature {
                name: n,
                bins: None,
            });
        }
        match p.value("bins") {
            None => {}
            Some(Value::Object(m)) => {
                for (name, v) in m {
                    let Some(f) = features.iter_mut().find(|f| &f.name == name) else {
                        return Err(Error::invalid(format!(
                            "bins given for \"{name}\", which is not one of state_features"
                        )));
                    };
                    let edges: Option<Vec<f64>> = v
                        .as_array()
                        .map(|a| a.iter().map(|x| x.as_f64()).collect::<Option<Vec<f64>>>())
                        .unwrap_or(None);
                    match edges {
                        Some(e)
                            if !e.is_empty()
                                && e.iter().all(|x| x.is_finite())
                                && e.windows(2).all(|w| w[0] < w[1]) =>
                        {
                            f.bins = Some(e)
                        }
                        _ => {
                            return Err(Error::invalid(format!(
                                "bins for \"{name}\" must be a non-empty array of increasing numbers, got {v}"
                            )))
                        }
                    }
                }
            }
            Some(v) => {
                return Err(Error::invalid(format!(
                    "bins must be an object of feature name to edges, got {v}"
                )))
            }
        }
        Ok(StateSpec { features })
    }

    /// The state of a context, e.g. `segment=vip|recency=[7,30)`. Absent values read `name=?`.
    pub fn key(&self, context: &Value) -> Result<String> {
        if self.features.is_empty() {
            return Ok("*".into());
        }
        let ctx = context_object(context)?;
        let mut parts = Vec::with_capacity(self.features.len());
        for f in &self.features {
            let v = ctx.get(&f.name).filter(|v| !v.is_null());
            let part = match (v, &f.bins) {
                (None, _) => format!("{}=?", f.name),
                (Some(v), Some(edges)) => {
                    let x = v.as_f64().ok_or_else(|| {
                        Error::invalid(format!(
                            "context value of \"{}\" must be a number (the policy bins it), got {v}",
                            f.name
                        ))
                    })?;
                    let i = edges.partition_point(|&e| e <= x);
                    if i == 0 {
                        format!("{}<{}", f.name, edge(edges[0]))
                    } else if i == edges.len() {
                        format!("{}>={}", f.name, edge(edges[i - 1]))
                    } else {
                        format!("{}=[{},{})", f.name, edge(edges[i - 1]), edge(edges[i]))
                    }
                }
                (Some(Value::String(s)), None) => format!("{}={s}", f.name),
                (Some(v), None) => format!("{}={v}", f.name),
            };
            parts.push(part);
        }
        Ok(parts.join("|"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> Result<StateSpec> {
        let p = Params::new("policy", &v, &["state_features", "bins"])?;
        StateSpec::parse(&p)
    }

    #[test]
    fn keys_bin_numbers_and_keep_categories() {
        let s =
            spec(json!({"state_features": ["segment", "recency"], "bins": {"recency": [7, 30]}}))
                .unwrap();
        let k = |c: Value| s.key(&c).unwrap();
        assert_eq!(
            k(json!({"segment": "vip", "recency": 3})),
            "segment=vip|recency<7"
        );
        assert_eq!(
            k(json!({"segment": "vip", "recency": 7})),
            "segment=vip|recency=[7,30)"
        );
        assert_eq!(
            k(json!({"segment": 2, "recency": 30.5})),
            "segment=2|recency>=30"
        );
        assert_eq!(k(json!({})), "segment=?|recency=?");
        assert!(s.key(&json!({"recency": "old"})).is_err());
        assert!(s.key(&json!([1])).is_err());
        assert_eq!(spec(json!({})).unwrap().key(&json!({"a": 1})).unwrap(), "*");
    }

    #[test]
    fn bad_specs() {
        assert!(spec(json!({"state_features": ["a", "a"]})).is_err());
        assert!(spec(json!({"state_features": ["a"], "bins": {"b": [1]}})).is_err());
        assert!(spec(json!({"state_features": ["a"], "bins": {"a": [2, 1]}})).is_err());
        assert!(spec(json!({"state_features": ["a"], "bins": {"a": []}})).is_err());
        assert!(spec(json!({"state_features": "a"})).is_err());
    }
}
