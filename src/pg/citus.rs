//! Running on a Citus cluster (see README "Scaling out with Citus" and `mkt.citus_setup`).
//!
//! Once `mkt.citus_setup()` made the model and policy catalog reference tables, three things
//! differ on every node:
//! - Relcache invalidations do not cross nodes, so caches check the catalog on every call instead
//!   of trusting an epoch (`invalidation::epoch`).
//! - A call pushed down inside a shard query (`LATERAL mkt.recommend(..)` over a distributed
//!   table) reads the reference tables through Citus' executor, which Citus refuses as nested
//!   distributed execution unless `citus.allow_nested_distributed_execution` is on. Reference
//!   tables have a placement on every node and never move with a shard, which is the hazard that
//!   setting guards against, so catalog reads turn it on for their own duration only.
//! - Rewards are stored with their decision on the subject's worker and folded into the shared
//!   policy state by `mkt.fold_rewards()` (see `policies`).

use crate::pg::error::SqlResult;
use crate::pg::invalidation::{self, Watched};
use crate::pg::spi;
use pgrx::pg_sys;
use std::cell::Cell;
use std::ffi::CString;

thread_local! {
    /// (relcache epoch it was checked under, answer).
    static KNOWN: Cell<Option<(u64, bool)>> = const { Cell::new(None) };
    /// Epochs handed out on a Citus catalog: above any real epoch, never handed out twice.
    static FRESH: Cell<u64> = const { Cell::new(1 << 62) };
}

/// Why a decision on a Citus catalog needs a subject (mkt.decide and the planner guard).
pub const NULL_SUBJECT: &str =
    "subject must not be NULL on a Citus catalog: decisions are distributed by subject";

/// The epoch a per-backend cache of `w` compares its entries with. On a Citus catalog every call
/// gets a new one: invalidations do not cross nodes, so a cache re-checks the catalog (one indexed
/// read) each time.
pub fn cache_epoch(w: Watched) -> SqlResult<u64> {
    let e = invalidation::epoch(w)?;
    if catalog_distributed()? {
        return Ok(FRESH.with(|f| {
            f.set(f.get() + 1);
            f.get()
        }));
    }
    Ok(e)
}

/// Whether this database's catalog is distributed by Citus (`mkt.deployments` is a Citus table).
/// Checked again only after a relcache invalidation, which Citus sends when it adds a table's
/// metadata, on the coordinator and on every worker.
pub fn catalog_distributed() -> SqlResult<bool> {
    let epoch = invalidation::epoch(Watched::Deployments)?;
    if let Some((e, d)) = KNOWN.with(|k| k.get()) {
        if e == epoch {
            return Ok(d);
        }
    }
    let citus = spi::select_first::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')",
        &[],
    )?
    .unwrap_or(false);
    let distributed = citus
        && spi::select_first::<bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition \
             WHERE logicalrelid = 'mkt.deployments'::regclass)",
            &[],
        )?
        .unwrap_or(false);
    KNOWN.with(|k| k.set(Some((epoch, distributed))));
    Ok(distributed)
}

/// Runs `f`, which reads only reference tables of the catalog, with nested distributed execution
/// allowed when the catalog is distributed; the setting returns to what it was afterwards.
pub fn catalog_reads<T>(f: impl FnOnce() -> SqlResult<T>) -> SqlResult<T> {
    if !catalog_distributed()? {
        return f();
    }
    // SAFETY: GUC calls from the backend's main thread. If `f` raises an ERROR, the (sub)transaction
    // abort pops the nest level and restores the setting.
    let level = unsafe { pg_sys::NewGUCNestLevel() };
    set_for_level("citus.allow_nested_distributed_execution", "on");
    let out = f();
    unsafe { pg_sys::AtEOXact_GUC(true, level) };
    out
}

fn set_for_level(name: &str, value: &str) {
    let (Ok(name), Ok(value)) = (CString::new(name), CString::new(value)) else {
        return;
    };
    // SAFETY: valid C strings; GUC_ACTION_SAVE ties the value to the current nest level.
    unsafe {
        pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
    }
}

