//! The columns of a resolved source: `describe` asks PostgreSQL; the lookups are mkt-core's, with
//! their errors given SQLSTATEs.

use super::{read_only, Resolved};
use crate::pg::error::{OrSql, SqlResult};
use crate::pg::spi;
use mkt_core::columns;
pub use mkt_core::columns::{ColKind, Column};
use mkt_core::ids::IdKind;
use pgrx::pg_sys;
use pgrx::prelude::*;

fn kind_of(oid: pg_sys::Oid) -> ColKind {
    match oid {
        pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID => ColKind::Id(IdKind::Int),
        pg_sys::TEXTOID | pg_sys::VARCHAROID | pg_sys::BPCHAROID | pg_sys::UUIDOID => {
            ColKind::Id(IdKind::Text)
        }
        pg_sys::FLOAT4OID | pg_sys::FLOAT8OID | pg_sys::NUMERICOID => ColKind::Number,
        pg_sys::TIMESTAMPTZOID | pg_sys::TIMESTAMPOID | pg_sys::DATEOID => ColKind::Time,
        _ => ColKind::Other,
    }
}

/// Column names and kinds of a resolved source (runs it with LIMIT 0).
pub fn describe(src: &Resolved) -> SqlResult<Vec<Column>> {
    let sql = format!("SELECT * FROM {} LIMIT 0", src.from);
    read_only(|| {
        Spi::connect(|c| {
            let t = spi::select(c, &sql, &[])?;
            let mut cols = Vec::new();
            for i in 1..=t.columns()? {
                let oid = t.column_type_oid(i)?.value();
                // SAFETY: format_type_be returns a palloc'd C string for any type oid.
                let type_name = unsafe { std::ffi::CStr::from_ptr(pg_sys::format_type_be(oid)) }
                    .to_string_lossy()
                    .into_owned();
                cols.push(Column {
                    name: t.column_name(i)?,
                    type_name,
                    kind: kind_of(oid),
                });
            }
            Ok::<_, pgrx::spi::Error>(cols)
        })
    })
    .sql()
}

pub fn find<'a>(cols: &'a [Column], name: &str, role: &str) -> SqlResult<&'a Column> {
    columns::find(cols, name, role).sql()
}

pub fn find_exact<'a>(cols: &'a [Column], name: &str, role: &str) -> SqlResult<&'a Column> {
    columns::find_exact(cols, name, role).sql()
}

pub fn id_kind(col: &Column, role: &str) -> SqlResult<IdKind> {
    columns::id_kind(col, role).sql()
}

pub fn check_time(col: &Column, role: &str) -> SqlResult<()> {
    columns::check_time(col, role).sql()
}

pub fn check_number(col: &Column, role: &str) -> SqlResult<()> {
    columns::check_number(col, role).sql()
}
