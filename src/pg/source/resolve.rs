//! Resolving a `source` argument (a table, view or SELECT) into something safe to splice after
//! FROM, and running what reads it read-only.

use crate::pg::error::{invalid, OrSql, SqlResult};
use crate::pg::spi;
use mkt_core::names::{parse_source, quote_literal, Source};
use mkt_core::Error;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgList;

/// A source made safe to splice after `FROM`.
pub struct Resolved {
    pub from: String,
    /// A table (or materialized view, foreign table): reading it runs no user code. Views and
    /// queries may call functions, so they are only ever run with the transaction read-only.
    pub stored: bool,
}

pub fn resolve(source: &str) -> SqlResult<Resolved> {
    match parse_source(source).sql()? {
        Source::Relation(name) => {
            let quoted = name.quoted();
            let found = spi::select_first::<String>(
                "SELECT c.relkind::text FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)",
                &[quoted.as_str().into()],
            )?;
            match found.as_deref() {
                None => Err(Error::UndefinedTable(format!(
                    "relation {} does not exist",
                    quote_literal(source)
                )))
                .sql(),
                Some(kind @ ("r" | "v" | "m" | "p" | "f")) => Ok(Resolved {
                    from: quoted,
                    stored: kind != "v",
                }),
                Some(_) => Err(Error::WrongObjectType(format!(
                    "{} is not a table, view or materialized view",
                    quote_literal(source)
                )))
                .sql(),
            }
        }
        Source::Query(q) => {
            check_single_select(&q)?;
            Ok(Resolved {
                from: format!("(\n{q}\n) AS mkt_source"),
                stored: false,
            })
        }
    }
}

/// A query source must be exactly one plain SELECT: no other statement, no SELECT INTO, no row
/// locks and no data-modifying WITH. (Writes hidden in functions are stopped by `read_only`.)
pub fn check_single_select(q: &str) -> SqlResult<()> {
    let not_select = |why: &str| {
        Err(Error::WrongObjectType(format!(
            "a query source must be a single SELECT: {why}"
        )))
        .sql()
    };
    let cq = std::ffi::CString::new(q)
        .map_err(|_| invalid("query contains a NUL byte"))?;
    // SAFETY: raw_parser only reads the string and returns a palloc'd list (or raises an ERROR).
    let list = unsafe { pg_sys::raw_parser(cq.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT) };
    let stmts = unsafe { PgList::<pg_sys::RawStmt>::from_pg(list) };
    if stmts.len() != 1 {
        return not_select(&format!("found {} statements", stmts.len()));
    }
    let Some(raw) = stmts.get_ptr(0) else {
        return not_select("found no statement");
    };
    // SAFETY: the parser returns valid RawStmt nodes.
    unsafe {
        let node = (*raw).stmt;
        if (*node).type_ != pg_sys::NodeTag::T_SelectStmt {
            return not_select("it is another kind of statement");
        }
        let sel = node as *mut pg_sys::SelectStmt;
        if !(*sel).intoClause.is_null() {
            return not_select("SELECT INTO creates a table");
        }
        if !(*sel).lockingClause.is_null() {
            return not_select("FOR UPDATE/SHARE locks rows");
        }
        if !(*sel).withClause.is_null() {
            let ctes = PgList::<pg_sys::CommonTableExpr>::from_pg((*(*sel).withClause).ctes);
            for cte in ctes.iter_ptr() {
                let q = (*cte).ctequery;
                if !q.is_null() && (*q).type_ != pg_sys::NodeTag::T_SelectStmt {
                    return not_select("WITH holds a data-modifying statement");
                }
            }
        }
    }
    Ok(())
}

/// Runs `f` with the transaction marked read-only, so nothing a source query calls can write.
pub fn read_only<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: a plain global of the backend, touched on its main thread.
    let before = unsafe { pg_sys::XactReadOnly };
    unsafe { pg_sys::XactReadOnly = true };
    let out = PgTryBuilder::new(std::panic::AssertUnwindSafe(f))
        .finally(|| unsafe { pg_sys::XactReadOnly = before })
        .execute();
    out
}

