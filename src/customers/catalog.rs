//! The customer area's SQL: times given as timestamptz read as (epoch seconds, day) in the
//! session's time zone, and a customer value version's stored definition.

use crate::pg::error::{missing_row, OrSql, SqlResult};
use crate::pg::spi;
use mkt_core::names::quote_ident;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use serde_json::{json, Value};

/// (seconds since the epoch, days since 1970-01-01 in the session's time zone) of a timestamptz
/// given as a datum of any type that casts to it (text from params, a timestamptz argument).
pub fn time_point(at: DatumWithOid, cast: &str) -> SqlResult<(f64, i64)> {
    Spi::connect(|c| {
        let t = spi::select(
            c,
            &format!(
                "SELECT pg_catalog.date_part('epoch', $1::{cast}::timestamptz)::float8, \
                 ($1::{cast}::timestamptz::date - DATE '1970-01-01')::int8"
            ),
            &[at],
        )?;
        let r = t.first();
        Ok::<_, pgrx::spi::Error>(r.get::<f64>(1)?.zip(r.get::<i64>(2)?))
    })
    .sql()?
    .ok_or_else(|| missing_row("a time point"))
}

/// The columns a transactions source is read as: customer, day (days since 1970-01-01), epoch
/// seconds and amount; days and seconds both in the session's time zone, as PostgreSQL compares
/// them.
pub fn transaction_columns(customer: &str, time: &str, amount: Option<&str>) -> Vec<String> {
    let t = quote_ident(time);
    let mut out = vec![
        quote_ident(customer),
        format!("{t}::timestamptz::date - DATE '1970-01-01'"),
        format!("pg_catalog.date_part('epoch', {t}::timestamptz)"),
    ];
    out.extend(amount.map(quote_ident));
    out
}

/// How a customer value version was trained, as stored with it.
pub struct Definition {
    pub source: String,
    pub customer_col: String,
    pub time_col: Option<String>,
    pub amount_col: Option<String>,
    /// The params mkt.train_clv was given.
    pub params: Value,
}

/// The key the time column is kept under in a version's params (mkt.train_clv has no such param).
pub const TIME_COL_KEY: &str = "time_col";

pub fn definition(model_id: i64) -> SqlResult<Definition> {
    Spi::connect(|c| {
        let t = spi::select(
            c,
            "SELECT source, user_col, weight_col, params FROM mkt.model_versions WHERE model_id = $1",
            &[model_id.into()],
        )?;
        if t.is_empty() {
            return Ok(None);
        }
        let r = t.first();
        let mut params = r.get::<pgrx::JsonB>(4)?.map_or(json!({}), |j| j.0);
        let time_col = params
            .as_object_mut()
            .and_then(|m| m.remove(TIME_COL_KEY))
            .and_then(|v| v.as_str().map(str::to_string));
        Ok::<_, pgrx::spi::Error>(Some(Definition {
            source: r.get::<String>(1)?.unwrap_or_default(),
            customer_col: r.get::<String>(2)?.unwrap_or_default(),
            amount_col: r.get::<String>(3)?,
            time_col,
            params,
        }))
    })
    .sql()?
    .ok_or_else(|| missing_row("the definition of a model version"))
}
