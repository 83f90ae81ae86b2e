//! mkt.model_report: one self-contained HTML page about a model version, or a decision policy.

use crate::models::{access, catalog};
use crate::pg::error::{OrSql, SqlResult};
use mkt_core::names::quote_shown;
use mkt_core::Error;
use mkt_metrics::report_pages::model_page;

pub fn page(name: &str, version: Option<i32>) -> SqlResult<String> {
    if catalog::model_exists(name)? {
        let id = match version {
            Some(v) => access::version_id(name, v)?,
            None => access::deployed_or_newest_id(name)?,
        };
        return Ok(model_page(&catalog::report::model_report(name, id)?));
    }
    if version.is_none() {
        if let Some(page) = crate::policies::report::page(name)? {
            return Ok(page);
        }
    }
    Err(Error::UndefinedObject(format!(
        "no model or policy named {}",
        quote_shown(name)
    )))
    .sql()
}
