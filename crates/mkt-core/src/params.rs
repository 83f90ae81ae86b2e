//! Reading of `params jsonb` arguments: every key must be known, every value in range.

use crate::{Error, Result};
use serde_json::{Map, Value};

/// A jsonb object of parameters, checked against the keys one algorithm accepts.
pub struct Params<'a> {
    owner: &'a str,
    map: Map<String, Value>,
}

impl<'a> Params<'a> {
    /// `owner` names what the params are for (e.g. "algorithm 'als'") in error messages.
    pub fn new(owner: &'a str, value: &Value, allowed: &[&str]) -> Result<Self> {
        let map = match value {
            Value::Object(m) => m.clone(),
            Value::Null => Map::new(),
            other => {
                return Err(Error::invalid(format!(
                    "params for {owner} must be a JSON object, got {other}"
                )))
            }
        };
        let mut sorted: Vec<&str> = allowed.to_vec();
        sorted.sort_unstable();
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(Error::InvalidParameter(format!(
                    "unknown parameter \"{key}\" for {owner}; valid parameters are: {}",
                    sorted.join(", ")
                )));
            }
        }
        Ok(Params { owner, map })
    }

    fn bad(&self, key: &str, expect: &str, got: &Value) -> Error {
        Error::invalid(format!(
            "parameter \"{key}\" for {} must be {expect}, got {got}",
            self.owner
        ))
    }

    /// The raw value of a key, for structured parameters.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A list of strings (e.g. feature names); empty when absent.
    pub fn strings(&self, key: &str) -> Result<Vec<String>> {
        match self.value(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.bad(key, "an array of strings", other)),
                })
                .collect(),
            Some(v) => Err(self.bad(key, "an array of strings", v)),
        }
    }

    /// An optional non-empty string (e.g. a column name).
    pub fn text(&self, key: &str) -> Result<Option<String>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(v) => Err(self.bad(key, "a non-empty string", v)),
        }
    }

    pub fn owner(&self) -> &str {
        self.owner
    }

    pub fn int(&self, key: &str, default: i64, min: i64, max: i64) -> Result<i64> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => match v.as_i64() {
                Some(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(self.bad(key, &format!("an integer between {min} and {max}"), v)),
            },
        }
    }

    pub fn float(&self, key: &str, default: f64, min: f64, max: f64) -> Result<f64> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() && x >= min && x <= max => Ok(x),
                _ => Err(self.bad(key, &format!("a number between {min} and {max}"), v)),
            },
        }
    }

    pub fn boolean(&self, key: &str, default: bool) -> Result<bool> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.bad(key, "true or false", v)),
        }
    }

    pub fn choice(
        &self,
        key: &str,
        default: &'static str,
        valid: &[&'static str],
    ) -> Result<&'static str> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::String(s)) => valid
                .iter()
                .find(|v| **v == s.as_str())
                .copied()
                .ok_or_else(|| {
                    Error::unknown("value", &format!("{s}\" for parameter \"{key}"), valid)
                }),
            Some(v) => Err(self.bad(key, &format!("one of {}", valid.join(", ")), v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_ranges() {
        let v = json!({"factors": 8, "alpha": 2.5});
        let p = Params::new("algorithm 'als'", &v, &["factors", "alpha", "seed"]).unwrap();
        assert_eq!(p.int("factors", 64, 1, 1024).unwrap(), 8);
        assert_eq!(p.int("seed", 42, 0, 10).unwrap(), 42);
        assert_eq!(p.float("alpha", 1.0, 0.0, 1e6).unwrap(), 2.5);
        assert!(p.int("factors", 64, 16, 1024).is_err());
    }

    #[test]
    fn unknown_keys_list_the_valid_ones() {
        let err = Params::new(
            "algorithm 'als'",
            &json!({"factorz": 8}),
            &["factors", "alpha"],
        )
        .err()
        .unwrap()
        .to_string();
        assert_eq!(
            err,
            "unknown parameter \"factorz\" for algorithm 'als'; valid parameters are: alpha, factors"
        );
    }

    #[test]
    fn wrong_types_are_refused() {
        let v = json!({"factors": "many", "deploy": 1});
        let p = Params::new("x", &v, &["factors", "deploy"]).unwrap();
        assert!(p.int("factors", 1, 1, 2).is_err());
        assert!(p.boolean("deploy", true).is_err());
        assert!(p.text("factors").unwrap().is_some());
        assert!(p.text("deploy").is_err());
        assert_eq!(p.text("missing").unwrap(), None);
        assert!(Params::new("x", &json!([1]), &[]).is_err());
    }
}
