//! Model ownership and grants: mkt.grant_model and mkt.revoke_model (see README "Model ownership
//! and grants"). The catalog's row-level security enforces what is granted.

use crate::models::catalog::{self, acl};
use crate::pg::error::{invalid, require_primary, OrSql, SqlResult};
use crate::pg::invalidation::{invalidate_everywhere, Watched};
use mkt_core::names::quote_shown;
use mkt_core::Error;

/// Checks a grant or revoke: a known privilege, an existing role, a model that exists, and a
/// caller who owns it. Returns the model's owner.
fn check(name: &str, role: &str, privilege: &str) -> SqlResult<Option<String>> {
    require_primary("mkt.grant_model and mkt.revoke_model")?;
    if !matches!(privilege, "use" | "manage" | "owner") {
        return Err(invalid(format!(
            "privilege must be 'use', 'manage' or 'owner', got {}",
            quote_shown(privilege)
        )));
    }
    if role != "public" && !acl::role_exists(role)? {
        return Err(Error::UndefinedObject(format!(
            "role {} does not exist",
            quote_shown(role)
        )))
        .sql();
    }
    let owner = acl::owner(name)?;
    if owner.is_none() && !catalog::model_exists(name)? {
        return Err(Error::UndefinedObject(format!(
            "model {} does not exist",
            quote_shown(name)
        )))
        .sql();
    }
    if !acl::writable(name, role, privilege)? {
        return Err(Error::PermissionDenied(format!(
            "only the owner of model {} (role {}) can grant or revoke privileges on it",
            quote_shown(name),
            quote_shown(owner.as_deref().unwrap_or(""))
        )))
        .sql();
    }
    Ok(owner)
}

pub fn grant(name: &str, role: &str, privilege: &str) -> SqlResult<()> {
    let owner = check(name, role, privilege)?;
    acl::grant(name, role, privilege, privilege == "owner" && owner.is_some())?;
    invalidate_everywhere(Watched::Deployments);
    Ok(())
}

pub fn revoke(name: &str, role: &str, privilege: Option<&str>) -> SqlResult<i64> {
    if privilege == Some("owner") {
        return Err(invalid(
            "a model always has an owner; transfer it with mkt.grant_model(model_name, role, 'owner')",
        ));
    }
    check(name, role, privilege.unwrap_or("use"))?;
    let removed = acl::revoke(name, role, privilege)?;
    invalidate_everywhere(Watched::Deployments);
    Ok(removed)
}
