//! The predictor area's SQL: how a version was trained, as mkt.retrain re-runs it.

use crate::pg::error::{missing_row, OrSql, SqlResult};
use crate::pg::spi;
use pgrx::prelude::*;
use serde_json::{json, Value};

/// A predictor's or uplift model's stored definition (the rest is in the model: task, features).
pub struct Definition {
    pub algorithm: String,
    pub params: Value,
    pub source: String,
    /// The label of a predictor, the outcome of an uplift model.
    pub target_col: String,
    /// The treatment column of an uplift model.
    pub treatment_col: Option<String>,
}

pub fn definition(model_id: i64) -> SqlResult<Definition> {
    Spi::connect(|c| {
        let t = spi::select(
            c,
            "SELECT algorithm, params, source, item_col, weight_col FROM mkt.model_versions WHERE model_id = $1",
            &[model_id.into()],
        )?;
        if t.is_empty() {
            return Ok(None);
        }
        let r = t.first();
        Ok::<_, pgrx::spi::Error>(Some(Definition {
            algorithm: r.get::<String>(1)?.unwrap_or_default(),
            params: r.get::<pgrx::JsonB>(2)?.map_or(json!({}), |j| j.0),
            source: r.get::<String>(3)?.unwrap_or_default(),
            target_col: r.get::<String>(4)?.unwrap_or_default(),
            treatment_col: r.get::<String>(5)?,
        }))
    })
    .sql()?
    .ok_or_else(|| missing_row("the definition of a model version"))
}
