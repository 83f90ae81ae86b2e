//! Reading a source's feature columns (and a label, treatment or outcome) through the executor.
//! NULLs are kept as missing values: numbers read as NaN, categories as "no level". A feature is
//! a number (integers, floats, numeric), a boolean (read as 0/1) or a category (text, varchar,
//! char); any other type is refused naming the column.

use crate::pg::error::{OrSql, SqlResult};
use crate::pg::source::{self, Column, Resolved, Target};
use mkt_core::columns::ColKind;
use mkt_core::ids::{IdColumn, IdKind};
use mkt_core::names::{quote_ident, quote_shown};
use mkt_core::Error;
pub use mkt_predict::features::code_of;
use mkt_predict::features::{Column as FeatureColumn, Features};
use mkt_predict::input_transform::InputTransform;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Number,
    Boolean,
    Category,
}

pub fn kind_of(c: &Column, role: &str) -> SqlResult<Kind> {
    match c.kind {
        ColKind::Number | ColKind::Id(IdKind::Int) => Ok(Kind::Number),
        ColKind::Id(IdKind::Text) if c.type_name != "uuid" => Ok(Kind::Category),
        _ if c.type_name == "boolean" => Ok(Kind::Boolean),
        _ => Err(Error::WrongType(format!(
            "{role} column {} has type {}; {role}s must be numbers, booleans or text (categories)",
            quote_shown(&c.name),
            c.type_name
        )))
        .sql(),
    }
}

/// A label, treatment or outcome: a number or a boolean.
pub fn numeric_kind(c: &Column, role: &str) -> SqlResult<Kind> {
    match kind_of(c, role) {
        Ok(Kind::Category) | Err(_) => Err(Error::WrongType(format!(
            "{role} column {} has type {}; it must be a number or a boolean",
            quote_shown(&c.name),
            c.type_name
        )))
        .sql(),
        ok => ok,
    }
}

/// The feature columns: the named ones, or every column of the source but `exclude`.
pub fn feature_columns(
    described: &[Column],
    named: Option<&[String]>,
    exclude: &[&str],
) -> SqlResult<Vec<(Column, Kind)>> {
    let chosen: Vec<Column> = match named {
        Some(names) => {
            let mut out: Vec<Column> = Vec::new();
            for n in names {
                let c = source::find(described, n, "feature")?;
                if exclude.iter().any(|e| *e == c.name) {
                    return Err(Error::InvalidParameter(format!(
                        "{} is the label, key, treatment or outcome column and cannot be a feature",
                        quote_shown(&c.name)
                    )))
                    .sql();
                }
                if out.iter().any(|o| o.name == c.name) {
                    return Err(Error::InvalidParameter(format!(
                        "feature {} is listed twice",
                        quote_shown(&c.name)
                    )))
                    .sql();
                }
                out.push(c.clone());
            }
            out
        }
        None => described
            .iter()
            .filter(|c| !exclude.contains(&c.name.as_str()))
            .cloned()
            .collect(),
    };
    if chosen.is_empty() {
        return Err(Error::InvalidParameter(
            "no feature columns: name some in features".into(),
        ))
        .sql();
    }
    chosen
        .into_iter()
        .map(|c| kind_of(&c, "feature").map(|k| (c, k)))
        .collect()
}

/// One column as read: numbers (NaN for NULL) or texts (None for NULL).
pub enum Raw {
    Numbers(Vec<f64>),
    Texts(Vec<Option<String>>),
}

fn expr(name: &str, kind: Kind) -> (String, Target) {
    let q = quote_ident(name);
    match kind {
        Kind::Number => (
            format!("COALESCE(({q})::float8, 'NaN'::float8)"),
            Target::Floats(Vec::new()),
        ),
        Kind::Boolean => (
            format!("COALESCE(({q})::int::float8, 'NaN'::float8)"),
            Target::Floats(Vec::new()),
        ),
        // A leading '=' tells a value (even the empty string) from NULL without a second column.
        Kind::Category => (
            format!("COALESCE('=' || ({q})::text, '')"),
            Target::Ids(IdColumn::Text(Vec::new())),
        ),
    }
}

/// Reads `cols` (name and kind) from the source, in order, NULLs kept.
pub fn read(src: &Resolved, cols: &[(String, Kind)]) -> SqlResult<Vec<Raw>> {
    let (exprs, mut targets): (Vec<String>, Vec<Target>) =
        cols.iter().map(|(n, k)| expr(n, *k)).unzip();
    source::read_columnar(src, &exprs, &mut targets)?;
    Ok(targets
        .into_iter()
        .map(|t| match t {
            Target::Floats(v) => Raw::Numbers(v),
            t => match t.into_ids() {
                IdColumn::Text(v) => Raw::Texts(
                    v.into_iter()
                        .map(|s| s.strip_prefix('=').map(str::to_string))
                        .collect(),
                ),
                IdColumn::Int(_) => Raw::Texts(Vec::new()),
            },
        })
        .collect())
}

/// The transform a model is trained through (params.transform), as stored now; the model keeps
/// this copy.
pub fn input_transform(name: &str) -> SqlResult<InputTransform> {
    let (spec, stats) = crate::prep::transforms::load_json(name)?;
    InputTransform::new(name, &spec, &stats).sql()
}

/// The source a model reads, through the transform it was trained with.
pub fn model_source(source_text: &str, transform: Option<&InputTransform>) -> SqlResult<Resolved> {
    let src = source::resolve(source_text)?;
    Ok(match transform {
        Some(t) => crate::prep::transforms::with_fitted(&t.fitted, src),
        None => src,
    })
}

/// How each feature of a model's schema is read from a scoring or test source.
pub fn schema_columns(described: &[Column], schema: &Features) -> SqlResult<Vec<(String, Kind)>> {
    schema
        .names
        .iter()
        .zip(&schema.columns)
        .map(|(name, s)| {
            let c = source::find(described, name, "feature")?;
            Ok((c.name.clone(), scoring_kind(s, c)?))
        })
        .collect()
}

/// The rows where none of `cols` is missing (NaN).
pub fn complete_rows(cols: &[Vec<f64>]) -> Vec<usize> {
    let n = cols.first().map_or(0, Vec::len);
    (0..n)
        .filter(|&i| cols.iter().all(|c| !c[i].is_nan()))
        .collect()
}

/// The numbers of a column read as numbers (empty for texts).
pub fn numbers(r: Raw) -> Vec<f64> {
    match r {
        Raw::Numbers(v) => v,
        Raw::Texts(_) => Vec::new(),
    }
}

/// Feature columns for training: categories get their levels, sorted, from the rows kept.
pub fn training_features(names: Vec<String>, raws: Vec<Raw>, keep: &[usize]) -> Features {
    let columns = raws
        .into_iter()
        .map(|r| match r {
            // `keep` lists rows in order: as long as the column, it is every row.
            Raw::Numbers(v) if keep.len() == v.len() => FeatureColumn::Numeric(v),
            Raw::Numbers(v) => FeatureColumn::Numeric(keep.iter().map(|&i| v[i]).collect()),
            Raw::Texts(v) => {
                let mut levels: Vec<String> = keep.iter().filter_map(|&i| v[i].clone()).collect();
                levels.sort_unstable();
                levels.dedup();
                let codes = keep
                    .iter()
                    .map(|&i| code_of(&levels, v[i].as_deref()))
                    .collect();
                FeatureColumn::Categorical { codes, levels }
            }
        })
        .collect();
    Features { names, columns }
}

/// How a model's feature is read from a scoring source: a category as text (whatever its type
/// there), a number only from a number or boolean column.
pub fn scoring_kind(schema: &FeatureColumn, c: &Column) -> SqlResult<Kind> {
    match schema {
        FeatureColumn::Categorical { .. } => Ok(Kind::Category),
        FeatureColumn::Numeric(_) => numeric_kind(c, "feature"),
    }
}

/// Feature columns for scoring, in the model's schema: categories coded by the model's levels.
pub fn scoring_features(schema: &Features, raws: Vec<Raw>) -> Features {
    let columns = schema
        .columns
        .iter()
        .zip(raws)
        .map(|(s, r)| match (s, r) {
            (FeatureColumn::Categorical { levels, .. }, Raw::Texts(v)) => {
                FeatureColumn::Categorical {
                    codes: v.iter().map(|t| code_of(levels, t.as_deref())).collect(),
                    levels: levels.clone(),
                }
            }
            (_, Raw::Numbers(v)) => FeatureColumn::Numeric(v),
            (_, Raw::Texts(v)) => FeatureColumn::Numeric(vec![f64::NAN; v.len()]),
        })
        .collect();
    Features {
        names: schema.names.clone(),
        columns,
    }
}

/// A number as the text PostgreSQL would give it, for a number matched against text levels.
pub fn number_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}
