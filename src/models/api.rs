//! The model catalog's SQL functions, for every model kind: mkt.deploy, mkt.rollback,
//! mkt.drop_model, mkt.export_model, mkt.import_model, mkt.grant_model, mkt.revoke_model,
//! mkt.model_report, mkt.cache_stats, mkt.live_training.

use crate::models::{cache, grants, lifecycle, report};
use crate::pg::error::required;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

#[pg_extern(volatile, parallel_unsafe)]
fn deploy(model_name: &str, version: i32) -> Result<(), ErrorReport> {
    lifecycle::deploy_version(model_name, version)
}

#[pg_extern(volatile, parallel_unsafe)]
fn rollback(model_name: &str) -> Result<i32, ErrorReport> {
    lifecycle::rollback(model_name)
}

#[pg_extern(volatile, parallel_unsafe)]
fn drop_model(
    model_name: Option<&str>,
    version: default!(Option<i32>, "NULL"),
) -> Result<i64, ErrorReport> {
    lifecycle::drop(required(model_name, "model_name")?, version)
}

/// The stored bytes of a version (the deployed one when `version` is NULL): a safetensors file.
#[pg_extern(stable, parallel_safe)]
fn export_model(
    model_name: Option<&str>,
    version: default!(Option<i32>, "NULL"),
) -> Result<Vec<u8>, ErrorReport> {
    lifecycle::export(required(model_name, "model_name")?, version)
}

/// Stores exported bytes as a new version of `model_name`; checks them completely first.
#[pg_extern(volatile, parallel_unsafe)]
fn import_model(
    model_name: &str,
    data: &[u8],
    deploy: default!(bool, "true"),
    params: default!(pgrx::JsonB, "'{}'"),
) -> Result<i32, ErrorReport> {
    lifecycle::import(model_name, data, deploy, &params.0)
}

#[pg_extern(volatile, parallel_unsafe)]
fn grant_model(
    model_name: Option<&str>,
    role: Option<&str>,
    privilege: default!(Option<&str>, "'use'"),
) -> Result<(), ErrorReport> {
    grants::grant(
        required(model_name, "model_name")?,
        required(role, "role")?,
        required(privilege, "privilege")?,
    )
}

#[pg_extern(volatile, parallel_unsafe)]
fn revoke_model(
    model_name: Option<&str>,
    role: Option<&str>,
    privilege: default!(Option<&str>, "NULL"),
) -> Result<i64, ErrorReport> {
    grants::revoke(
        required(model_name, "model_name")?,
        required(role, "role")?,
        privilege,
    )
}

#[pg_extern(stable, parallel_safe)]
fn model_report(
    model_name: Option<&str>,
    version: default!(Option<i32>, "NULL"),
) -> Result<String, ErrorReport> {
    report::page(required(model_name, "model_name")?, version)
}

#[pg_extern(volatile, parallel_safe)]
fn cache_stats() -> TableIterator<
    'static,
    (
        name!(models, i64),
        name!(bytes, i64),
        name!(shared_bytes, i64),
    ),
> {
    let (models, bytes, shared) = cache::stats();
    TableIterator::once((models as i64, bytes as i64, shared as i64))
}

/// Epochs of training calls running now in any backend (the live half of mkt.training_log).
#[pg_extern(volatile, parallel_restricted)]
fn live_training() -> TableIterator<
    'static,
    (
        name!(pid, i32),
        name!(model_name, String),
        name!(algorithm, String),
        name!(role, String),
        name!(epoch, i32),
        name!(epochs, i32),
        name!(loss, f64),
        name!(metric, Option<f64>),
        name!(seconds, f64),
        name!(logged_at, f64),
    ),
> {
    TableIterator::new(crate::pg::live::epochs())
}
