//! A one-row insert into one of the extension's tables, and the sequence values its ids take.

use super::{relation, usable};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{self, Datum};
use std::ffi::{c_char, CStr};

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
