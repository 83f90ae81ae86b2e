//! SQL of model ownership and grants (mkt.model_acl; its row-level security is in
//! sql/schema/models.sql).

use crate::pg::error::SqlResult;
use crate::pg::spi::{self, select_bool, select_first};

/// The owner of a model name, if anyone owns it (the ACL is readable by every role).
pub fn owner(name: &str) -> SqlResult<Option<String>> {
    select_first::<String>(
        "SELECT grantee::text FROM mkt.model_acl WHERE model_name = $1 AND privilege = 'owner'",
        &[name.into()],
    )
}

/// mkt.model_allowed for the current role: `privilege` is 'use' or 'manage'.
pub fn allowed(name: &str, privilege: &str) -> SqlResult<bool> {
    select_bool("SELECT mkt.model_allowed($1, $2)", &[name.into(), privilege.into()])
}

pub fn role_exists(role: &str) -> SqlResult<bool> {
    select_bool(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)",
        &[role.into()],
    )
}

/// Whether the current role may write this ACL row (mkt.acl_writable, which the ACL's own
/// row-level security applies).
pub fn writable(name: &str, role: &str, privilege: &str) -> SqlResult<bool> {
    select_bool(
        "SELECT mkt.acl_writable($1, $2, $3)",
        &[name.into(), role.into(), privilege.into()],
    )
}

/// Grants `privilege`; an 'owner' grant of an owned model transfers the one owner row.
pub fn grant(name: &str, role: &str, privilege: &str, transfer: bool) -> SqlResult<()> {
    let sql = if transfer {
        "UPDATE mkt.model_acl SET grantee = $2, granted_by = current_user, granted_at = now() \
         WHERE model_name = $1 AND privilege = $3"
    } else {
        "INSERT INTO mkt.model_acl (model_name, grantee, privilege) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING"
    };
    spi::execute(sql, &[name.into(), role.into(), privilege.into()]).map(|_| ())
}

/// Removes `role`'s grants of `privilege` (NULL: use and manage); returns how many.
pub fn revoke(name: &str, role: &str, privilege: Option<&str>) -> SqlResult<i64> {
    spi::update_first::<i64>(
        "WITH d AS (DELETE FROM mkt.model_acl WHERE model_name = $1 AND grantee = $2 \
         AND privilege <> 'owner' AND ($3::text IS NULL OR privilege = $3) RETURNING 1) \
         SELECT count(*) FROM d",
        &[name.into(), role.into(), privilege.into()],
    )
    .map(|n| n.unwrap_or(0))
}
