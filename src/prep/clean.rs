//! mkt.clean: a working copy of the source, mkt-prep's steps run on it one by one, and the result
//! written to the target table.

use crate::pg::error::{OrSql, SqlResult};
use crate::pg::source;
use crate::pg::work_mem::WorkMem;
use crate::prep::catalog::{count_rows, create_work_table, exec, read_count, read_pair};
use mkt_prep::clean::{self, outlier_statements, Step};
use serde_json::Value;

/// (step, rows affected) of each step, with the input and output row counts first and last.
pub fn clean(source_text: &str, target: &str, options: &Value, replace: bool) -> SqlResult<Vec<(String, i64)>> {
    let opts = clean::parse_options(options).sql()?;
    let src = source::resolve(source_text)?;
    let cols = source::describe(&src)?;
    // One sort or hash at a time per step.
    let _budget = WorkMem::limit(1)?;
    let from = source::readable_from(&src, &cols)?;
    let work = create_work_table("mkt_clean_work", &from)?;
    let steps = clean::plan(&opts, &cols, &work).sql()?;
    let mut out: Vec<(String, i64)> = vec![("input".into(), count_rows(&work)?)];
    for step in steps {
        let n = match &step {
            Step::Coerce { count, alter, .. } => {
                let failed = read_count(count)?;
                exec(alter)?;
                failed
            }
            Step::Exec { sql, .. } => exec(sql)?,
            Step::Outliers {
                name,
                bounds,
                column,
                action,
                ..
            } => match read_pair(bounds)? {
                (Some(lo), Some(hi)) => {
                    let (stmts, count) = outlier_statements(&work, name, column, *action, lo, hi);
                    let mut n = 0;
                    for s in &stmts {
                        n = exec(s)?;
                    }
                    match count {
                        Some(q) => read_count(&q)?,
                        None => n,
                    }
                }
                _ => {
                    out.push((format!("outliers {name}"), 0));
                    continue;
                }
            },
        };
        out.push((step.label().to_string(), n));
    }
    let n = source::create_table_as(target, &format!("SELECT * FROM {work}"), replace)?;
    exec(&format!("DROP TABLE {work}"))?;
    out.push(("output".into(), n));
    Ok(out)
}
