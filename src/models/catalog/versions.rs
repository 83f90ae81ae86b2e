//! SQL of the versioned model catalog: mkt.model_versions, mkt.model_blobs, mkt.deployments,
//! mkt.deploy_history, mkt.training_epochs. Every model kind stores its versions here.

use crate::pg::error::{missing_row, OrSql, SqlResult};
use crate::pg::spi::{self, first, select_first};
use mkt_core::progress::EpochReport;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

/// Stored blobs are split below PostgreSQL's 1 GB limit for one bytea value.
const PART_BYTES: usize = 256 << 20;

/// Everything about a new version except what the database assigns.
pub struct NewVersion<'a> {
    pub model_name: &'a str,
    pub algorithm: &'a str,
    pub params: &'a serde_json::Value,
    pub source: &'a str,
    pub user_col: &'a str,
    /// None for models without items (customer value).
    pub item_col: Option<&'a str>,
    pub weight_col: Option<&'a str>,
    pub user_id_type: &'a str,
    pub item_id_type: Option<&'a str>,
    pub n_users: i64,
    pub n_items: i64,
    pub n_interactions: i64,
    pub train_seconds: f64,
    pub blob: &'a [u8],
}

/// Serialises catalog changes of one model name (version numbering, deploys) across sessions.
fn lock_model_name(c: &mut pgrx::spi::SpiClient, name: &str) -> SqlResult<()> {
    c.update(
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('pg_marketing.model:' || $1, 0))",
        None,
        &[name.into()],
    )
    .sql()
    .map(|_| ())
}

/// Inserts a version with its blob, after `check` (which runs under the name's lock); the first
/// version's trainer becomes the name's owner. Returns (model_id, version).
pub fn insert_version(
    v: &NewVersion,
    check: impl FnOnce() -> SqlResult<()>,
) -> SqlResult<(i64, i32)> {
    Spi::connect_mut(|c| {
        lock_model_name(c, v.model_name)?;
        check()?;
        c.update(
            "INSERT INTO mkt.model_acl (model_name, grantee, privilege) SELECT $1, current_user, 'owner' \
             WHERE NOT EXISTS (SELECT 1 FROM mkt.model_acl WHERE model_name = $1 AND privilege = 'owner')",
            None,
            &[v.model_name.into()],
        )
        .sql()?;
        let version = spi::select(
            c,
            "SELECT COALESCE(max(version), 0) + 1 FROM mkt.model_versions WHERE model_name = $1",
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
            .ok_or_else(|| missing_row("INSERT INTO mkt.model_versions"))?;
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
/// count; the caller makes every backend reload it (caches compare the bytes' key).
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

/// Locks a version's catalog row, so two rewrites of its bytes never write over each other.
pub fn lock_version(model_id: i64) -> SqlResult<()> {
    crate::pg::spi::execute(
        "SELECT 1 FROM mkt.model_versions WHERE model_id = $1 FOR UPDATE",
        &[model_id.into()],
    )
    .map(|_| ())
}

/// The model id of `name` at `version`, if the current role sees it.
pub fn version_id(name: &str, version: i32) -> SqlResult<Option<i64>> {
    select_first::<i64>(
        "SELECT model_id FROM mkt.model_versions WHERE model_name = $1 AND version = $2",
        &[name.into(), version.into()],
    )
}

pub fn model_exists(name: &str) -> SqlResult<bool> {
    crate::pg::spi::select_bool(
        "SELECT EXISTS (SELECT 1 FROM mkt.model_versions WHERE model_name = $1)",
        &[name.into()],
    )
}

/// The deployed version's model id (read-only; no transaction id).
pub fn deployed_id(name: &str) -> SqlResult<Option<i64>> {
    select_first::<i64>(
        "SELECT model_id FROM mkt.deployments WHERE model_name = $1",
        &[name.into()],
    )
}

/// What identifies the stored bytes of a version: the xmin and total length of its blob rows.
/// Both change when the bytes are rewritten in place (mkt.forget_subject), and a version from an
/// earlier install of the extension with a reused id differs in xmin.
pub use mkt_core::model_files::BlobKey;

/// The `BlobKey` aggregate over `mkt.model_blobs b` grouped by model id.
const BLOB_KEY: &str = "min(b.xmin::text::bigint), sum(octet_length(b.data))::bigint";

/// The deployed version's model id and the key of its stored bytes.
pub fn deployed_key(name: &str) -> SqlResult<Option<(i64, BlobKey)>> {
    Spi::connect(|c| {
        let t = spi::select(
            c,
            &format!(
                "SELECT d.model_id, {BLOB_KEY} FROM mkt.deployments d \
                 LEFT JOIN mkt.model_blobs b USING (model_id) WHERE d.model_name = $1 GROUP BY d.model_id"
            ),
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
    .sql()
}

/// The deployed versions' model ids with the keys of their bytes: the versions whose serving
/// files are kept.
pub fn deployed_blob_keys() -> SqlResult<Vec<(i64, BlobKey)>> {
    blob_keys_where("b.model_id IN (SELECT model_id FROM mkt.deployments)", &[])
}

/// The key of one version's bytes ((0, 0) when it has none).
pub fn blob_key(model_id: i64) -> SqlResult<BlobKey> {
    let keys = blob_keys_where("b.model_id = $1", &[model_id.into()])?;
    Ok(keys.first().map_or((0, 0), |&(_, k)| k))
}

fn blob_keys_where(
    condition: &str,
    args: &[pgrx::datum::DatumWithOid],
) -> SqlResult<Vec<(i64, BlobKey)>> {
    Spi::connect(|c| {
        spi::select(
            c,
            &format!(
                "SELECT b.model_id, {BLOB_KEY} FROM mkt.model_blobs b WHERE {condition} \
                 GROUP BY b.model_id"
            ),
            args,
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
pub fn deployed_or_newest_id(name: &str) -> SqlResult<Option<i64>> {
    select_first::<i64>(
        "SELECT v.model_id FROM mkt.model_versions v LEFT JOIN mkt.deployments d USING (model_id) \
         WHERE v.model_name = $1 ORDER BY d.model_id IS NOT NULL DESC, v.version DESC LIMIT 1",
        &[name.into()],
    )
}

/// The model ids of the versions the current role may manage, in order.
pub fn manageable_ids() -> SqlResult<Vec<i64>> {
    Spi::connect(|c| {
        spi::select(
            c,
            "SELECT model_id FROM mkt.model_versions WHERE mkt.model_allowed(model_name, 'manage') \
             ORDER BY model_id",
            &[],
        )?
        .map(|r| r.get::<i64>(1).map(|v| v.unwrap_or(0)))
        .collect::<Result<Vec<_>, _>>()
    })
    .sql()
}

pub fn load_blob(model_id: i64) -> SqlResult<Vec<u8>> {
    Spi::connect(|c| {
        let t = spi::select(
            c,
            "SELECT data FROM mkt.model_blobs WHERE model_id = $1 ORDER BY part",
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
    })
}

/// The version deployed before `current` (per mkt.deploy_history): (model_id, version).
pub fn previous_deployment(name: &str, current: i64) -> SqlResult<Option<(i64, i32)>> {
    Spi::connect(|c| {
        let t = spi::select(
            c,
            "SELECT h.model_id, h.version FROM mkt.deploy_history h
             WHERE h.model_name = $1 AND h.model_id IS NOT NULL AND h.model_id <> $2
             ORDER BY h.deploy_id DESC LIMIT 1",
            &[name.into(), current.into()],
        )?;
        if t.is_empty() {
            return Ok(None);
        }
        let r = t.first();
        Ok::<_, pgrx::spi::Error>(r.get::<i64>(1)?.zip(r.get::<i32>(2)?))
    })
    .sql()
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

/// What `drop_versions` did.
pub struct Dropped {
    pub model_ids: Vec<i64>,
    /// The version deployed in place of a dropped deployed one.
    pub redeployed: Option<i32>,
}

/// Drops one version of `name` or all of them; if the deployed version goes and others remain,
/// the newest remaining one is deployed.
pub fn drop_versions(name: &str, version: Option<i32>) -> SqlResult<Dropped> {
    Spi::connect_mut(|c| {
        lock_model_name(c, name)?;
        let dropped = spi::select(
            c,
            "SELECT coalesce(array_agg(model_id), '{}') FROM mkt.model_versions \
             WHERE model_name = $1 AND ($2::int IS NULL OR version = $2)",
            &[name.into(), version.into()],
        )
        .sql()?;
        let dropped = first::<Vec<i64>>(dropped).sql()?.unwrap_or_default();
        // The dependents one by one rather than through the foreign keys' cascades: on Citus the
        // catalog's reference tables carry no foreign keys (see mkt.citus_setup).
        for sql in DROP_DEPENDENTS {
            c.update(sql, None, &[dropped.clone().into()]).sql()?;
        }
        let newest = spi::select(
            c,
            "SELECT model_id, version FROM mkt.model_versions WHERE model_name = $1 \
             ORDER BY version DESC LIMIT 1",
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
        Ok(Dropped {
            model_ids: dropped,
            redeployed,
        })
    })
}

/// Merges `metrics` into the stored metrics of a version.
pub fn record_metrics(model_id: i64, metrics: serde_json::Value) -> SqlResult<()> {
    crate::pg::spi::execute(
        "UPDATE mkt.model_versions SET metrics = metrics || $2 WHERE model_id = $1",
        &[model_id.into(), pgrx::JsonB(metrics).into()],
    )
    .map(|_| ())
}

/// Stores the epochs a version trained with (mkt.training_epochs), each with when it ended.
pub fn store_epochs(model_id: i64, epochs: &[(EpochReport, f64)]) -> SqlResult<()> {
    Spi::connect_mut(|c| {
        for (e, at) in epochs {
            c.update(
                "INSERT INTO mkt.training_epochs (model_id, epoch, loss, metric, seconds, logged_at) \
                 VALUES ($1, $2, $3, $4, $5, to_timestamp($6))",
                None,
                &[
                    model_id.into(),
                    (e.epoch as i32).into(),
                    e.loss.into(),
                    e.metric.into(),
                    e.seconds.into(),
                    (*at).into(),
                ],
            )?;
        }
        Ok::<_, pgrx::spi::Error>(())
    })
    .sql()
}
