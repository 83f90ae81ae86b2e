//! The raw SPI helpers every catalog uses. Reads go through `select`, which takes no transaction
//! id, so they work on a hot standby; writes through `connect_mut`.

use crate::pg::error::{OrSql, SqlResult};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiCursor, SpiError, SpiErrorCodes, SpiResult, SpiTupleTable};
use std::ffi::{CStr, CString};

/// Whether the calling query runs in parallel mode: in a parallel worker, or in the leader of a
/// parallel plan.
pub fn in_parallel_mode() -> bool {
    // SAFETY: reads a backend global; called on the backend's main thread.
    unsafe { pg_sys::IsInParallelMode() }
}

/// The rows of a read-only statement.
///
/// Once the transaction has an xid, pgrx runs every statement with SPI's `read_only = false`,
/// and SPI then starts a new command before it (CommandCounterIncrement). In parallel mode that
/// is refused when the calling statement writes ("cannot start commands during a parallel
/// operation"): a CREATE TABLE AS, SELECT INTO or REFRESH MATERIALIZED VIEW whose parallel plan
/// calls a model. There the statement runs read-only instead, as a cursor on the calling query's
/// snapshot, which is the snapshot a STABLE function is meant to see; nothing can have been
/// written since, as parallel mode allows no writes.
pub fn select<'conn>(
    c: &SpiClient<'conn>,
    sql: &str,
    args: &[DatumWithOid],
) -> SpiResult<SpiTupleTable<'conn>> {
    if !in_parallel_mode() {
        return c.select(sql, None, args);
    }
    let mut cursor = open_cursor(c, sql, args)?;
    let rows = cursor.fetch(std::ffi::c_long::MAX)?;
    // SAFETY: the fetched rows are SPI's tuple table, allocated in the procedure context of the
    // connection `c` stands for and freed only when that connection ends ('conn); closing the
    // cursor as it drops does not free them.
    Ok(unsafe { std::mem::transmute::<SpiTupleTable<'_>, SpiTupleTable<'conn>>(rows) })
}

/// A cursor over a read-only statement, opened read-only in parallel mode (see `select`).
pub fn open_cursor<'conn>(
    c: &SpiClient<'conn>,
    sql: &str,
    args: &[DatumWithOid],
) -> SpiResult<SpiCursor<'conn>> {
    if !in_parallel_mode() {
        return c.try_open_cursor(sql, args);
    }
    let sql = CString::new(sql).map_err(|_| SpiError::SpiError(SpiErrorCodes::Argument))?;
    let mut types: Vec<pg_sys::Oid> = Vec::with_capacity(args.len());
    let mut values: Vec<pg_sys::Datum> = Vec::with_capacity(args.len());
    let mut nulls: Vec<std::ffi::c_char> = Vec::with_capacity(args.len());
    for a in args {
        types.push(a.oid());
        match a.datum() {
            Some(d) => {
                values.push(d.sans_lifetime());
                nulls.push(b' ' as std::ffi::c_char);
            }
            None => {
                values.push(pg_sys::Datum::from(0usize));
                nulls.push(b'n' as std::ffi::c_char);
            }
        }
    }
    // SAFETY: inside the SPI connection `c` stands for, on the main thread; the argument arrays
    // outlive the call, which copies what it keeps, and it raises an ERROR rather than return
    // NULL. `read_only` makes it run on the active snapshot without starting a command.
    let name = unsafe {
        let portal = pg_sys::SPI_cursor_open_with_args(
            std::ptr::null(),
            sql.as_ptr(),
            args.len() as i32,
            types.as_mut_ptr(),
            values.as_mut_ptr(),
            nulls.as_ptr(),
            true,
            0,
        );
        CStr::from_ptr((*portal).name)
            .to_string_lossy()
            .into_owned()
    };
    c.find_cursor(&name)
}

/// The first column of the first row, or None when there is no row.
pub fn first<T: FromDatum + IntoDatum>(
    t: pgrx::spi::SpiTupleTable,
) -> pgrx::spi::Result<Option<T>> {
    if t.is_empty() {
        Ok(None)
    } else {
        t.first().get_one::<T>()
    }
}

/// The first column of the first row of a read-only query (no transaction id), or None.
pub fn select_first<T: FromDatum + IntoDatum>(
    sql: &str,
    args: &[DatumWithOid],
) -> SqlResult<Option<T>> {
    Spi::connect(|c| first::<T>(select(c, sql, args)?)).sql()
}

/// The first column of the first row of a statement that writes, or None.
pub fn update_first<T: FromDatum + IntoDatum>(
    sql: &str,
    args: &[DatumWithOid],
) -> SqlResult<Option<T>> {
    Spi::connect_mut(|c| first::<T>(c.update(sql, None, args)?)).sql()
}

/// Runs a statement that writes; returns the number of rows it returned or touched.
pub fn execute(sql: &str, args: &[DatumWithOid]) -> SqlResult<i64> {
    Spi::connect_mut(|c| c.update(sql, None, args).map(|t| t.len() as i64)).sql()
}

/// Whether a read-only query's first column of its first row is true.
pub fn select_bool(sql: &str, args: &[DatumWithOid]) -> SqlResult<bool> {
    select_first::<bool>(sql, args).map(|b| b.unwrap_or(false))
}

/// Every row of a read-only query, each column as text (NULL as "").
pub fn select_texts(sql: &str, args: &[DatumWithOid]) -> SqlResult<Vec<Vec<String>>> {
    Spi::connect(|c| {
        let t = select(c, sql, args)?;
        let n = t.columns()?;
        let mut rows = Vec::new();
        for r in t {
            let mut row = Vec::with_capacity(n);
            for i in 1..=n {
                row.push(r.get::<String>(i)?.unwrap_or_default());
            }
            rows.push(row);
        }
        Ok::<_, pgrx::spi::Error>(rows)
    })
    .sql()
}
