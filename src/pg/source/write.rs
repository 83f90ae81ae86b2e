//! Writing what was read or computed from a source into new tables.

use super::{read_only, Column, Resolved};
use crate::pg::error::{OrSql, SqlResult};
use crate::pg::spi;
use mkt_core::names::quote_ident;
use pgrx::prelude::*;

/// Something to read `src` from inside a statement that writes (CREATE TABLE AS, INSERT ..
/// SELECT), where `read_only` cannot be in force: a table as it is; a view or query first copied
/// into a temporary table with the transaction read-only (temporary tables stay writable), so a
/// function it calls cannot write anywhere else.
pub fn readable_from(src: &Resolved, cols: &[Column]) -> SqlResult<String> {
    if src.stored {
        return Ok(src.from.clone());
    }
    let defs: Vec<String> = cols
        .iter()
        .map(|c| format!("{} {}", quote_ident(&c.name), c.type_name))
        .collect();
    drop_temp("mkt_source_copy")?;
    Spi::connect_mut(|c| {
        c.update(
            &format!(
                "CREATE TEMP TABLE mkt_source_copy ({}) ON COMMIT DROP",
                defs.join(", ")
            ),
            None,
            &[],
        )
        .map(|_| ())
    })
    .sql()?;
    let fill = format!(
        "INSERT INTO pg_temp.mkt_source_copy SELECT * FROM {}",
        src.from
    );
    read_only(|| Spi::connect_mut(|c| c.update(&fill, None, &[]).map(|_| ()))).sql()?;
    Ok("pg_temp.mkt_source_copy".to_string())
}

/// Creates `target` from `select` (which names no table called `target`); with `replace` an
/// existing table of that name is dropped first, otherwise it is an error (42P07). Returns the
/// number of rows written.
pub fn create_table_as(target: &str, select: &str, replace: bool) -> SqlResult<i64> {
    let name = mkt_core::names::parse_qualified_name(target)
        .sql()?
        .quoted();
    Spi::connect_mut(|c| {
        if replace {
            c.update(&format!("DROP TABLE IF EXISTS {name}"), None, &[])?;
        }
        c.update(&format!("CREATE TABLE {name} AS {select}"), None, &[])?;
        spi::first::<i64>(spi::select(
            c,
            &format!("SELECT count(*) FROM {name}"),
            &[],
        )?)
    })
    .sql()
    .map(|n| n.unwrap_or(0))
}

/// Drops a temporary table of this session if there is one (without DROP IF EXISTS's NOTICE
/// when the session has no temporary schema yet).
pub fn drop_temp(name: &str) -> SqlResult<()> {
    let qualified = format!("pg_temp.{}", quote_ident(name));
    let exists = spi::select_first::<bool>(
        "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
        &[qualified.as_str().into()],
    )?;
    if exists == Some(true) {
        Spi::connect_mut(|c| {
            c.update(&format!("DROP TABLE {qualified}"), None, &[])
                .map(|_| ())
        })
        .sql()?;
    }
    Ok(())
}
