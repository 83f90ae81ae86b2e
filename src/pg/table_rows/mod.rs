//! Rows read and written with the access methods instead of a statement, on hot paths where a
//! statement's machinery (plan revalidation, executor start-up, a portal and projections) costs
//! more than the work: `mkt.decide` reads a policy's state by key and logs one row per call
//! (`lookup`, `insert`), and a sequence model reads a user's latest events from its history table
//! (`newest`). See README, "Where policy state lives, and why" and "Live history".
//!
//! Each gives up (returns false) and leaves the caller to run its statement whenever the table is
//! anything but a plain local heap the caller may use as it stands: Citus, row-level security on,
//! privileges missing (the statement then reports them), a trigger or rule on the table, a column
//! the caller does not name, or (for `newest`) no fitting index. Otherwise they do what the
//! statement would: reads under the snapshot it would take, and inserts through PostgreSQL's own
//! single-row insert path (`ExecSimpleRelationInsert`: constraints, the tuple, every index with
//! its predicate) with the locks a statement takes.

mod insert;
mod lookup;
mod newest;

pub use insert::{insert, next_value};
pub use lookup::lookup;
pub use newest::newest;

use crate::pg::citus;
use crate::pg::invalidation;
use pgrx::pg_sys::{self, Datum, Oid};
use pgrx::FromDatum;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, CStr};

const SCHEMA: &CStr = c"mkt";

/// A key column's value.
pub enum Key<'a> {
    Int8(i64),
    Text(&'a str),
}

thread_local! {
    /// Relations found by name, under the relcache epoch they were found in.
    static FOUND: RefCell<(u64, HashMap<&'static CStr, Oid>)> = RefCell::new((0, HashMap::new()));
}

/// `name` in the extension's schema (InvalidOid when absent), looked up again after any relcache
/// invalidation.
fn relation(name: &'static CStr) -> Oid {
    let Ok(epoch) = invalidation::any_relation_epoch() else {
        return pg_sys::InvalidOid;
    };
    FOUND.with(|f| {
        let mut f = f.borrow_mut();
        if f.0 != epoch {
            *f = (epoch, HashMap::new());
        }
        // SAFETY: syscache lookups by name, on the backend's main thread; absent names give
        // InvalidOid (missing_ok).
        *f.1.entry(name).or_insert_with(|| unsafe {
            let nsp = pg_sys::get_namespace_oid(SCHEMA.as_ptr(), true);
            if nsp == pg_sys::InvalidOid {
                return pg_sys::InvalidOid;
            }
            pg_sys::get_relname_relid(name.as_ptr(), nsp)
        })
    })
}

/// Whether `relid` is a plain local table the current user may use with `mode` as it stands, with
/// no permission hook installed (sepgsql, pgaudit's object audit log) that a statement would call.
fn plain_table(relid: Oid, mode: pg_sys::AclMode) -> bool {
    // SAFETY: a read of a hook variable and catalog lookups of an existing relation, on the
    // backend's main thread.
    relid != pg_sys::InvalidOid
        && unsafe {
            std::ptr::addr_of!(pg_sys::ExecutorCheckPerms_hook).read().is_none()
                && pg_sys::get_rel_relkind(relid) == pg_sys::RELKIND_RELATION as c_char
                && pg_sys::pg_class_aclcheck(relid, pg_sys::GetUserId(), mode)
                    == pg_sys::AclResult::ACLCHECK_OK
                && pg_sys::check_enable_rls(relid, pg_sys::InvalidOid, true)
                    != pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32
        }
}

/// `plain_table` for one of the extension's tables, which are local unless Citus distributes the
/// catalog.
fn usable(relid: Oid, mode: pg_sys::AclMode) -> bool {
    matches!(citus::catalog_distributed(), Ok(false)) && plain_table(relid, mode)
}

/// The column called `name` of `desc`: (attribute number, its attribute).
///
/// # Safety
/// `desc` is a valid tuple descriptor.
unsafe fn column(
    desc: pg_sys::TupleDesc,
    name: &CStr,
) -> Option<(pg_sys::AttrNumber, *const pg_sys::FormData_pg_attribute)> {
    let natts = usize::try_from((*desc).natts).unwrap_or(0);
    let attrs = (*desc).attrs.as_slice(natts);
    attrs.iter().enumerate().find_map(|(i, a)| {
        (!a.attisdropped && CStr::from_ptr(a.attname.data.as_ptr()) == name)
            .then(|| (i as pg_sys::AttrNumber + 1, a as *const _))
    })
}

/// What an equality scan key on a column of type `type_oid` becomes for `key`.
enum KeyMatch {
    /// The key's (procedure, datum) in the column's type.
    Equal(u32, Datum),
    /// An integer outside the column's type: equal to no row.
    NoRow,
    /// A key of another kind than the column: the caller's statement decides.
    Unsupported,
}

/// `key` as an equality scan key on a column of type `type_oid`: an integer key goes with
/// bigint, integer and smallint columns, a text key with text columns.
///
/// # Safety
/// On the backend's main thread: a text key is copied into the current memory context.
unsafe fn key_match(key: &Key, type_oid: Oid) -> KeyMatch {
    match (key, type_oid) {
        (Key::Int8(v), pg_sys::INT8OID) => KeyMatch::Equal(pg_sys::F_INT8EQ, Datum::from(*v)),
        (Key::Int8(v), pg_sys::INT4OID) => i32::try_from(*v)
            .map_or(KeyMatch::NoRow, |v| KeyMatch::Equal(pg_sys::F_INT4EQ, Datum::from(v))),
        (Key::Int8(v), pg_sys::INT2OID) => i16::try_from(*v)
            .map_or(KeyMatch::NoRow, |v| KeyMatch::Equal(pg_sys::F_INT2EQ, Datum::from(v))),
        (Key::Text(s), pg_sys::TEXTOID) => KeyMatch::Equal(
            pg_sys::F_TEXTEQ,
            Datum::from(pg_sys::cstring_to_text_with_len(
                s.as_ptr().cast(),
                i32::try_from(s.len()).unwrap_or(i32::MAX),
            )),
        ),
        _ => KeyMatch::Unsupported,
    }
}

/// The B-tree equality scan key of (procedure, datum) on attribute or index column `attno`,
/// compared under `collation` (the index's, which positions the scan as the index is ordered).
///
/// # Safety
/// On the backend's main thread.
unsafe fn equality_key(
    attno: pg_sys::AttrNumber,
    collation: Oid,
    (procedure, datum): (u32, Datum),
) -> pg_sys::ScanKeyData {
    let mut k = std::mem::zeroed::<pg_sys::ScanKeyData>();
    pg_sys::ScanKeyEntryInitialize(
        &mut k,
        0,
        attno,
        pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
        pg_sys::InvalidOid,
        collation,
        pg_sys::RegProcedure::from(procedure),
        datum,
    );
    k
}

/// A column's value from a datum `lookup` gives (None: NULL).
///
/// # Safety
/// `d` is a datum of `T`'s SQL type, valid while it is read.
pub unsafe fn value<T: FromDatum>(d: Option<Datum>) -> Option<T> {
    d.and_then(|d| T::from_datum(d, false))
}

/// Makes the active snapshot the one an SPI statement of ours would read under (pgrx runs reads
/// read-only until the transaction has written): the calling query's before, and after a write
/// the transaction's latest, which sees its own changes and, in READ COMMITTED, others' commits
/// since. In parallel mode no command may start, and SPI reads read-only as well. Returns whether
/// a snapshot was pushed, for `end_read`.
///
/// # Safety
/// On the backend's main thread, with an active snapshot.
unsafe fn begin_read() -> bool {
    let wrote = pg_sys::GetCurrentTransactionIdIfAny() != pg_sys::InvalidTransactionId
        && !pg_sys::IsInParallelMode();
    if wrote {
        pg_sys::CommandCounterIncrement();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    wrote
}

/// # Safety
/// `pushed` is what the matching `begin_read` returned.
unsafe fn end_read(pushed: bool) {
    if pushed {
        pg_sys::PopActiveSnapshot();
    }
}
