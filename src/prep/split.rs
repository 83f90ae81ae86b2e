//! mkt.split: per-user train/test splits written to new tables.

use crate::pg::error::{OrSql, SqlResult};
use crate::pg::source;
use crate::prep::catalog::{count_rows, exec};
use mkt_prep::split::{self, SplitSpec};

pub fn split(source_text: &str, train_table: &str, test_table: &str, spec: &SplitSpec) -> SqlResult<Vec<(String, i64)>> {
    let (train, test) = split::targets(spec, train_table, test_table).sql()?;
    let src = source::resolve(source_text)?;
    let cols = source::describe(&src)?;
    // The split is written with CREATE TABLE AS, which cannot run read-only.
    let from = source::readable_from(&src, &cols)?;
    let mut out = Vec::new();
    for ((name, sql), target) in split::statements(spec, &cols, &from, &train, &test)
        .sql()?
        .into_iter()
        .zip([&train, &test])
    {
        exec(&sql)?;
        out.push((name.to_string(), count_rows(&target.quoted())?));
    }
    Ok(out)
}
