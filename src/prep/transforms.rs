//! Feature transforms: fitted once on a source (mkt.fit_transform), applied with the stored
//! statistics forever after (mkt.apply_transform, feature tables of neural models, policy
//! contexts).

use crate::pg::error::{OrSql, SqlResult};
use crate::pg::source::{self, Column};
use crate::prep::catalog;
use mkt_core::names::quote_literal;
use mkt_core::Error;
use mkt_prep::sql_expr::{fit_query, outputs, select_with_outputs};
use mkt_prep::stats::ColumnStats;
use mkt_prep::{Fitted, TransformSpec};
use serde_json::Value;

pub use catalog::load_transform as load;
pub use catalog::load_transform_json as load_json;

/// Checks every column the spec names exists and has a type its transform takes.
fn check_columns(spec: &TransformSpec, cols: &[Column]) -> SqlResult<()> {
    for c in &spec.columns {
        let col = source::find_exact(cols, &c.column, "transformed")?;
        if c.kind.numeric() && !col.is_numeric() {
            return Err(Error::WrongType(format!(
                "transform {} needs a numeric column; {} has type {}",
                c.kind.name(),
                quote_literal(&col.name),
                col.type_name
            )))
            .sql();
        }
        if let mkt_prep::Kind::TargetEncode { label, .. } = &c.kind {
            let l = source::find(cols, label, "label")?;
            source::check_number(l, "label")?;
        }
    }
    Ok(())
}

fn check_name(name: &str) -> SqlResult<()> {
    if name.is_empty() || name.len() > 128 || name.chars().any(|c| c.is_control()) {
        return Err(crate::pg::error::invalid(
            "a transform name must be 1 to 128 bytes without control characters",
        ));
    }
    Ok(())
}

/// (column, transform, output columns) of each transformed column.
pub type FitRow = (String, String, Vec<String>);

/// Fits `spec` on `source`, stores it, and writes the transformed source to `target` if given.
pub fn fit(
    name: &str,
    source_text: &str,
    spec: &Value,
    target: Option<&str>,
    replace: bool,
) -> SqlResult<Vec<FitRow>> {
    check_name(name)?;
    let parsed = TransformSpec::parse(spec).sql()?;
    let src = source::resolve(source_text)?;
    let cols = source::describe(&src)?;
    check_columns(&parsed, &cols)?;
    let mut fitted = Fitted::default();
    for c in &parsed.columns {
        let v = catalog::read_json(&fit_query(c, &src.from))?;
        fitted
            .columns
            .push((c.clone(), ColumnStats::from_fit(c, &v).sql()?));
    }
    if !catalog::store_transform(name, source_text, spec, &fitted, replace)? {
        return Err(Error::DuplicateObject(format!(
            "transform {} already exists (replace => true refits it)",
            quote_literal(name)
        )))
        .sql();
    }
    if let Some(t) = target {
        let from = source::readable_from(&src, &cols)?;
        source::create_table_as(t, &select_with_outputs(&fitted, &from), replace)?;
    }
    Ok(fitted
        .columns
        .iter()
        .map(|(s, st)| {
            (
                s.column.clone(),
                s.kind.name().to_string(),
                outputs(s, st).into_iter().map(|(n, _)| n).collect(),
            )
        })
        .collect())
}

/// Writes `source` plus the stored transform's outputs to `target`; returns the row count.
pub fn apply(name: &str, source_text: &str, target: &str, replace: bool) -> SqlResult<i64> {
    let (parsed, fitted) = load(name)?;
    let src = source::resolve(source_text)?;
    let cols = source::describe(&src)?;
    // The label of a target encoding is only needed to fit.
    for c in &parsed.columns {
        source::find(&cols, &c.column, "transformed")?;
    }
    let from = source::readable_from(&src, &cols)?;
    source::create_table_as(target, &select_with_outputs(&fitted, &from), replace)
}

/// `src` with the stored transform's output columns added, as a source to read from.
pub fn with_outputs(name: &str, src: source::Resolved) -> SqlResult<source::Resolved> {
    let (_, fitted) = load(name)?;
    Ok(with_fitted(&fitted, src))
}

/// `src` with a fitted transform's output columns added.
pub fn with_fitted(fitted: &Fitted, src: source::Resolved) -> source::Resolved {
    source::Resolved {
        from: format!("({}) AS mkt_features", select_with_outputs(fitted, &src.from)),
        stored: false,
    }
}
