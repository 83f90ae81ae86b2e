//! A model's versions over time: storing a trained version, deploying it, rolling back, dropping,
//! exporting and importing. Every change that affects what serving backends cache queues a
//! relcache invalidation that reaches them at commit.

use crate::models::access::{self, Privilege};
use crate::models::blob_store;
use crate::models::cache;
use crate::models::catalog::{self, NewVersion};
use crate::models::stored::Stored;
use crate::pg::error::{report, OrSql, SqlResult};
use crate::pg::invalidation::{invalidate_everywhere, Watched};
use mkt_core::names::quote_shown;
use mkt_core::Error;

/// Stores a trained version (checking, under the name's lock, that the role may manage it).
/// Returns (model_id, version).
pub fn store(v: &NewVersion) -> SqlResult<(i64, i32)> {
    catalog::insert_version(v, || access::require(v.model_name, Privilege::Manage))
}

/// Makes `model_id` the deployed version of `name`, for `reason` (kept in mkt.deploy_history).
/// The version's shared files are built here, before commit, so the first calls after it only
/// map them; the files of the version it replaces are retired when the transaction commits.
pub fn deploy(name: &str, model_id: i64, reason: &str) -> SqlResult<()> {
    access::require(name, Privilege::Manage)?;
    let replaced = catalog::deployed_id(name)?.filter(|&id| id != model_id);
    catalog::deploy(name, model_id, reason)?;
    invalidate_everywhere(Watched::Deployments);
    cache::prepare(model_id)?;
    if let Some(old) = replaced {
        blob_store::retire_at_commit(old);
    }
    Ok(())
}

pub fn deploy_version(name: &str, version: i32) -> SqlResult<()> {
    let id = access::version_id(name, version)?;
    deploy(name, id, "mkt.deploy")
}

/// Redeploys the version deployed before the current one; returns its number.
pub fn rollback(name: &str) -> SqlResult<i32> {
    let current = access::deployed_id(name)?;
    let Some((id, version)) = catalog::previous_deployment(name, current)? else {
        return Err(report(Error::InvalidState(format!(
            "model {} has no earlier deployment to roll back to",
            quote_shown(name)
        ))));
    };
    deploy(name, id, "rollback")?;
    Ok(version)
}

/// Drops one version or all of them; if the deployed version goes and others remain, the newest
/// remaining one is deployed (with a NOTICE). Returns the number of versions dropped.
pub fn drop(name: &str, version: Option<i32>) -> SqlResult<i64> {
    access::check_exists(name, version)?;
    access::require(name, Privilege::Manage)?;
    let dropped = catalog::drop_versions(name, version)?;
    // The files now rather than at the next sweep; if the drop rolls back, the next load writes
    // them again.
    blob_store::forget(&dropped.model_ids);
    if let Some(v) = dropped.redeployed {
        pgrx::notice!(
            "the deployed version of model '{name}' was dropped; version {v} is deployed now"
        );
    }
    invalidate_everywhere(Watched::Deployments);
    Ok(dropped.model_ids.len() as i64)
}

/// Rewrites the stored bytes of each version `rewrite` changes, one at a time (an erasure: `rewrite`
/// gets the version's decoded model and returns its new bytes and user count, or None to leave it),
/// so every backend reloads them. Returns how many versions changed.
pub fn rewrite_each(
    model_ids: &[i64],
    mut rewrite: impl FnMut(Stored) -> SqlResult<Option<(Vec<u8>, i64)>>,
) -> SqlResult<i64> {
    let mut changed = Vec::new();
    for &id in model_ids {
        pgrx::check_for_interrupts!();
        // Locked before reading, so two erasures of one version never write over each other.
        catalog::lock_version(id)?;
        let model = Stored::decode(&catalog::load_blob(id)?).sql()?;
        if let Some((blob, n_users)) = rewrite(model)? {
            catalog::rewrite_blob(id, &blob, n_users)?;
            changed.push(id);
        }
    }
    if !changed.is_empty() {
        blob_store::forget(&changed);
        invalidate_everywhere(Watched::Deployments);
    }
    Ok(changed.len() as i64)
}

/// The stored bytes of a version (the deployed one when `version` is None).
pub fn export(name: &str, version: Option<i32>) -> SqlResult<Vec<u8>> {
    let id = match version {
        Some(v) => access::version_id(name, v)?,
        None => access::deployed_id(name)?,
    };
    let bytes = catalog::load_blob(id)?;
    if bytes.len() >= 1 << 30 {
        return Err(Error::TooLarge(format!(
            "model {name} is {} bytes; bytea values stop at 1 GB",
            bytes.len()
        )))
        .sql();
    }
    Ok(bytes)
}

/// Stores exported bytes as a new version of `name`, checked completely first; returns the
/// version.
pub fn import(
    name: &str,
    data: &[u8],
    deploy_it: bool,
    params: &serde_json::Value,
) -> SqlResult<i32> {
    access::check_can_train(name)?;
    let stored = Stored::decode(data).sql()?;
    let v = match &stored {
        Stored::Recommender(model) => NewVersion {
            model_name: name,
            algorithm: model.algorithm.name(),
            params,
            source: "import",
            user_col: "user_id",
            item_col: Some("item_id"),
            weight_col: None,
            user_id_type: model.users.kind().sql_type(),
            item_id_type: Some(model.items.kind().sql_type()),
            n_users: model.n_users() as i64,
            n_items: model.n_items() as i64,
            n_interactions: model.seen.nnz() as i64,
            train_seconds: 0.0,
            blob: data,
        },
        Stored::CustomerValue(model) => NewVersion {
            model_name: name,
            algorithm: model.kind.name(),
            params,
            source: "import",
            user_col: "customer_id",
            item_col: None,
            weight_col: None,
            user_id_type: model.customers.kind().sql_type(),
            item_id_type: None,
            n_users: model.len() as i64,
            n_items: 0,
            n_interactions: 0,
            train_seconds: 0.0,
            blob: data,
        },
        Stored::Predictor(model) => NewVersion {
            model_name: name,
            algorithm: model.algorithm.name(),
            params,
            source: "import",
            user_col: model.key.as_deref().unwrap_or(""),
            item_col: Some(&model.label),
            weight_col: None,
            user_id_type: "text",
            item_id_type: None,
            n_users: model.rows as i64,
            n_items: model.features.columns.len() as i64,
            n_interactions: model.rows as i64,
            train_seconds: 0.0,
            blob: data,
        },
        Stored::Uplift(model) => NewVersion {
            model_name: name,
            algorithm: model.meta.name(),
            params,
            source: "import",
            user_col: model.key.as_deref().unwrap_or(""),
            item_col: Some(&model.outcome),
            weight_col: Some(&model.treatment),
            user_id_type: "text",
            item_id_type: None,
            n_users: model.rows as i64,
            n_items: model.features.columns.len() as i64,
            n_interactions: model.rows as i64,
            train_seconds: 0.0,
            blob: data,
        },
    };
    let (model_id, version) = store(&v)?;
    if deploy_it {
        deploy(name, model_id, "imported")?;
    }
    Ok(version)
}
