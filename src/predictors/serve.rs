//! Serving a deployed predictor or uplift model: one row given as jsonb (for triggers and
//! campaign conditions), or every row of a source; explanations and importances. Read-only:
//! works on a hot standby.

use crate::models::cache;
use crate::pg::error::{OrSql, SqlResult};
use crate::pg::source::{self, Column, Resolved};
use crate::predictors::rows::{self, code_of, number_text, Kind, Raw};
use mkt_core::names::{quote_literal, quote_shown};
use mkt_core::Error;
use mkt_predict::features::{Column as FeatureColumn, Features, Value};
use mkt_predict::input_transform::InputTransform;
use mkt_predict::predictor::{Predictor, Task};
use serde_json::Value as Json;

/// A jsonb object as one feature row in the model's schema. A key the model does not read is
/// ignored; a feature that is absent or null is missing (trees send it the way training did, the
/// linear model uses the training mean, a category none of its levels).
pub fn row_from_json(schema: &Features, j: &Json) -> SqlResult<Vec<Value>> {
    let Json::Object(map) = j else {
        return Err(Error::InvalidParameter(format!(
            "features must be a JSON object, got {j}"
        )))
        .sql();
    };
    schema
        .names
        .iter()
        .zip(&schema.columns)
        .map(|(name, col)| {
            let v = map.get(name).filter(|v| !v.is_null());
            let bad = |v: &Json, want: &str| {
                Err(Error::InvalidParameter(format!(
                    "feature {} must be {want}, got {v}",
                    quote_shown(name)
                )))
                .sql()
            };
            match col {
                FeatureColumn::Numeric(_) => match v {
                    None => Ok(Value::Number(f64::NAN)),
                    Some(Json::Number(n)) => Ok(Value::Number(n.as_f64().unwrap_or(f64::NAN))),
                    Some(Json::Bool(b)) => Ok(Value::Number(if *b { 1.0 } else { 0.0 })),
                    Some(Json::String(s)) => match s.trim().parse::<f64>() {
                        Ok(x) => Ok(Value::Number(x)),
                        Err(_) => bad(v.expect("matched"), "a number"),
                    },
                    Some(other) => bad(other, "a number"),
                },
                FeatureColumn::Categorical { levels, .. } => {
                    let text = match v {
                        None => None,
                        Some(Json::String(s)) => Some(s.clone()),
                        Some(Json::Number(n)) => {
                            Some(n.as_f64().map_or_else(|| n.to_string(), number_text))
                        }
                        Some(Json::Bool(b)) => Some(b.to_string()),
                        Some(other) => return bad(other, "a text value"),
                    };
                    Ok(Value::Code(code_of(levels, text.as_deref())))
                }
            }
        })
        .collect()
}

/// Reads the model's features (and a key) from every row of a source.
pub fn read_scoring(
    src: &Resolved,
    schema: &Features,
    key_col: &str,
) -> SqlResult<(Vec<Option<String>>, Features)> {
    let described = source::describe(src)?;
    let key: &Column = source::find(&described, key_col, "key")?;
    let mut cols = vec![(key.name.clone(), Kind::Category)];
    cols.extend(rows::schema_columns(&described, schema)?);
    let mut raws = rows::read(src, &cols)?;
    let features = rows::scoring_features(schema, raws.split_off(1));
    let keys = match raws.pop() {
        Some(Raw::Texts(k)) => k,
        _ => Vec::new(),
    };
    Ok((keys, features))
}

/// A row given as jsonb, through the model's transform when it has one.
fn transformed<'a>(
    t: Option<&InputTransform>,
    features: &'a Json,
) -> SqlResult<std::borrow::Cow<'a, Json>> {
    Ok(match t {
        Some(t) => std::borrow::Cow::Owned(t.apply(features).sql()?),
        None => std::borrow::Cow::Borrowed(features),
    })
}

/// What a multiclass model offers a caller of mkt.predict or mkt.predict_all instead of a score.
const CLASS_FUNCTIONS: &str = ": use mkt.predict_class or mkt.predict_proba";

/// A model whose scores are one number per row: binary classification or regression. The error
/// for a multiclass model ends with `instead`, which says what the caller can use.
pub fn one_score(name: &str, p: &Predictor, instead: &str) -> SqlResult<()> {
    if p.task == Task::Multiclass {
        return Err(Error::NotSupported(format!(
            "model {} is a multiclass classifier, which has no single score{instead}",
            quote_shown(name)
        )))
        .sql();
    }
    Ok(())
}

/// A model that calls classes: binary or multiclass classification.
fn calls_classes(name: &str, p: &Predictor) -> SqlResult<()> {
    if p.task == Task::Regression {
        return Err(Error::NotSupported(format!(
            "model {} is a regression, which has no classes: use mkt.predict",
            quote_shown(name)
        )))
        .sql();
    }
    Ok(())
}

pub fn predict(name: &str, features: &Json) -> SqlResult<f64> {
    let (_, p) = cache::predictor(name)?;
    one_score(name, &p, CLASS_FUNCTIONS)?;
    let row = transformed(p.transform.as_ref(), features)?;
    Ok(p.predict(&row_from_json(&p.features, &row)?))
}

pub fn predict_all(
    name: &str,
    source_text: &str,
    key_col: &str,
) -> SqlResult<Vec<(Option<String>, f64)>> {
    let (_, p) = cache::predictor(name)?;
    one_score(name, &p, CLASS_FUNCTIONS)?;
    let src = rows::model_source(source_text, p.transform.as_ref())?;
    let (keys, x) = read_scoring(&src, &p.features, key_col)?;
    let scores = score_rows(&x, |r| p.predict(r))?;
    Ok(keys.into_iter().zip(scores).collect())
}

/// The class called for one row (a binary classifier's 0 or 1 by its threshold).
pub fn predict_class(name: &str, features: &Json) -> SqlResult<String> {
    let (_, p) = cache::predictor(name)?;
    calls_classes(name, &p)?;
    let row = transformed(p.transform.as_ref(), features)?;
    let (c, _) = p
        .predict_class(&row_from_json(&p.features, &row)?)
        .ok_or_else(|| Error::Internal("a classifier called no class".into()))
        .sql()?;
    Ok(p.class_names().swap_remove(c))
}

/// Every class with its probability for one row, in the model's class order.
pub fn predict_proba(name: &str, features: &Json) -> SqlResult<Vec<(String, f64)>> {
    let (_, p) = cache::predictor(name)?;
    calls_classes(name, &p)?;
    let row = transformed(p.transform.as_ref(), features)?;
    let probs = p.probabilities(&row_from_json(&p.features, &row)?);
    Ok(p.class_names().into_iter().zip(probs).collect())
}

/// Where `class` is among a classifier's classes; a class the model does not know is an error
/// that names the ones it does.
pub fn class_index(name: &str, p: &Predictor, class: &str) -> SqlResult<usize> {
    calls_classes(name, p)?;
    let names = p.class_names();
    names
        .iter()
        .position(|c| c == class)
        .ok_or_else(|| {
            let shown: Vec<String> = names.iter().take(20).map(|c| quote_literal(c)).collect();
            let more = if names.len() > 20 {
                format!(" and {} more", names.len() - 20)
            } else {
                String::new()
            };
            Error::InvalidParameter(format!(
                "model {} has no class {}; its classes are {}{more}",
                quote_shown(name),
                quote_literal(class),
                shown.join(", ")
            ))
        })
        .sql()
}

/// One class's probability for one row.
pub fn predict_probability(name: &str, features: &Json, class: &str) -> SqlResult<f64> {
    let (_, p) = cache::predictor(name)?;
    let i = class_index(name, &p, class)?;
    let row = transformed(p.transform.as_ref(), features)?;
    Ok(p.probabilities(&row_from_json(&p.features, &row)?)[i])
}

/// The class called for every row of a source, with its probability.
pub fn predict_class_all(
    name: &str,
    source_text: &str,
    key_col: &str,
) -> SqlResult<Vec<(Option<String>, String, f64)>> {
    let (_, p) = cache::predictor(name)?;
    calls_classes(name, &p)?;
    let src = rows::model_source(source_text, p.transform.as_ref())?;
    let (keys, x) = read_scoring(&src, &p.features, key_col)?;
    let called = score_rows(&x, |r| p.predict_class(r).unwrap_or((0, f64::NAN)))?;
    let names = p.class_names();
    Ok(keys
        .into_iter()
        .zip(called)
        .map(|(k, (c, prob))| (k, names[c].clone(), prob))
        .collect())
}

/// Every class's probability for every row of a source, or only `class`'s (one row each).
pub fn predict_proba_all(
    name: &str,
    source_text: &str,
    key_col: &str,
    class: Option<&str>,
) -> SqlResult<Vec<(Option<String>, String, f64)>> {
    let (_, p) = cache::predictor(name)?;
    let only = match class {
        Some(c) => Some(class_index(name, &p, c)?),
        None => {
            calls_classes(name, &p)?;
            None
        }
    };
    let src = rows::model_source(source_text, p.transform.as_ref())?;
    let (keys, x) = read_scoring(&src, &p.features, key_col)?;
    let probabilities = score_rows(&x, |r| p.probabilities(r))?;
    let names = p.class_names();
    let per_row = if only.is_some() { 1 } else { names.len() };
    let mut out = Vec::with_capacity(keys.len() * per_row);
    for (key, ps) in keys.into_iter().zip(probabilities) {
        match only {
            Some(i) => out.push((key, names[i].clone(), ps[i])),
            None => out.extend(
                names
                    .iter()
                    .zip(ps)
                    .map(|(c, q)| (key.clone(), c.clone(), q)),
            ),
        }
    }
    Ok(out)
}

/// Scores every row in the call's pool, checking for cancel between chunks.
pub fn score_rows<T: Send>(x: &Features, f: impl Fn(&[Value]) -> T + Sync) -> SqlResult<Vec<T>> {
    use rayon::prelude::*;
    let pool = crate::pg::pool::pool()?;
    let n = x.rows();
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(65_536) {
        let end = (start + 65_536).min(n);
        let part: Vec<T> =
            pool.install(|| (start..end).into_par_iter().map(|i| f(&x.row(i))).collect());
        out.extend(part);
        pgrx::check_for_interrupts!();
    }
    Ok(out)
}

/// (feature, contribution) with the starting score first as '(base)': they sum to the raw score
/// (log-odds for classification, the value for regression, the called class's raw score for
/// multiclass: its softmax logit, or its log-odds against the rest).
pub fn explain(name: &str, features: &Json) -> SqlResult<Vec<(String, f64)>> {
    let (_, p) = cache::predictor(name)?;
    let row = transformed(p.transform.as_ref(), features)?;
    let (base, phi) = p.explain(&row_from_json(&p.features, &row)?);
    let mut out = vec![("(base)".to_string(), base)];
    out.extend(p.features.names.iter().cloned().zip(phi));
    Ok(out)
}

/// Features by importance, most important first.
pub fn importance(name: &str) -> SqlResult<Vec<(String, f64)>> {
    Ok(cache::predictor(name)?.1.ranked_importance())
}

pub fn predict_uplift(name: &str, features: &Json) -> SqlResult<f64> {
    let (_, m) = cache::uplift(name)?;
    let row = transformed(m.transform.as_ref(), features)?;
    Ok(m.uplift(&row_from_json(&m.features, &row)?))
}

pub fn predict_uplift_all(
    name: &str,
    source_text: &str,
    key_col: &str,
) -> SqlResult<Vec<(Option<String>, f64)>> {
    let (_, m) = cache::uplift(name)?;
    let src = rows::model_source(source_text, m.transform.as_ref())?;
    let (keys, x) = read_scoring(&src, &m.features, key_col)?;
    let scores = score_rows(&x, |r| m.uplift(r))?;
    Ok(keys.into_iter().zip(scores).collect())
}
