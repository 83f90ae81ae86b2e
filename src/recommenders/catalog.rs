//! The recommenders' own SQL over the model catalog: a version's stored definition (what
//! mkt.retrain re-runs, what explanations read) and tuning trials.

use crate::pg::error::{missing_row, OrSql, SqlResult};
use crate::pg::spi;
use pgrx::prelude::*;
use serde_json::{json, Value};

/// How a version was trained, as stored with it.
pub struct Definition {
    pub algorithm: String,
    pub params: Value,
    pub source: String,
    pub user_col: String,
    pub item_col: String,
    pub weight_col: Option<String>,
    /// The number the next version of the model will get.
    pub next_version: i32,
}

pub fn definition(model_id: i64) -> SqlResult<Definition> {
    Spi::connect(|c| {
        let t = spi::select(
            c,
            "SELECT algorithm, params, source, user_col, item_col, weight_col,
                    (SELECT max(version) + 1 FROM mkt.model_versions WHERE model_name = v.model_name)
             FROM mkt.model_versions v WHERE model_id = $1",
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
            user_col: r.get::<String>(4)?.unwrap_or_default(),
            item_col: r.get::<String>(5)?.unwrap_or_default(),
            weight_col: r.get::<String>(6)?,
            next_version: r.get::<i32>(7)?.unwrap_or(1),
        }))
    })
    .sql()?
    .ok_or_else(|| missing_row("the definition of a model version"))
}

/// The params a version was trained with.
pub fn params(model_id: i64) -> SqlResult<Value> {
    spi::select_first::<pgrx::JsonB>(
        "SELECT params FROM mkt.model_versions WHERE model_id = $1",
        &[model_id.into()],
    )
    .map(|p| p.map_or(Value::Null, |j| j.0))
}

/// One trial of a hyper-parameter search.
pub struct Trial {
    pub trial: i32,
    pub params: Value,
    pub value: f64,
    pub seconds: f64,
}

/// Keeps the trials of the search that trained `model_id`, each scored by `metric`.
pub fn store_trials(model_id: i64, metric: &str, trials: &[Trial]) -> SqlResult<()> {
    Spi::connect_mut(|c| {
        for t in trials {
            c.update(
                "INSERT INTO mkt.tuning_trials (model_id, trial, params, metric, value, seconds) VALUES ($1, $2, $3, $4, $5, $6)",
                None,
                &[
                    model_id.into(),
                    t.trial.into(),
                    pgrx::JsonB(t.params.clone()).into(),
                    metric.into(),
                    t.value.into(),
                    t.seconds.into(),
                ],
            )?;
        }
        Ok::<_, pgrx::spi::Error>(())
    })
    .sql()
}

/// Whether `relation` (a quoted name) has an index whose first key is `column`: what serving a
/// sequence model's live history looks a user up by.
pub fn indexed_by(relation: &str, column: &str) -> SqlResult<bool> {
    spi::select_bool(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                          JOIN pg_catalog.pg_attribute a
                            ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                         WHERE i.indrelid = pg_catalog.to_regclass($1) AND a.attname = $2)",
        &[relation.into(), column.into()],
    )
}
