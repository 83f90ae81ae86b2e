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
    catalog::check_can_train(model_name)?;
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

/// Checks a grant or revoke: a known privilege, an existing role, a model that exists, and a
/// caller who owns it. Returns the model's owner.
fn check_grant(model_name: &str, role: &str, privilege: &str) -> Result<Option<String>, ErrorReport> {
    crate::error::require_primary("mkt.grant_model and mkt.revoke_model")?;
    if !matches!(privilege, "use" | "manage" | "owner") {
        return Err(crate::error::invalid(format!(
            "privilege must be 'use', 'manage' or 'owner', got {}",
            mkt_core::names::quote_shown(privilege)
        )));
    }
    let known = role == "public"
        || catalog::select_first::<bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)",
            &[role.into()],
        )?
        .unwrap_or(false);
    if !known {
        return Err(Error::UndefinedObject(format!(
            "role {} does not exist",
            mkt_core::names::quote_shown(role)
        )))
        .sql();
    }
    let owner = catalog::owner(model_name)?;
    if owner.is_none() && !catalog::model_exists(model_name)? {
        return Err(Error::UndefinedObject(format!(
            "model {} does not exist",
            mkt_core::names::quote_shown(model_name)
        )))
        .sql();
    }
    let may = catalog::select_first::<bool>(
        "SELECT mkt.acl_writable($1, $2, $3)",
        &[model_name.into(), role.into(), privilege.into()],
    )?
    .unwrap_or(false);
    if !may {
        return Err(Error::PermissionDenied(format!(
            "only the owner of model {} (role {}) can grant or revoke privileges on it",
            mkt_core::names::quote_shown(model_name),
            mkt_core::names::quote_shown(owner.as_deref().unwrap_or(""))
        )))
        .sql();
    }
    Ok(owner)
}

#[pg_extern(volatile, parallel_unsafe)]
fn grant_model(
    model_name: Option<&str>,
    role: Option<&str>,
    privilege: default!(Option<&str>, "'use'"),
) -> Result<(), ErrorReport> {
    let model_name = required(model_name, "model_name")?;
    let role = required(role, "role")?;
    let privilege = required(privilege, "privilege")?;
    let owner = check_grant(model_name, role, privilege)?;
    let sql = if privilege == "owner" && owner.is_some() {
        // A transfer: the one owner row changes hands.
        "UPDATE mkt.model_acl SET grantee = $2, granted_by = current_user, granted_at = now() \
         WHERE model_name = $1 AND privilege = $3"
    } else {
        "INSERT INTO mkt.model_acl (model_name, grantee, privilege) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING"
    };
    Spi::connect_mut(|c| {
        c.update(sql, None, &[model_name.into(), role.into(), privilege.into()])
            .map(|_| ())
    })
    .sql()?;
    crate::invalidation::invalidate_everywhere(crate::invalidation::Watched::Deployments);
    Ok(())
}

#[pg_extern(volatile, parallel_unsafe)]
fn revoke_model(
    model_name: Option<&str>,
    role: Option<&str>,
    privilege: default!(Option<&str>, "NULL"),
) -> Result<i64, ErrorReport> {
    let model_name = required(model_name, "model_name")?;
    let role = required(role, "role")?;
    if privilege == Some("owner") {
        return Err(crate::error::invalid(
            "a model always has an owner; transfer it with mkt.grant_model(model_name, role, 'owner')",
        ));
    }
    check_grant(model_name, role, privilege.unwrap_or("use"))?;
    let removed = Spi::connect_mut(|c| {
        catalog::first::<i64>(c.update(
            "WITH d AS (DELETE FROM mkt.model_acl WHERE model_name = $1 AND grantee = $2 \
             AND privilege <> 'owner' AND ($3::text IS NULL OR privilege = $3) RETURNING 1) \
             SELECT count(*) FROM d",
            None,
            &[model_name.into(), role.into(), privilege.into()],
        )?)
    })
    .sql()?
    .unwrap_or(0);
    crate::invalidation::invalidate_everywhere(crate::invalidation::Watched::Deployments);
    Ok(removed)
}
