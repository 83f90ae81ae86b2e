//! Finding a model's versions as the current role may see them, and the errors that say why not:
//! no such model, no such version, none deployed, or one that belongs to another role.

use crate::models::catalog::{self, acl, BlobKey};
use crate::pg::error::{report, OrSql, SqlResult};
use mkt_core::names::quote_shown;
use mkt_core::Error;
use pgrx::pg_sys::panic::ErrorReport;

/// What a role may do with a model (mkt.model_acl): `Use` serves, exports, evaluates and reads it;
/// `Manage` also trains new versions, deploys, rolls back and drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    Use,
    Manage,
}

impl Privilege {
    fn name(self) -> &'static str {
        match self {
            Privilege::Use => "use",
            Privilege::Manage => "manage",
        }
    }
}

pub fn check_model_name(name: &str) -> SqlResult<()> {
    if name.is_empty() || name.len() > 128 || name.chars().any(|c| c.is_control()) {
        return Err(Error::InvalidParameter(format!(
            "model name {} must be 1 to 128 bytes without control characters",
            quote_shown(name)
        )))
        .sql();
    }
    Ok(())
}

fn unknown_model(name: &str) -> ErrorReport {
    report(Error::UndefinedObject(format!(
        "model {} does not exist",
        quote_shown(name)
    )))
}

fn permission_denied(name: &str, p: Privilege, owner: &str) -> ErrorReport {
    report(Error::PermissionDenied(format!(
        "permission denied to {} model {}: it belongs to role {}; its owner can run mkt.grant_model",
        p.name(),
        quote_shown(name),
        quote_shown(owner)
    )))
}

/// Refuses, with 42501, a role that may not `p` the model (superusers, the owner's members and
/// grantees may; nobody owns a name before its first training).
pub fn require(name: &str, p: Privilege) -> SqlResult<()> {
    if acl::allowed(name, p.name())? {
        return Ok(());
    }
    Err(permission_denied(name, p, &acl::owner(name)?.unwrap_or_default()))
}

/// The error for a model the current role cannot see: row-level security hid one it may not use
/// (say so), or there is none.
pub fn not_visible(name: &str) -> SqlResult<ErrorReport> {
    Ok(match acl::owner(name)? {
        Some(o) if !acl::allowed(name, Privilege::Use.name())? => {
            permission_denied(name, Privilege::Use, &o)
        }
        _ => unknown_model(name),
    })
}

/// A valid name the current role may train versions of (checked before any work is done).
pub fn check_can_train(name: &str) -> SqlResult<()> {
    check_model_name(name)?;
    require(name, Privilege::Manage)
}

/// `found`, or the error that says why not: no such model at all, or `missing` for a model that
/// exists.
fn found_or<T>(found: Option<T>, name: &str, missing: &str) -> SqlResult<T> {
    match found {
        Some(id) => Ok(id),
        None if catalog::model_exists(name)? => Err(Error::UndefinedObject(format!(
            "model {} {missing}",
            quote_shown(name)
        )))
        .sql(),
        None => Err(not_visible(name)?),
    }
}

const NOT_DEPLOYED: &str = "has no deployed version; deploy one with mkt.deploy";

/// The model id of `name` at `version`.
pub fn version_id(name: &str, version: i32) -> SqlResult<i64> {
    found_or(
        catalog::version_id(name, version)?,
        name,
        &format!("has no version {version}"),
    )
}

/// The deployed version's model id.
pub fn deployed_id(name: &str) -> SqlResult<i64> {
    found_or(catalog::deployed_id(name)?, name, NOT_DEPLOYED)
}

/// The deployed version's model id and the key of its stored bytes.
pub fn deployed_key(name: &str) -> SqlResult<(i64, BlobKey)> {
    found_or(catalog::deployed_key(name)?, name, NOT_DEPLOYED)
}

/// The deployed version's model id, or the newest version's when none is deployed.
pub fn deployed_or_newest_id(name: &str) -> SqlResult<i64> {
    found_or(catalog::deployed_or_newest_id(name)?, name, "has no version")
}

/// Checks that `name` (and `version`, when given) exists and is visible.
pub fn check_exists(name: &str, version: Option<i32>) -> SqlResult<()> {
    match version {
        Some(v) => version_id(name, v).map(|_| ()),
        None if catalog::model_exists(name)? => Ok(()),
        None => Err(not_visible(name)?),
    }
}
