//! Model lifecycle: mkt.deploy, mkt.drop_model, mkt.export_model / mkt.import_model; what this
//! backend has cached: mkt.cache_stats.

use crate::catalog::{self, NewVersion};
use crate::error::{OrSql, required};
use mkt_core::Error;
use mkt_reco::blob;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

#[pg_extern(volatile, parallel_unsafe)]
fn deploy(model_name: &str, version: i32) -> Result<(), ErrorReport> {
    let id = catalog::version_id(model_name, version)?;
    catalog::deploy(model_name, id, "mkt.deploy")
}

#[pg_extern(volatile, parallel_unsafe)]
fn drop_model(
    model_name: Option<&str>,
    version: default!(Option<i32>, "NULL"),
) -> Result<i64, ErrorReport> {
    let model_name = required(model_name, "model_name")?;
    catalog::drop_versions(model_name, version)
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
    let (models, bytes, shared) = crate::cache::stats();
    TableIterator::once((models as i64, bytes as i64, shared as i64))
}

/// The stored bytes of a version (the deployed one when `version` is NULL): a safetensors file.
#[pg_extern(stable, parallel_safe)]
fn export_model(
    model_name: Option<&str>,
    version: default!(Option<i32>, "NULL"),
) -> Result<Vec<u8>, ErrorReport> {
    let model_name = required(model_name, "model_name")?;
    let id = match version {
        Some(v) => catalog::version_id(model_name, v)?,
        None => catalog::deployed_id(model_name)?,
    };
    let bytes = catalog::load_blob(id)?;
    if bytes.len() >= 1 << 30 {
        return Err(Error::TooLarge(format!(
            "model {model_name} is {} bytes; bytea values stop at 1 GB",
            bytes.len()
        )))
        .sql();
    }
    Ok(bytes)
}

/// Stores exported bytes as a new version of `model_name`; checks them completely first.
#[pg_extern(volatile, parallel_unsafe)]
fn import_model(
    model_name: &str,
    data: &[u8],
    deploy: default!(bool, "true"),
    params: default!(pgrx::JsonB, "'{}'"),
) -> Result<i32, ErrorReport> {
    catalog::check_model_name(model_name)?;
    let model = blob::decode(data).sql()?;
    let (model_id, version) = catalog::insert_version(&NewVersion {
        model_name,
        algorithm: model.algorithm.name(),
        params: &params.0,
        source: "import",
        user_col: "user_id",
        item_col: "item_id",
        weight_col: None,
        user_id_type: model.users.kind().sql_type(),
        item_id_type: model.items.kind().sql_type(),
        n_users: model.n_users() as i64,
        n_items: model.n_items() as i64,
        n_interactions: model.seen.nnz() as i64,
        train_seconds: 0.0,
        blob: data,
    })?;
    if deploy {
        catalog::deploy(model_name, model_id, "imported")?;
    }
    Ok(version)
}
