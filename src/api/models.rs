//! Model lifecycle: mkt.deploy, mkt.drop_model; what this backend has cached: mkt.cache_stats.

use crate::catalog;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

#[pg_extern(volatile, parallel_unsafe)]
fn deploy(model_name: &str, version: i32) -> Result<(), ErrorReport> {
    let id = catalog::version_id(model_name, version)?;
    catalog::deploy(model_name, id)
}

#[pg_extern(volatile, parallel_unsafe)]
fn drop_model(
    model_name: &str,
    version: default!(Option<i32>, "NULL"),
) -> Result<i64, ErrorReport> {
    catalog::drop_versions(model_name, version)
}

#[pg_extern(volatile, parallel_safe)]
fn cache_stats() -> TableIterator<'static, (name!(models, i64), name!(bytes, i64))> {
    let (models, bytes) = crate::cache::stats();
    TableIterator::once((models as i64, bytes as i64))
}
