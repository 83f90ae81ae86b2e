//! The feature transform a model was trained through (params.transform): a copy of the stored
//! mkt.fit_transform as it was at training time, kept inside the model so that a later refit of
//! the transform does not change what a deployed version computes.

use mkt_core::{Error, Result};
use mkt_prep::{context, Fitted, TransformSpec};
use serde_json::{json, Value as Json};

#[derive(Debug, Clone, PartialEq)]
pub struct InputTransform {
    pub name: String,
    pub spec: Json,
    pub fitted: Fitted,
}

impl InputTransform {
    /// The transform stored as `spec` and `stats`; refused when a row given as jsonb could not
    /// go through it (a hash transform needs SQL's hash function).
    pub fn new(name: &str, spec: &Json, stats: &Json) -> Result<InputTransform> {
        let parsed = TransformSpec::parse(spec)?;
        let fitted = Fitted::from_json(&parsed, stats)?;
        if context::check_applicable(&fitted).is_err() {
            let hashed = parsed
                .columns
                .iter()
                .find(|c| c.kind.name() == "hash")
                .map_or("", |c| c.column.as_str());
            return Err(Error::NotSupported(format!(
                "transform \"{name}\" hashes column \"{hashed}\"; a model's transform must also apply to rows given as jsonb, and hashing needs SQL (use one_hot, or gbdt's native categories)"
            )));
        }
        Ok(InputTransform {
            name: name.into(),
            spec: spec.clone(),
            fitted,
        })
    }

    pub fn to_json(&self) -> Json {
        json!({"name": self.name, "spec": self.spec, "stats": self.fitted.to_json()})
    }

    /// The stored form (absent or null: no transform).
    pub fn from_info(v: &Json) -> Result<Option<InputTransform>> {
        if v.is_null() {
            return Ok(None);
        }
        let name = v["name"]
            .as_str()
            .ok_or_else(|| Error::Corrupted("stored transform name".into()))?;
        InputTransform::new(name, &v["spec"], &v["stats"]).map(Some)
    }

    /// A row given as a JSON object with the transform's outputs added.
    pub fn apply(&self, row: &Json) -> Result<Json> {
        context::apply(&self.fitted, row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_transform_round_trips_and_adds_its_outputs() {
        let spec = json!({"spend": "standard"});
        let stats =
            json!([{"column": "spend", "kind": "standard", "stats": {"mean": 10.0, "std": 2.0}}]);
        let t = InputTransform::new("scale", &spec, &stats).unwrap();
        let back = InputTransform::from_info(&t.to_json()).unwrap().unwrap();
        assert_eq!(back, t);
        let row = back.apply(&json!({"spend": 14, "other": "x"})).unwrap();
        assert_eq!(row["other"], json!("x"));
        assert!(
            row.as_object().unwrap().values().any(|v| v == &json!(2.0)),
            "{row}"
        );
        assert!(InputTransform::from_info(&Json::Null).unwrap().is_none());
    }
}
