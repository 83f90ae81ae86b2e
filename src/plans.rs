//! Statements on the hot paths (decide, reward, policy lookups) are parsed and planned once per
//! backend and kept (SPI_keepplan); PostgreSQL's plan cache revalidates them when the tables they
//! use change. Parsing and planning otherwise cost more than executing these one-row statements.

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::PgOid;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiResult, SpiTupleTable};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

thread_local! {
    static PLANS: RefCell<HashMap<(&'static str, bool), Rc<OwnedPreparedStatement>>> =
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
    let types: Vec<PgOid> = args.iter().map(|a| PgOid::from(a.oid())).collect();
    let prepared = if mutating {
        c.prepare_mut(sql, &types)?
    } else {
        c.prepare(sql, &types)?
    };
    let kept = Rc::new(prepared.keep());
    PLANS.with(|m| m.borrow_mut().insert((sql, mutating), kept.clone()));
    Ok(kept)
}

/// A read-only statement through its kept plan.
pub fn select<'conn>(
    c: &SpiClient<'conn>,
    sql: &'static str,
    args: &[DatumWithOid],
) -> SpiResult<SpiTupleTable<'conn>> {
    let p = plan(c, sql, args, false)?;
    c.select(&*p, None, args)
}

/// A writing statement through its kept plan.
pub fn update<'conn>(
    c: &mut SpiClient<'conn>,
    sql: &'static str,
    args: &[DatumWithOid],
) -> SpiResult<SpiTupleTable<'conn>> {
    let p = plan(c, sql, args, true)?;
    c.update(&*p, None, args)
}
