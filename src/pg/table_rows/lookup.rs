//! A key lookup through an index of one of the extension's tables.

use super::{begin_read, column, end_read, equality_key, key_match, relation, usable, Key, KeyMatch};
use pgrx::pg_sys::{self, Datum};
use std::ffi::CStr;

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
        let mut no_row = false;
        let mut matched = 0;
        for (name, key) in keys {
            let Some((attno, att)) = column(desc, name) else { break };
            // The column's collation is the key index's (a primary key's columns have no
            // collation of their own).
            match key_match(key, (*att).atttypid) {
                KeyMatch::Equal(procedure, datum) => {
                    scan_keys.push(equality_key(attno, (*att).attcollation, (procedure, datum)))
                }
                KeyMatch::NoRow => no_row = true,
                KeyMatch::Unsupported => break,
            }
            matched += 1;
        }
        let Some(wanted) = wanted.filter(|_| matched == keys.len()) else {
            pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
            return false;
        };
        if no_row {
            pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
            return true;
        }
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
