//! Key lookups in and one-row inserts into the extension's own tables, done with the access
//! methods instead of a statement. `mkt.decide` reads a policy's state by key and logs one row per
//! call; through SPI each of those is a statement with its plan revalidated, an executor started,
//! a portal and a projection built and torn down, which cost more than the index probe and the
//! heap and index inserts themselves (see README, "Where policy state lives, and why").
//!
//! Both give up (return false) and leave the caller to run its statement whenever the table is
//! anything but a plain local heap the caller may use as it stands: the catalog distributed by
//! Citus, row-level security on, privileges missing (the statement then reports them), a trigger
//! or rule on the table, or a column the caller does not name. Otherwise they do what the
//! statement would: reads under the snapshot it would take, and inserts through PostgreSQL's own
//! single-row insert path (`ExecSimpleRelationInsert`: constraints, the tuple, every index with
//! its predicate) with the locks a statement takes.

use crate::pg::citus;
use crate::pg::invalidation;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{self, Datum, Oid};
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

/// Whether `relid` is a plain local table the current user may use with `mode` as it stands.
fn usable(relid: Oid, mode: pg_sys::AclMode) -> bool {
    if relid == pg_sys::InvalidOid || !matches!(citus::catalog_distributed(), Ok(false)) {
        return false;
    }
    // SAFETY: catalog lookups of an existing relation, on the backend's main thread.
    unsafe {
        pg_sys::get_rel_relkind(relid) == pg_sys::RELKIND_RELATION as c_char
            && pg_sys::pg_class_aclcheck(relid, pg_sys::GetUserId(), mode)
                == pg_sys::AclResult::ACLCHECK_OK
            && pg_sys::check_enable_rls(relid, pg_sys::InvalidOid, true)
                != pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32
    }
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

/// Calls `row` with `columns` of each row of `table` whose columns `keys` equal the values given,
/// found through `index` (whose leading columns are the key columns) under the snapshot an SPI
/// statement would have. The datums are the stored ones: by-reference values are valid only during the call.
/// False, having called nothing, when a statement must do it instead.
pub fn lookup(
    table: &'static CStr,
    index: &'static CStr,
    keys: &[(&CStr, Key)],
    columns: &[&CStr],
    mut row: impl FnMut(&[Option<Datum>]),
) -> bool {
    let relid = relation(table);
    let indexid = relation(index);
    // SAFETY: a plain read of the snapshot stack.
    if indexid == pg_sys::InvalidOid
        || !usable(relid, pg_sys::ACL_SELECT as pg_sys::AclMode)
        || !unsafe { pg_sys::ActiveSnapshotSet() }
    {
        return false;
    }
    // SAFETY: the relation exists (looked up above) and is opened, scanned and closed here on the
    // main thread; an ERROR inside aborts the transaction, whose resource owner releases the
    // relation, the scan's buffers and the lock. The lock is kept to the end of the transaction,
    // as a statement's is.
    unsafe {
        let rel = pg_sys::table_open(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let desc = (*rel).rd_att;
        let wanted: Option<Vec<usize>> = columns
            .iter()
            .map(|c| column(desc, c).map(|(n, _)| n as usize - 1))
            .collect();
        let mut scan_keys: Vec<pg_sys::ScanKeyData> = Vec::with_capacity(keys.len());
        for (name, key) in keys {
            let Some((attno, att)) = column(desc, name) else { break };
            let (type_oid, procedure, datum) = match key {
                Key::Int8(v) => (pg_sys::INT8OID, pg_sys::F_INT8EQ, Datum::from(*v)),
                Key::Text(s) => (
                    pg_sys::TEXTOID,
                    pg_sys::F_TEXTEQ,
                    Datum::from(pg_sys::cstring_to_text_with_len(
                        s.as_ptr().cast(),
                        i32::try_from(s.len()).unwrap_or(i32::MAX),
                    )),
                ),
            };
            if (*att).atttypid != type_oid {
                break;
            }
            let mut k = std::mem::zeroed::<pg_sys::ScanKeyData>();
            // The column's collation is the key index's (a primary key's columns have no
            // collation of their own), which positions the scan as the index is ordered.
            pg_sys::ScanKeyEntryInitialize(
                &mut k,
                0,
                attno,
                pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
                pg_sys::InvalidOid,
                (*att).attcollation,
                pg_sys::RegProcedure::from(procedure),
                datum,
            );
            scan_keys.push(k);
        }
        let Some(wanted) = wanted.filter(|_| scan_keys.len() == keys.len()) else {
            pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
            return false;
        };
        let natts = usize::try_from((*desc).natts).unwrap_or(0);
        let mut values = vec![Datum::from(0); natts];
        let mut nulls = vec![true; natts];
        let mut out = vec![None; wanted.len()];
        // The snapshot an SPI statement of ours would read under (pgrx runs reads read-only until
        // the transaction has written): the calling query's before, and after a write the
        // transaction's latest, which sees its own changes and, in READ COMMITTED, others'
        // commits since.
        // In parallel mode no command may start, and SPI reads read-only as well.
        let wrote = pg_sys::GetCurrentTransactionIdIfAny() != pg_sys::InvalidTransactionId
            && !pg_sys::IsInParallelMode();
        if wrote {
            pg_sys::CommandCounterIncrement();
            pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        }
        let scan = pg_sys::systable_beginscan(
            rel,
            indexid,
            true,
            pg_sys::GetActiveSnapshot(),
            scan_keys.len() as i32,
            scan_keys.as_mut_ptr(),
        );
        loop {
            let tuple = pg_sys::systable_getnext(scan);
            if tuple.is_null() {
                break;
            }
            pg_sys::heap_deform_tuple(tuple, desc, values.as_mut_ptr(), nulls.as_mut_ptr());
            for (o, &i) in out.iter_mut().zip(&wanted) {
                *o = (!nulls[i]).then_some(values[i]);
            }
            row(&out);
        }
        pg_sys::systable_endscan(scan);
        if wrote {
            pg_sys::PopActiveSnapshot();
        }
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
    }
    true
}

/// Inserts one row into `table`: `values`, called once the table is found usable, names every
/// column of the table with a value of the column's type. False, having written nothing, when a
/// statement must do it instead.
pub fn insert<'a>(
    table: &'static CStr,
    values: impl FnOnce() -> Option<Vec<(&'a CStr, DatumWithOid<'a>)>>,
) -> bool {
    let relid = relation(table);
    if !usable(relid, pg_sys::ACL_INSERT as pg_sys::AclMode) {
        return false;
    }
    let Some(values) = values() else { return false };
    // SAFETY: as in `lookup`; the slot, executor state and index relations made here are freed
    // here, or with the transaction's memory and resource owner on an ERROR.
    unsafe {
        let lock = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
        let rel = pg_sys::table_open(relid, lock);
        let desc = (*rel).rd_att;
        let natts = usize::try_from((*desc).natts).unwrap_or(0);
        let attrs = (*desc).attrs.as_slice(natts);
        let mut datums = vec![Datum::from(0); natts];
        let mut nulls = vec![true; natts];
        let mut complete = (*rel).trigdesc.is_null()
            && (*rel).rd_rules.is_null()
            && !(*(*rel).rd_rel).relispartition;
        for (i, a) in attrs.iter().enumerate() {
            if !complete {
                break;
            }
            if a.attisdropped {
                continue;
            }
            let name = CStr::from_ptr(a.attname.data.as_ptr());
            match values.iter().find(|(n, _)| *n == name) {
                Some((_, v)) if v.oid() == a.atttypid => {
                    if let Some(d) = v.datum() {
                        datums[i] = d.sans_lifetime();
                        nulls[i] = false;
                    }
                }
                _ => complete = false,
            }
        }
        if !complete {
            pg_sys::table_close(rel, lock);
            return false;
        }
        let slot = pg_sys::MakeSingleTupleTableSlot(desc, &pg_sys::TTSOpsVirtual);
        std::ptr::copy_nonoverlapping(datums.as_ptr(), (*slot).tts_values, natts);
        std::ptr::copy_nonoverlapping(nulls.as_ptr(), (*slot).tts_isnull, natts);
        pg_sys::ExecStoreVirtualTuple(slot);

        // The executor state a one-table statement would have, as logical replication builds it
        // for applying a row: the range table lets a constraint's error message show the row.
        let estate = pg_sys::CreateExecutorState();
        let rte = pgrx::PgBox::<pg_sys::RangeTblEntry>::alloc_node(pg_sys::NodeTag::T_RangeTblEntry)
            .into_pg();
        (*rte).rtekind = pg_sys::RTEKind::RTE_RELATION;
        (*rte).relid = relid;
        (*rte).relkind = pg_sys::RELKIND_RELATION as c_char;
        (*rte).rellockmode = lock;
        pg_sys::ExecInitRangeTable(estate, pg_sys::lappend(std::ptr::null_mut(), rte.cast()));
        let info = pgrx::PgBox::<pg_sys::ResultRelInfo>::alloc_node(pg_sys::NodeTag::T_ResultRelInfo)
            .into_pg();
        pg_sys::InitResultRelInfo(info, rel, 1, std::ptr::null_mut(), 0);
        (*estate).es_output_cid = pg_sys::GetCurrentCommandId(true);
        pg_sys::ExecOpenIndices(info, false);
        pg_sys::ExecSimpleRelationInsert(info, estate, slot);
        pg_sys::ExecCloseIndices(info);
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        pg_sys::FreeExecutorState(estate);
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        // What ends a statement: later commands of the transaction see the row.
        pg_sys::CommandCounterIncrement();
    }
    true
}

/// The next value of the sequence `name` (None when there is no such sequence), with the
/// privilege check `nextval` makes.
pub fn next_value(name: &'static CStr) -> Option<i64> {
    let relid = relation(name);
    if relid == pg_sys::InvalidOid {
        return None;
    }
    // SAFETY: nextval's own entry point, called with one oid argument.
    unsafe {
        pgrx::direct_function_call::<i64>(pg_sys::nextval_oid, &[Some(Datum::from(relid))])
    }
}
