//! SQL access to stored feature transforms (mkt.transforms).

use crate::error::{OrSql, SqlResult};
use mkt_core::names::quote_literal;
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
            quote_literal(name)
        )))
        .sql();
    };
    let parsed = TransformSpec::parse(&spec.0).sql()?;
    let fitted = Fitted::from_json(&parsed, &stats.0).sql()?;
    Ok((parsed, fitted))
}
