//! Noticing catalog changes made by any backend without a query per call.
//!
//! Every change that affects what a backend caches (a deploy, a dropped model, a new policy
//! version) queues a relcache invalidation of the catalog table it concerns. PostgreSQL delivers
//! it to every backend (and to hot standbys, through WAL) when the transaction commits; our
//! callback then bumps that table's epoch, and caches compare epochs before trusting an entry.

use crate::pg::error::SqlResult;
use crate::pg::spi;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::Cell;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// mkt.deployments: which model version serves.
    Deployments,
    /// mkt.policies: policy definitions and versions.
    Policies,
}

const TABLES: [&str; 2] = ["mkt.deployments", "mkt.policies"];

thread_local! {
    static EPOCHS: [Cell<u64>; 2] = const { [Cell::new(1), Cell::new(1)] };
    static OIDS: [Cell<pg_sys::Oid>; 2] = const { [Cell::new(pg_sys::InvalidOid), Cell::new(pg_sys::InvalidOid)] };
    static REGISTERED: Cell<bool> = const { Cell::new(false) };
    /// Moved by every relcache invalidation, of any relation.
    static ANY: Cell<u64> = const { Cell::new(1) };
}

#[pg_guard]
unsafe extern "C-unwind" fn on_relcache(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    ANY.with(|a| a.set(a.get() + 1));
    OIDS.with(|oids| {
        EPOCHS.with(|epochs| {
            for (oid, epoch) in oids.iter().zip(epochs) {
                // InvalidOid: the whole relcache was reset; an unknown oid: not resolved yet.
                if relid == pg_sys::InvalidOid
                    || relid == oid.get()
                    || oid.get() == pg_sys::InvalidOid
                {
                    epoch.set(epoch.get() + 1);
                }
            }
        })
    });
}

fn oid(w: Watched) -> SqlResult<pg_sys::Oid> {
    let i = w as usize;
    let known = OIDS.with(|o| o[i].get());
    if known != pg_sys::InvalidOid {
        return Ok(known);
    }
    let found = spi::select_first::<pg_sys::Oid>(
        &format!("SELECT '{}'::regclass::oid", TABLES[i]),
        &[],
    )?
    .unwrap_or(pg_sys::InvalidOid);
    OIDS.with(|o| o[i].set(found));
    Ok(found)
}

/// The epoch of a watched table as this node's invalidations moved it: an entry cached under
/// another epoch must be re-checked. (On a Citus catalog invalidations do not cross nodes; caches
/// ask `citus::cache_epoch`, which accounts for that.)
pub fn epoch(w: Watched) -> SqlResult<u64> {
    if !REGISTERED.with(|r| r.get()) {
        oid(Watched::Deployments)?;
        oid(Watched::Policies)?;
        // SAFETY: registers a static function once per backend, from the main thread.
        unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache), pg_sys::Datum::from(0)) };
        REGISTERED.with(|r| r.set(true));
    }
    Ok(EPOCHS.with(|e| e[w as usize].get()))
}

/// An epoch that every relcache invalidation this backend receives moves, whatever the relation:
/// what was looked up by name under another epoch may have been dropped, renamed or altered.
pub fn any_relation_epoch() -> SqlResult<u64> {
    // The callback that moves it is registered by the first `epoch`.
    epoch(Watched::Policies)?;
    Ok(ANY.with(|a| a.get()))
}

/// Makes every backend re-check what it cached from `w` after this transaction commits (and this
/// backend right away).
pub fn invalidate_everywhere(w: Watched) {
    if let Ok(oid) = oid(w) {
        if oid != pg_sys::InvalidOid {
            // SAFETY: the relation exists (we just resolved it); the call only queues a message.
            unsafe { pg_sys::CacheInvalidateRelcacheByRelid(oid) };
        }
    }
    EPOCHS.with(|e| e[w as usize].set(e[w as usize].get() + 1));
}
