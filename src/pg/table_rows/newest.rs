//! A user's latest events from a history table, read through its (user, time) index.

use super::{begin_read, column, end_read, equality_key, key_match, plain_table, Key, KeyMatch};
use crate::pg::invalidation;
use pgrx::pg_sys::{self, Datum, Oid};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CStr;

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
        if citus || !plain_table(relid, pg_sys::ACL_SELECT as pg_sys::AclMode) {
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
        let procedure_datum = match key_match(&key, plan.key_type) {
            KeyMatch::Equal(procedure, datum) => (procedure, datum),
            KeyMatch::NoRow => {
                pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
                return true;
            }
            KeyMatch::Unsupported => {
                pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
                return false;
            }
        };
        // The scan key is on the index's first column.
        let mut scan_key = equality_key(1, plan.key_collation, procedure_datum);
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
