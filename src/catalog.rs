//! SQL access to the model catalog (mkt.model_versions, mkt.model_blobs, mkt.deployments).
//! Reads use `Spi::connect(.. select ..)`, which takes no transaction id, so serving works on a
//! hot standby; writes go through `connect_mut`.

use crate::error::{OrSql, SqlResult};
use mkt_core::names::quote_shown;
use mkt_core::Error;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

/// The first column of the first row, or None when there is no row.
pub fn first<T: FromDatum + IntoDatum>(
    t: pgrx::spi::SpiTupleTable,
) -> pgrx::spi::Result<Option<T>> {
    if t.is_empty() {
        Ok(None)
    } else {
        t.first().get_one::<T>()
    }
}

/// Stored blobs are split below PostgreSQL's 1 GB limit for one bytea value.
const PART_BYTES: usize = 256 << 20;

/// Everything about a new version except what the database assigns.
pub struct NewVersion<'a> {
    pub model_name: &'a str,
    pub algorithm: &'a str,
    pub params: &'a serde_json::Value,
    pub source: &'a str,
    pub user_col: &'a str,
    pub item_col: &'a str,
    pub weight_col: Option<&'a str>,
    pub user_id_type: &'a str,
    pub item_id_type: &'a str,
    pub n_users: i64,
    pub n_items: i64,
    pub n_interactions: i64,
    pub train_seconds: f64,
    pub blob: &'a [u8],
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

fn unknown_model(name: &str) -> pgrx::pg_sys::panic::ErrorReport {
    crate::error::report(Error::UndefinedObject(format!(
        "model {} does not exist",
        quote_shown(name)
    )))
}

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

/// The owner of a model name, if anyone owns it (the ACL is readable by every role).
pub fn owner(name: &str) -> SqlResult<Option<String>> {
    select_first::<String>(
        "SELECT grantee::text FROM mkt.model_acl WHERE model_name = $1 AND privilege = 'owner'",
        &[name.into()],
    )
}

fn permission_denied(name: &str, p: Privilege, owner: &str) -> pgrx::pg_sys::panic::ErrorReport {
    crate::error::report(Error::PermissionDenied(format!(
        "permission denied to {} model {}: it belongs to role {}; its owner can run mkt.grant_model",
        p.name(),
        quote_shown(name),
        quote_shown(owner)
    )))
}

/// Refuses, with 42501, a role that may not `p` the model (superusers, the owner's members and
/// grantees may; nobody owns a name before its first training).
pub fn require(name: &str, p: Privilege) -> SqlResult<()> {
    if allowed(name, p)? {
        return Ok(());
    }
    Err(permission_denied(name, p, &owner(name)?.unwrap_or_default()))
}

/// mkt.model_allowed for the current role.
fn allowed(name: &str, p: Privilege) -> SqlResult<bool> {
    select_first::<bool>(
        "SELECT mkt.model_allowed($1, $2)",
        &[name.into(), p.name().into()],
    )
    .map(|a| a.unwrap_or(false))
}

/// The error for a model the current role cannot see: row-level security hid one it may not use
/// (say so), or there is none.
fn not_visible(name: &str) -> SqlResult<pgrx::pg_sys::panic::ErrorReport> {
    Ok(match owner(name)? {
        Some(o) if !allowed(name, Privilege::Use)? => permission_denied(name, Privilege::Use, &o),
        _ => unknown_model(name),
    })
}

/// A valid name the current role may train versions of (checked before any work is done).
pub fn check_can_train(name: &str) -> SqlResult<()> {
    check_model_name(name)?;
    require(name, Privilege::Manage)
}

/// Serialises catalog changes of one model name (version numbering, deploys) across sessions.
fn lock_model_name(client: &mut pgrx::spi::SpiClient, name: &str) -> SqlResult<()> {
    client
        .update(
            "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('pg_marketing.model:' || $1, 0))",
            None,
            &[name.into()],
        )
        .sql()
        .map(|_| ())
}

/// Inserts a version with its blob; returns (model_id, version).
pub fn insert_version(v: &NewVersion) -> SqlResult<(i64, i32)> {
    Spi::connect_mut(|c| {
        lock_model_name(c, v.model_name)?;
        require(v.model_name, Privilege::Manage)?;
        // The first version's trainer owns the name.
        c.update(
            "INSERT INTO mkt.model_acl (model_name, grantee, privilege) SELECT $1, current_user, 'owner' \
             WHERE NOT EXISTS (SELECT 1 FROM mkt.model_acl WHERE model_name = $1 AND privilege = 'owner')",
            None,
            &[v.model_name.into()],
        )
        .sql()?;
        let version = c
            .select(
                "SELECT COALESCE(max(version), 0) + 1 FROM mkt.model_versions WHERE model_name = $1",
                None,
                &[v.model_name.into()],
            )
            .sql()?;
        let version = first::<i32>(version).sql()?.unwrap_or(1);
        let args: Vec<DatumWithOid> = vec![
            v.model_name.into(),
            version.into(),
            v.algorithm.into(),
            pgrx::JsonB(v.params.clone()).into(),
            v.source.into(),
            v.user_col.into(),
            v.item_col.into(),
            v.weight_col.into(),
            v.user_id_type.into(),
            v.item_id_type.into(),
            v.n_users.into(),
            v.n_items.into(),
            v.n_interactions.into(),
            v.train_seconds.into(),
            (v.blob.len() as i64).into(),
        ];
        let model_id = c
            .update(
                "INSERT INTO mkt.model_versions (model_name, version, algorithm, params, source, user_col, \
                 item_col, weight_col, user_id_type, item_id_type, n_users, n_items, n_interactions, \
                 train_seconds, size_bytes) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) \
                 RETURNING model_id",
                None,
                &args,
            )
            .sql()?;
        let model_id = first::<i64>(model_id)
            .sql()?
            .expect("RETURNING gives a row");
        write_blob(c, model_id, v.blob)?;
        Ok((model_id, version))
    })
}

fn write_blob(c: &mut pgrx::spi::SpiClient, model_id: i64, blob: &[u8]) -> SqlResult<()> {
    for (part, chunk) in blob.chunks(PART_BYTES).enumerate() {
        c.update(
            "INSERT INTO mkt.model_blobs (model_id, part, data) VALUES ($1, $2, $3)",
            None,
            &[model_id.into(), (part as i32).into(), chunk.into()],
        )
        .sql()?;
    }
    Ok(())
}

/// Replaces the stored bytes of a version in place (same id and version number), with its user
/// count; the caller makes every backend reload it (`invalidation`; caches compare the bytes' key).
pub fn rewrite_blob(model_id: i64, blob: &[u8], n_users: i64) -> SqlResult<()> {
    Spi::connect_mut(|c| {
        c.update("DELETE FROM mkt.model_blobs WHERE model_id = $1", None, &[model_id.into()])
            .sql()?;
        write_blob(c, model_id, blob)?;
        c.update(
            "UPDATE mkt.model_versions SET n_users = $2, size_bytes = $3 WHERE model_id = $1",
            None,
            &[model_id.into(), n_users.into(), (blob.len() as i64).into()],
        )
        .sql()
        .map(|_| ())
    })
}

/// The first column of the first row of a read-only query (no transaction id), or None.
pub fn select_first<T: FromDatum + IntoDatum>(
    sql: &str,
    args: &[DatumWithOid],
) -> SqlResult<Option<T>> {
    Spi::connect(|c| first::<T>(c.select(sql, None, args)?)).sql()
}

/// `found`, or the error that says why not: no such model at all, or `missing` for a model that
/// exists.
fn found_or<T>(found: Option<T>, name: &str, missing: &str) -> SqlResult<T> {
    match found {
        Some(id) => Ok(id),
        None if model_exists(name)? => Err(Error::UndefinedObject(format!(
            "model {} {missing}",
            quote_shown(name)
        )))
        .sql(),
        None => Err(not_visible(name)?),
    }
}

/// The model id of `name` at `version`.
pub fn version_id(name: &str, version: i32) -> SqlResult<i64> {
    let found = select_first::<i64>(
        "SELECT model_id FROM mkt.model_versions WHERE model_name = $1 AND version = $2",
        &[name.into(), version.into()],
    )?;
    found_or(found, name, &format!("has no version {version}"))
}

pub fn model_exists(name: &str) -> SqlResult<bool> {
    select_first::<bool>(
        "SELECT EXISTS (SELECT 1 FROM mkt.model_versions WHERE model_name = $1)",
        &[name.into()],
    )
    .map(|b| b.unwrap_or(false))
}

/// The deployed version's model id (read-only; no transaction id).
pub fn deployed_id(name: &str) -> SqlResult<i64> {
    let found = select_first::<i64>(
        "SELECT model_id FROM mkt.deployments WHERE model_name = $1",
        &[name.into()],
    )?;
    found_or(
        found,
        name,
        "has no deployed version; deploy one with mkt.deploy",
    )
}

/// What identifies the stored bytes of a version: the xmin and total length of its blob rows.
/// Both change when the bytes are rewritten in place (mkt.forget_subject), and a version from an
/// earlier install of the extension with a reused id differs in xmin.
pub type BlobKey = (i64, i64);

/// The `BlobKey` aggregate over `mkt.model_blobs b` grouped by model id.
const BLOB_KEY: &str = "min(b.xmin::text::bigint), sum(octet_length(b.data))::bigint";

/// The deployed version's model id and the key of its stored bytes.
pub fn deployed_key(name: &str) -> SqlResult<(i64, BlobKey)> {
    let found = Spi::connect(|c| {
        let t = c.select(
            &format!(
                "SELECT d.model_id, {BLOB_KEY} FROM mkt.deployments d \
                 LEFT JOIN mkt.model_blobs b USING (model_id) WHERE d.model_name = $1 GROUP BY d.model_id"
            ),
            None,
            &[name.into()],
        )?;
        if t.is_empty() {
            return Ok(None);
        }
        let row = t.first();
        let key = (
            row.get::<i64>(2)?.unwrap_or(0),
            row.get::<i64>(3)?.unwrap_or(0),
        );
        Ok::<_, pgrx::spi::Error>(row.get::<i64>(1)?.map(|id| (id, key)))
    })
    .sql()?;
    found_or(
        found,
        name,
        "has no deployed version; deploy one with mkt.deploy",
    )
}

/// Every stored version's model id with the key of its bytes.
pub fn blob_keys() -> SqlResult<Vec<(i64, BlobKey)>> {
    Spi::connect(|c| {
        c.select(
            &format!("SELECT b.model_id, {BLOB_KEY} FROM mkt.model_blobs b GROUP BY b.model_id"),
            None,
            &[],
        )?
        .map(|r| {
            Ok((
                r.get::<i64>(1)?.unwrap_or(0),
                (r.get::<i64>(2)?.unwrap_or(0), r.get::<i64>(3)?.unwrap_or(0)),
            ))
        })
        .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .sql()
}

/// The deployed version's model id, or the newest version's when none is deployed.
pub fn deployed_or_newest_id(name: &str) -> SqlResult<i64> {
    let found = select_first::<i64>(
        "SELECT v.model_id FROM mkt.model_versions v LEFT JOIN mkt.deployments d USING (model_id) \
         WHERE v.model_name = $1 ORDER BY d.model_id IS NOT NULL DESC, v.version DESC LIMIT 1",
        &[name.into()],
    )?;
    found_or(found, name, "has no version")
}

pub fn load_blob(model_id: i64) -> SqlResult<Vec<u8>> {
    Spi::connect(|c| {
        let t = c.select(
            "SELECT data FROM mkt.model_blobs WHERE model_id = $1 ORDER BY part",
            None,
            &[model_id.into()],
        )?;
        let mut out = Vec::new();
        for row in t {
            if let Some(part) = row.get::<&[u8]>(1)? {
                out.extend_from_slice(part);
            }
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .sql()
}

/// Makes `model_id` the deployed version of `name` and records why in mkt.deploy_history.
pub fn deploy(name: &str, model_id: i64, reason: &str) -> SqlResult<()> {
    require(name, Privilege::Manage)?;
    Spi::connect_mut(|c| {
        lock_model_name(c, name)?;
        c.update(
            "INSERT INTO mkt.deployments (model_name, model_id, deployed_at, deployed_by) \
             VALUES ($1, $2, now(), current_user) \
             ON CONFLICT (model_name) DO UPDATE SET model_id = EXCLUDED.model_id, \
             deployed_at = EXCLUDED.deployed_at, deployed_by = EXCLUDED.deployed_by",
            None,
            &[name.into(), model_id.into()],
        )
        .sql()?;
        c.update(
            "INSERT INTO mkt.deploy_history (model_name, model_id, version, reason) \
             SELECT model_name, model_id, version, $2 FROM mkt.model_versions WHERE model_id = $1",
            None,
            &[model_id.into(), reason.into()],
        )
        .sql()?;
        Ok(())
    })?;
    crate::invalidation::invalidate_everywhere(crate::invalidation::Watched::Deployments);
    Ok(())
}

/// What dropping versions $1 (model ids) removes or detaches before the versions themselves.
const DROP_DEPENDENTS: [&str; 6] = [
    "DELETE FROM mkt.deployments WHERE model_id = ANY($1)",
    "DELETE FROM mkt.model_blobs WHERE model_id = ANY($1)",
    "DELETE FROM mkt.training_epochs WHERE model_id = ANY($1)",
    "DELETE FROM mkt.tuning_trials WHERE model_id = ANY($1)",
    "UPDATE mkt.deploy_history SET model_id = NULL WHERE model_id = ANY($1)",
    "DELETE FROM mkt.model_versions WHERE model_id = ANY($1)",
];

/// Drops one version or all of them; if the deployed version goes and others remain, the newest
/// remaining one is deployed. Returns the number of versions dropped.
pub fn drop_versions(name: &str, version: Option<i32>) -> SqlResult<i64> {
    if let Some(v) = version {
        version_id(name, v)?;
    } else if !model_exists(name)? {
        return Err(not_visible(name)?);
    }
    require(name, Privilege::Manage)?;
    let (dropped, redeployed) = Spi::connect_mut(|c| {
        lock_model_name(c, name)?;
        let dropped = c
            .select(
                "SELECT coalesce(array_agg(model_id), '{}') FROM mkt.model_versions \
                 WHERE model_name = $1 AND ($2::int IS NULL OR version = $2)",
                None,
                &[name.into(), version.into()],
            )
            .sql()?;
        let dropped = first::<Vec<i64>>(dropped).sql()?.unwrap_or_default();
        // The dependents one by one rather than through the foreign keys' cascades: on Citus the
        // catalog's reference tables carry no foreign keys (see mkt.citus_setup).
        for sql in DROP_DEPENDENTS {
            c.update(sql, None, &[dropped.clone().into()]).sql()?;
        }
        crate::model_files::forget(&dropped);
        let dropped = dropped.len() as i64;
        let newest = c
            .select(
                "SELECT model_id, version FROM mkt.model_versions WHERE model_name = $1 \
                 ORDER BY version DESC LIMIT 1",
                None,
                &[name.into()],
            )
            .sql()?;
        let newest = match newest.is_empty() {
            true => None,
            false => {
                let r = newest.first();
                r.get::<i64>(1).sql()?.zip(r.get::<i32>(2).sql()?)
            }
        };
        let mut redeployed = None;
        if let Some((id, v)) = newest {
            let t = c
                .update(
                    "INSERT INTO mkt.deployments (model_name, model_id) VALUES ($1, $2) \
                     ON CONFLICT (model_name) DO NOTHING RETURNING 1",
                    None,
                    &[name.into(), id.into()],
                )
                .sql()?;
            if !t.is_empty() {
                redeployed = Some(v);
            }
        }
        Ok::<_, pgrx::pg_sys::panic::ErrorReport>((dropped, redeployed))
    })?;
    if let Some(v) = redeployed {
        pgrx::notice!(
            "the deployed version of model '{name}' was dropped; version {v} is deployed now"
        );
    }
    crate::invalidation::invalidate_everywhere(crate::invalidation::Watched::Deployments);
    Ok(dropped)
}

/// Merges `metrics` into the stored metrics of a version.
pub fn record_metrics(model_id: i64, metrics: serde_json::Value) -> SqlResult<()> {
    Spi::connect_mut(|c| {
        c.update(
            "UPDATE mkt.model_versions SET metrics = metrics || $2 WHERE model_id = $1",
            None,
            &[model_id.into(), pgrx::JsonB(metrics).into()],
        )
        .sql()
        .map(|_| ())
    })
}
