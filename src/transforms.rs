//! SQL access to stored feature transforms (mkt.transforms).

use crate::error::{OrSql, SqlResult};
use mkt_core::names::{quote_ident, quote_shown};
use mkt_prep::sql_expr::outputs;
use mkt_core::Error;
use mkt_prep::{Fitted, TransformSpec};
use pgrx::prelude::*;
use pgrx::JsonB;

/// The spec and fitted statistics stored under `name` (read-only).
pub fn load(name: &str) -> SqlResult<(TransformSpec, Fitted)> {
    let row = Spi::connect(|c| {
        let t = c.select(
            "SELECT spec, stats FROM mkt.transforms WHERE transform_name = $1",
            None,
            &[name.into()],
        )?;
        if t.is_empty() {
            return Ok(None);
        }
        let r = t.first();
        Ok::<_, pgrx::spi::Error>(Some((r.get::<JsonB>(1)?, r.get::<JsonB>(2)?)))
    })
    .sql()?;
    let Some((Some(spec), Some(stats))) = row else {
        return Err(Error::UndefinedObject(format!(
            "transform {} does not exist",
            quote_shown(name)
        )))
        .sql();
    };
    let parsed = TransformSpec::parse(&spec.0).sql()?;
    let fitted = Fitted::from_json(&parsed, &stats.0).sql()?;
    Ok((parsed, fitted))
}

/// A SELECT of every column of `from` plus the transform's output columns.
pub fn select_with_outputs(fitted: &Fitted, from: &str) -> String {
    let mut exprs = vec!["mkt_src.*".to_string()];
    for (spec, stats) in &fitted.columns {
        for (name, expr) in outputs(spec, stats) {
            exprs.push(format!("{expr} AS {}", quote_ident(&name)));
        }
    }
    format!("SELECT {} FROM {from} AS mkt_src", exprs.join(", "))
}
