//! The raw SPI helpers every catalog uses. Reads go through `Spi::connect(.. select ..)`, which
//! takes no transaction id, so they work on a hot standby; writes through `connect_mut`.

use crate::pg::error::{OrSql, SqlResult};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

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
    Spi::connect(|c| first::<T>(c.select(sql, None, args)?)).sql()
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
        let t = c.select(sql, None, args)?;
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
