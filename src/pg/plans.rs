//! Statements on the hot paths (decide, reward, policy lookups) are parsed and planned once per
//! backend and kept (SPI_keepplan); PostgreSQL's plan cache revalidates them when the tables they
//! use change. Parsing and planning otherwise cost more than executing these one-row statements.
//!
//! On a single server they also run with generic plans only. Each is a key lookup or a one-row
//! write, for which a plan specialised to the values is no better; but the plan cache compares
//! costs, and on small or freshly analysed tables it kept choosing custom plans, planning the
//! statement on every call (measured: a tenth of a campaign insert's CPU time went to planning
//! mkt.policy_state lookups). A Citus catalog keeps custom plans: Citus routes a statement by its
//! parameter values and cannot plan a generic one.

use crate::pg::spi;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::PgOid;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiResult, SpiTupleTable};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

thread_local! {
    static PLANS: RefCell<HashMap<(&'static str, bool), Rc<OwnedPreparedStatement>>> =
        RefCell::new(HashMap::new());
    /// Statements built from a model's settings (a sequence model's history source), by text.
    static BUILT: RefCell<HashMap<String, Rc<OwnedPreparedStatement>>> =
        RefCell::new(HashMap::new());
}

fn plan(
    c: &SpiClient,
    sql: &'static str,
    args: &[DatumWithOid],
    mutating: bool,
) -> SpiResult<Rc<OwnedPreparedStatement>> {
    if let Some(p) = PLANS.with(|m| m.borrow().get(&(sql, mutating)).cloned()) {
        return Ok(p);
    }
    let kept = prepare_kept(c, sql, args, mutating)?;
    PLANS.with(|m| m.borrow_mut().insert((sql, mutating), kept.clone()));
    Ok(kept)
}

/// `sql` parsed and planned for `args`' types, and kept past the transaction.
fn prepare_kept(
    c: &SpiClient,
    sql: &str,
    args: &[DatumWithOid],
    mutating: bool,
) -> SpiResult<Rc<OwnedPreparedStatement>> {
    let types: Vec<PgOid> = args.iter().map(|a| PgOid::from(a.oid())).collect();
    let prepared = if mutating {
        c.prepare_mut(sql, &types)?
    } else {
        c.prepare(sql, &types)?
    };
    Ok(Rc::new(prepared.keep()))
}

/// `plan_cache_mode` set to force_generic_plan while it lives. The setting is read by
/// GetCachedPlan as the statement starts; restoring it on drop also covers an ERROR, which
/// unwinds through here. Statements nested inside (none of ours call functions) would see it too.
struct GenericPlans(std::ffi::c_int);

impl GenericPlans {
    /// None on a Citus catalog (see the module's comment), or when that cannot be told.
    fn unless_distributed() -> Option<Self> {
        match crate::pg::citus::catalog_distributed() {
            Ok(false) => Some(Self::new()),
            _ => None,
        }
    }

    fn new() -> Self {
        // SAFETY: a plain global of the backend, read and written on its main thread.
        unsafe {
            let old = pgrx::pg_sys::plan_cache_mode;
            pgrx::pg_sys::plan_cache_mode =
                pgrx::pg_sys::PlanCacheMode::PLAN_CACHE_MODE_FORCE_GENERIC_PLAN as std::ffi::c_int;
            GenericPlans(old)
        }
    }
}

impl Drop for GenericPlans {
    fn drop(&mut self) {
        // SAFETY: as in `new`.
        unsafe { pgrx::pg_sys::plan_cache_mode = self.0 };
    }
}

/// A read-only statement through its kept plan; in parallel mode planned afresh and run
/// read-only, as `spi::select` explains.
pub fn select<'conn>(
    c: &SpiClient<'conn>,
    sql: &'static str,
    args: &[DatumWithOid],
) -> SpiResult<SpiTupleTable<'conn>> {
    if spi::in_parallel_mode() {
        return spi::select(c, sql, args);
    }
    let p = plan(c, sql, args, false)?;
    let _generic = GenericPlans::unless_distributed();
    c.select(&*p, None, args)
}

/// A writing statement through its kept plan.
pub fn update<'conn>(
    c: &mut SpiClient<'conn>,
    sql: &'static str,
    args: &[DatumWithOid],
) -> SpiResult<SpiTupleTable<'conn>> {
    let p = plan(c, sql, args, true)?;
    let _generic = GenericPlans::unless_distributed();
    c.update(&*p, None, args)
}

/// A read-only statement whose text is built at run time, through a plan kept under that text.
pub fn select_built<'conn>(
    c: &SpiClient<'conn>,
    sql: &str,
    args: &[DatumWithOid],
) -> SpiResult<SpiTupleTable<'conn>> {
    if spi::in_parallel_mode() {
        return spi::select(c, sql, args);
    }
    let p = match BUILT.with(|m| m.borrow().get(sql).cloned()) {
        Some(p) => p,
        None => {
            let kept = prepare_kept(c, sql, args, false)?;
            BUILT.with(|m| m.borrow_mut().insert(sql.to_string(), kept.clone()));
            kept
        }
    };
    let _generic = GenericPlans::unless_distributed();
    c.select(&*p, None, args)
}
