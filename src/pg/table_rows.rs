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
        let wrote = begin_read();
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
        end_read(wrote);
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

/// How a B-tree index of a table reads "the rows whose key column equals a value, newest first":
/// the index leads with (key, order column), and a scan in `direction` returns the order column
/// descending with NULLs first, as `ORDER BY order DESC` does.
#[derive(Clone, Copy)]
struct Newest {
    index: Oid,
    key_type: Oid,
    key_collation: Oid,
    value: usize,
    /// The value's column of the index (from 0), when the index holds it: then a row on a page
    /// the visibility map calls all-visible is read from the index alone, as an index-only scan
    /// does.
    value_in_index: Option<usize>,
    value_type: Oid,
    direction: pg_sys::ScanDirection::Type,
}

type NewestKey = (Oid, String, String, String);

/// Per table and columns, the index that reads newest first (None: none does), and whether Citus
/// is installed, under the relcache epoch they were found in.
#[derive(Default)]
struct NewestPlans {
    epoch: u64,
    citus: Option<bool>,
    plans: HashMap<NewestKey, Option<Newest>>,
}

thread_local! {
    static NEWEST: RefCell<NewestPlans> = RefCell::new(NewestPlans::default());
}

/// The index of `rel` that reads `key_col` = value, newest first by `order_col`.
///
/// # Safety
/// `rel` is an open table.
unsafe fn find_newest(
    rel: pg_sys::Relation,
    key_col: &CStr,
    order_col: &CStr,
    value_col: &CStr,
) -> Option<Newest> {
    let desc = (*rel).rd_att;
    let (key, key_att) = column(desc, key_col)?;
    let (order, _) = column(desc, order_col)?;
    let (value, value_att) = column(desc, value_col)?;
    let list = pg_sys::RelationGetIndexList(rel);
    let n = if list.is_null() { 0 } else { usize::try_from((*list).length).unwrap_or(0) };
    let mut found = None;
    for i in 0..n {
        let oid = (*(*list).elements.add(i)).oid_value;
        let irel = pg_sys::index_open(oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let index = (*irel).rd_index;
        let keys = usize::try_from((*index).indnkeyatts).unwrap_or(0);
        if found.is_none()
            && (*(*irel).rd_rel).relam == pg_sys::BTREE_AM_OID
            && (*index).indisvalid
            && keys >= 2
            && (*index).indkey.values.as_slice(2) == [key, order]
            && pg_sys::RelationGetIndexPredicate(irel).is_null()
            && *(*irel).rd_indcollation == (*key_att).attcollation
        {
            let option = i32::from(*(*irel).rd_indoption.add(1));
            let desc = option & pg_sys::INDOPTION_DESC as i32 != 0;
            let nulls_first = option & pg_sys::INDOPTION_NULLS_FIRST as i32 != 0;
            let direction = match (desc, nulls_first) {
                (true, true) => Some(pg_sys::ScanDirection::ForwardScanDirection),
                (false, false) => Some(pg_sys::ScanDirection::BackwardScanDirection),
                _ => None,
            };
            let natts = usize::try_from((*index).indnatts).unwrap_or(0);
            let value_in_index = (*index).indkey.values.as_slice(natts).iter().position(|&a| a == value);
            found = direction.map(|direction| Newest {
                index: oid,
                key_type: (*key_att).atttypid,
                key_collation: (*key_att).attcollation,
                value: value as usize - 1,
                value_in_index,
                value_type: (*value_att).atttypid,
                direction,
            });
        }
        pg_sys::index_close(irel, pg_sys::NoLock as pg_sys::LOCKMODE);
    }
    found
}

/// Calls `row` with `value_col` of the latest `limit` rows of the table `source` (a name as a
/// statement would resolve it) whose `key_col` equals `key` and whose `value_col` is not NULL,
/// newest first by `order_col`: what `SELECT value_col FROM source WHERE key_col = key AND
/// value_col IS NOT NULL ORDER BY order_col DESC LIMIT limit` returns, read through a B-tree index
/// led by (key_col, order_col). `row` gets the stored datum (valid during the call) and its type,
/// one of `value_types`. False, having called nothing, when the statement must do it instead: no
/// such index, a value column of another type, or a source that is not a plain local table (a
/// view, partitions, inheritance children, Citus) the caller may read as it stands.
pub fn newest(
    source: &str,
    (key_col, order_col, value_col): (&str, &str, &str),
    key: Key,
    limit: usize,
    value_types: &[Oid],
    mut row: impl FnMut(Datum, Oid),
) -> bool {
    let (Ok(source_c), Ok(key_c), Ok(order_c), Ok(value_c)) = (
        std::ffi::CString::new(source),
        std::ffi::CString::new(key_col),
        std::ffi::CString::new(order_col),
        std::ffi::CString::new(value_col),
    ) else {
        return false;
    };
    let Ok(epoch) = invalidation::any_relation_epoch() else { return false };
    // SAFETY: name resolution and catalog lookups on the backend's main thread; the table and
    // index are opened, scanned and closed here, as in `lookup`.
    unsafe {
        if !pg_sys::ActiveSnapshotSet() {
            return false;
        }
        let names = pg_sys::stringToQualifiedNameList(source_c.as_ptr());
        let relid = pg_sys::RangeVarGetRelidExtended(
            pg_sys::makeRangeVarFromNameList(names),
            pg_sys::NoLock as pg_sys::LOCKMODE,
            pg_sys::RVROption::RVR_MISSING_OK,
            None,
            std::ptr::null_mut(),
        );
        let citus = NEWEST.with(|c| {
            let mut c = c.borrow_mut();
            if c.epoch != epoch {
                *c = NewestPlans { epoch, ..NewestPlans::default() };
            }
            *c.citus.get_or_insert_with(|| {
                pg_sys::get_extension_oid(c"citus".as_ptr(), true) != pg_sys::InvalidOid
            })
        });
        if citus
            || relid == pg_sys::InvalidOid
            || pg_sys::get_rel_relkind(relid) != pg_sys::RELKIND_RELATION as c_char
            || pg_sys::pg_class_aclcheck(relid, pg_sys::GetUserId(), pg_sys::ACL_SELECT as pg_sys::AclMode)
                != pg_sys::AclResult::ACLCHECK_OK
            || pg_sys::check_enable_rls(relid, pg_sys::InvalidOid, true)
                == pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32
        {
            return false;
        }
        let rel = pg_sys::table_open(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let cache_key: NewestKey = (relid, key_col.into(), order_col.into(), value_col.into());
        let plan = NEWEST.with(|c| c.borrow().plans.get(&cache_key).copied()).unwrap_or_else(|| {
            let found = find_newest(rel, &key_c, &order_c, &value_c);
            NEWEST.with(|c| c.borrow_mut().plans.insert(cache_key, found));
            found
        });
        // Rows of inheritance children are read by the statement too.
        let Some(plan) = plan.filter(|p| {
            !(*(*rel).rd_rel).relhassubclass && value_types.contains(&p.value_type)
        }) else {
            pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
            return false;
        };
        let (procedure, datum) = match (key, plan.key_type) {
            (Key::Int8(v), pg_sys::INT8OID) => (Some(pg_sys::F_INT8EQ), Datum::from(v)),
            (Key::Int8(v), pg_sys::INT4OID) => {
                (i32::try_from(v).ok().map(|_| pg_sys::F_INT4EQ), Datum::from(v as i32))
            }
            (Key::Int8(v), pg_sys::INT2OID) => {
                (i16::try_from(v).ok().map(|_| pg_sys::F_INT2EQ), Datum::from(v as i16))
            }
            (Key::Text(s), pg_sys::TEXTOID) => (
                Some(pg_sys::F_TEXTEQ),
                Datum::from(pg_sys::cstring_to_text_with_len(
                    s.as_ptr().cast(),
                    i32::try_from(s.len()).unwrap_or(i32::MAX),
                )),
            ),
            _ => {
                pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
                return false;
            }
        };
        // An integer key outside the column's type equals no row.
        let Some(procedure) = procedure else {
            pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
            return true;
        };
        // The scan key is on the index's first column.
        let mut scan_key = std::mem::zeroed::<pg_sys::ScanKeyData>();
        pg_sys::ScanKeyEntryInitialize(
            &mut scan_key,
            0,
            1,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::InvalidOid,
            plan.key_collation,
            pg_sys::RegProcedure::from(procedure),
            datum,
        );
        let wrote = begin_read();
        let irel = pg_sys::index_open(plan.index, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let scan = pg_sys::index_beginscan(rel, irel, pg_sys::GetActiveSnapshot(), 1, 0);
        // Serializable transactions take predicate locks on what an index-only read skips: they
        // always read the heap here, as a plain index scan does.
        let index_only = plan.value_in_index.is_some()
            && pg_sys::XactIsoLevel != pg_sys::XACT_SERIALIZABLE as i32;
        (*scan).xs_want_itup = index_only;
        pg_sys::index_rescan(scan, &mut scan_key, 1, std::ptr::null_mut(), 0);
        let slot = pg_sys::table_slot_create(rel, std::ptr::null_mut());
        let mut vm_buffer: pg_sys::Buffer = pg_sys::InvalidBuffer as pg_sys::Buffer;
        let index_natts = usize::try_from((*irel).rd_att.as_ref().map_or(0, |d| d.natts)).unwrap_or(0);
        let mut index_values = vec![Datum::from(0); index_natts];
        let mut index_nulls = vec![true; index_natts];
        let mut taken = 0;
        while taken < limit {
            let tid = pg_sys::index_getnext_tid(scan, plan.direction);
            if tid.is_null() {
                break;
            }
            let block = (u32::from((*tid).ip_blkid.bi_hi) << 16) | u32::from((*tid).ip_blkid.bi_lo);
            let all_visible = index_only
                && pg_sys::visibilitymap_get_status(rel, block, &mut vm_buffer)
                    & pg_sys::VISIBILITYMAP_ALL_VISIBLE as u8
                    != 0;
            if !all_visible && !pg_sys::index_fetch_heap(scan, slot) {
                continue;
            }
            let value = match plan.value_in_index.filter(|_| index_only) {
                Some(column) => {
                    pg_sys::index_deform_tuple(
                        (*scan).xs_itup,
                        (*scan).xs_itupdesc,
                        index_values.as_mut_ptr(),
                        index_nulls.as_mut_ptr(),
                    );
                    (!index_nulls[column]).then_some(index_values[column])
                }
                None => {
                    pg_sys::slot_getsomeattrs_int(slot, plan.value as i32 + 1);
                    (!*(*slot).tts_isnull.add(plan.value)).then(|| *(*slot).tts_values.add(plan.value))
                }
            };
            if let Some(v) = value {
                row(v, plan.value_type);
                taken += 1;
            }
            if taken % 64 == 63 {
                pgrx::check_for_interrupts!();
            }
        }
        if vm_buffer != pg_sys::InvalidBuffer as pg_sys::Buffer {
            pg_sys::ReleaseBuffer(vm_buffer);
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        pg_sys::index_endscan(scan);
        end_read(wrote);
        pg_sys::index_close(irel, pg_sys::NoLock as pg_sys::LOCKMODE);
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
    }
    true
}
