//! Per-backend cache of deployed models.
//!
//! A model is decoded once per backend and reused until its deployment or its grants change,
//! which is noticed through `invalidation` without a query per call (per role: the catalog is
//! read under the caller's row-level security once for each role that asks); after a change the
//! next lookup re-reads the deployed model id (one indexed read) and reloads only if it changed.

use crate::models::blob_store::{self, Blobs};
use crate::models::stored::Stored;
use crate::models::{access, catalog};
use crate::pg::citus;
use crate::pg::error::{OrSql, SqlResult};
use crate::pg::gucs::{MODEL_CACHE_MB, SHARED_MODELS};
use crate::pg::invalidation::Watched;
use mkt_clv::model::ClvModel;
use mkt_reco::Model;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

struct Entry {
    model_id: i64,
    /// Key of the stored bytes: a rewrite in place (mkt.forget_subject) changes it.
    blob_key: catalog::BlobKey,
    model: Stored,
    epoch: u64,
    /// Roles the catalog (under row-level security) showed this version to, under `epoch`: a
    /// SET ROLE in the same backend reads it again as the new role.
    roles: Vec<pgrx::pg_sys::Oid>,
    bytes: usize,
    /// Value of USES when last served: the smallest is the least recently used.
    used: u64,
}

thread_local! {
    static ENTRIES: RefCell<HashMap<String, Entry>> = RefCell::new(HashMap::new());
    static USES: Cell<u64> = const { Cell::new(0) };
}

/// The deployed recommender of `name` and its model id.
pub fn get(name: &str) -> SqlResult<(i64, Arc<Model>)> {
    let (id, stored) = citus::catalog_reads(|| lookup(name))?;
    Ok((id, stored.recommender(name)?))
}

/// The deployed customer value model of `name` and its model id.
pub fn customer_value(name: &str) -> SqlResult<(i64, Arc<ClvModel>)> {
    let (id, stored) = citus::catalog_reads(|| lookup(name))?;
    Ok((id, stored.customer_value(name)?))
}

/// The deployed predictor of `name` and its model id.
pub fn predictor(name: &str) -> SqlResult<(i64, Arc<mkt_predict::predictor::Predictor>)> {
    let (id, stored) = citus::catalog_reads(|| lookup(name))?;
    Ok((id, stored.predictor(name)?))
}

/// The deployed uplift model of `name` and its model id.
pub fn uplift(name: &str) -> SqlResult<(i64, Arc<mkt_predict::uplift_stored::Uplift>)> {
    let (id, stored) = citus::catalog_reads(|| lookup(name))?;
    Ok((id, stored.uplift(name)?))
}

fn lookup(name: &str) -> SqlResult<(i64, Stored)> {
    let epoch = citus::cache_epoch(Watched::Deployments)?;
    // SAFETY: a plain read of the backend's current user id.
    let role = unsafe { pgrx::pg_sys::GetUserId() };
    let now = USES.with(|u| {
        u.set(u.get() + 1);
        u.get()
    });
    let hit = ENTRIES.with(|m| {
        m.borrow_mut()
            .get_mut(name)
            .filter(|e| e.epoch == epoch && e.roles.contains(&role))
            .map(|e| {
                e.used = now;
                (e.model_id, e.model.clone())
            })
    });
    if let Some(hit) = hit {
        return Ok(hit);
    }
    let (id, blob_key) = access::deployed_key(name)?;
    let same = ENTRIES.with(|m| {
        let mut m = m.borrow_mut();
        m.get_mut(name)
            .filter(|e| e.model_id == id && e.blob_key == blob_key)
            .map(|e| {
                if e.epoch != epoch {
                    e.roles.clear();
                }
                if !e.roles.contains(&role) {
                    e.roles.push(role);
                }
                e.epoch = epoch;
                e.used = now;
                e.model.clone()
            })
    });
    if let Some(model) = same {
        return Ok((id, model));
    }
    let model = load(id, blob_key)?;
    ENTRIES.with(|m| {
        let mut m = m.borrow_mut();
        m.insert(
            name.to_string(),
            Entry {
                model_id: id,
                blob_key,
                model: model.clone(),
                epoch,
                roles: vec![role],
                bytes: model.heap_bytes(),
                used: now,
            },
        );
        evict(&mut m, name);
    });
    Ok((id, model))
}

/// Drops least recently used models other than `keep` while the cache is over its budget.
fn evict(entries: &mut HashMap<String, Entry>, keep: &str) {
    let budget = MODEL_CACHE_MB.get() as usize * 1024 * 1024;
    while entries.values().map(|e| e.bytes).sum::<usize>() > budget {
        let victim = entries
            .iter()
            .filter(|(n, _)| n.as_str() != keep)
            .min_by_key(|(_, e)| e.used)
            .map(|(n, _)| n.clone());
        match victim {
            Some(n) => {
                entries.remove(&n);
            }
            None => break,
        }
    }
}

/// Number of models this backend holds, their private bytes and the bytes they view in shared
/// file mappings.
pub fn stats() -> (usize, usize, usize) {
    ENTRIES.with(|m| {
        let m = m.borrow();
        (
            m.len(),
            m.values().map(|e| e.bytes).sum(),
            m.values().map(|e| e.model.mapped_bytes()).sum(),
        )
    })
}

/// Decodes one stored version (its bytes identified by `key`), viewing the shared file of the
/// version when `mkt.shared_models` is on, else into private memory.
fn load(model_id: i64, key: catalog::BlobKey) -> SqlResult<Stored> {
    if SHARED_MODELS.get() {
        if let Some(m) = blob_store::load_mapped(model_id, key, blobs_of(model_id))? {
            return Ok(m);
        }
    }
    let blob = catalog::load_blob(model_id)?;
    Stored::decode(&blob).sql()
}

/// Builds the shared files of a version being deployed, so that the first calls after the
/// deploying transaction commits only map them (a 1M-item model's serving index takes seconds to
/// build; every serving backend would otherwise wait for it).
pub fn prepare(model_id: i64) -> SqlResult<()> {
    if !SHARED_MODELS.get() {
        return Ok(());
    }
    let key = catalog::blob_key(model_id)?;
    // Only the files: this transaction does not serve the version, so nothing is decoded.
    blob_store::ensure_files(model_id, key, blobs_of(model_id))?;
    Ok(())
}

/// Where a version's files come from: its blob rows, and the deployed versions whose files stay.
fn blobs_of(
    model_id: i64,
) -> Blobs<impl FnOnce() -> SqlResult<Vec<u8>>, fn() -> SqlResult<Vec<(i64, catalog::BlobKey)>>> {
    Blobs {
        blob: move || catalog::load_blob(model_id),
        live_keys: catalog::deployed_blob_keys,
    }
}
