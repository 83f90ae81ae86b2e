//! mkt.split: per-user train/test splits written to new tables.

use crate::error::{invalid, OrSql, required};
use crate::source::{self, ColKind};
use mkt_core::names::{parse_qualified_name, quote_ident};
use mkt_core::Error;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::too_many_arguments)]
fn split(
    source: Option<&str>,
    train_table: Option<&str>,
    test_table: Option<&str>,
    method: default!(Option<&str>, "'random'"),
    test_fraction: default!(Option<f64>, 0.2),
    user_col: default!(Option<&str>, "'user_id'"),
    time_col: default!(Option<&str>, "NULL"),
    seed: default!(Option<i32>, 42),
) -> Result<TableIterator<'static, (name!(split, String), name!(rows, i64))>, ErrorReport> {
    let source = required(source, "source")?;
    let train_table = required(train_table, "train_table")?;
    let test_table = required(test_table, "test_table")?;
    let method = required(method, "method")?;
    let test_fraction = required(test_fraction, "test_fraction")?;
    let user_col = required(user_col, "user_col")?;
    let seed = required(seed, "seed")?;
    const METHODS: [&str; 3] = ["random", "temporal", "leave_last_out"];
    if !METHODS.contains(&method) {
        return Err(Error::unknown("split method", method, &METHODS)).sql();
    }
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(invalid(format!(
            "test_fraction must be between 0 and 1 (exclusive), got {test_fraction}"
        )));
    }
    let train = parse_qualified_name(train_table).sql()?;
    let test = parse_qualified_name(test_table).sql()?;
    if train == test {
        return Err(invalid(
            "train_table and test_table must be different tables",
        ));
    }
    let src = source::resolve(source)?;
    let cols = source::describe(&src)?;
    let user = source::find(&cols, user_col, "user")?;
    // The split is written with CREATE TABLE AS, which cannot run read-only.
    let from = source::readable_from(&src, &cols)?;
    let hash = format!("pg_catalog.hashtextextended(src::text, {seed})");
    let order = match (method, time_col) {
        ("random", _) => format!("{hash}, src::text"),
        (_, None) => return Err(invalid(format!("split method '{method}' needs time_col"))),
        (_, Some(t)) => {
            let tc = source::find(&cols, t, "time")?;
            if !matches!(
                tc.kind,
                ColKind::Time | ColKind::Number | ColKind::Id(mkt_core::ids::IdKind::Int)
            ) {
                return Err(Error::WrongType(format!(
                    "time column '{}' has type {}; it must be a timestamp, date or number",
                    tc.name, tc.type_name
                )))
                .sql();
            }
            format!("src.{}, {hash}, src::text", quote_ident(&tc.name))
        }
    };
    let n_test = if method == "leave_last_out" {
        "LEAST(mkt_n - 1, 1)".to_string()
    } else {
        format!("LEAST(mkt_n - 1, round(mkt_n * {test_fraction}::float8)::bigint)")
    };
    let list: Vec<String> = cols.iter().map(|c| quote_ident(&c.name)).collect();
    let list = list.join(", ");
    let ranked = format!(
        "SELECT {list}, row_number() OVER (PARTITION BY src.{u} ORDER BY {order}) AS mkt_rn, \
         count(*) OVER (PARTITION BY src.{u}) AS mkt_n FROM (SELECT * FROM {from}) AS src",
        u = quote_ident(&user.name),
    );
    let mut out = Vec::new();
    for (name, target, cmp) in [("train", &train, "<="), ("test", &test, ">")] {
        let sql = format!(
            "CREATE TABLE {} AS SELECT {list} FROM ({ranked}) AS r WHERE mkt_rn {cmp} mkt_n - {n_test}",
            target.quoted()
        );
        let rows = Spi::connect_mut(|c| {
            c.update(&sql, None, &[])?;
            c.select(
                &format!("SELECT count(*) FROM {}", target.quoted()),
                None,
                &[],
            )?
            .first()
            .get_one::<i64>()
        })
        .sql()?
        .unwrap_or(0);
        out.push((name.to_string(), rows));
    }
    Ok(TableIterator::new(out))
}
