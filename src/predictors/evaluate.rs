//! mkt.evaluate_predictor, mkt.roc_curve, mkt.evaluate_uplift and mkt.uplift_curve_svg: the
//! deployed model scored on a test source against what happened there. Evaluations are stored
//! with the version (as test_<metric>).

use crate::models::{cache, catalog as models};
use crate::pg::error::{OrSql, SqlResult};
use crate::pg::source::{self, Resolved};
use crate::predictors::rows::{self, numbers, Kind, Raw};
use crate::predictors::serve::score_rows;
use mkt_core::Error;
use mkt_predict::classes;
use mkt_predict::classification::{roc_curve as curve, RocPoint};
use mkt_predict::features::Features;
use mkt_predict::predictor::{self, Predictor, Task};
use mkt_predict::uplift_metrics::Scored;
use mkt_predict::uplift_stored::{self, treatment_flags};
use serde_json::{Map, Value};

/// The model's features and the named numeric columns of every test row where those are set.
/// With `classes` (a multiclass model's), a target is read as text and given as class positions
/// (`classes::position`: a label the model never saw is a class of its own, never called).
fn read_test(
    src: &Resolved,
    schema: &Features,
    targets: &[&str],
    classes: Option<&[String]>,
) -> SqlResult<(Features, Vec<Vec<f64>>, usize)> {
    let described = source::describe(src)?;
    let mut cols = rows::schema_columns(&described, schema)?;
    for t in targets {
        let c = source::find(&described, t, "label")?;
        let kind = match classes {
            Some(_) => rows::kind_of(c, "label").map(|_| Kind::Category)?,
            None => rows::numeric_kind(c, "label")?,
        };
        cols.push((c.name.clone(), kind));
    }
    let mut raws = rows::read(src, &cols)?;
    let mut unseen = Vec::new();
    let extra: Vec<Vec<f64>> = raws
        .split_off(schema.columns.len())
        .into_iter()
        .map(|r| match (r, classes) {
            (Raw::Texts(v), Some(known)) => v
                .iter()
                .map(|t| {
                    t.as_deref().map_or(f64::NAN, |t| {
                        classes::position(known, &mut unseen, t) as f64
                    })
                })
                .collect(),
            (r, _) => numbers(r),
        })
        .collect();
    let x = rows::scoring_features(schema, raws);
    let n = extra.first().map_or(0, Vec::len);
    let keep = rows::complete_rows(&extra);
    if keep.is_empty() {
        return Err(Error::EmptyData(format!(
            "the test source has no row with {}",
            targets.join(" and ")
        )))
        .sql();
    }
    let extra = extra
        .iter()
        .map(|c| keep.iter().map(|&i| c[i]).collect())
        .collect();
    Ok((x.take(&keep), extra, n - keep.len()))
}

fn store(model_id: i64, metrics: &[(String, f64)]) -> SqlResult<()> {
    let m: Map<String, Value> = metrics
        .iter()
        .map(|(k, v)| (format!("test_{k}"), Value::from(*v)))
        .collect();
    models::record_metrics(model_id, Value::Object(m))
}

/// The model's scores of a test source's rows (for multiclass every class's probability, row
/// after row) and the rows' labels.
fn scored_predictor(p: &Predictor, test: &str) -> SqlResult<(Vec<f64>, Vec<f64>)> {
    let src = rows::model_source(test, p.transform.as_ref())?;
    let multiclass = p.task == Task::Multiclass;
    let (x, extra, _) = read_test(
        &src,
        &p.features,
        &[&p.label],
        multiclass.then_some(&p.classes[..]),
    )?;
    let y = extra.into_iter().next().unwrap_or_default();
    if p.task == Task::Classification {
        if let Some(v) = y.iter().find(|&&v| v != 0.0 && v != 1.0) {
            return Err(Error::InvalidParameter(format!(
                "the label {} must be 0/1 or boolean; it has the value {v}",
                p.label
            )))
            .sql();
        }
    }
    let scores = if multiclass {
        score_rows(&x, |r| p.probabilities(r))?
            .into_iter()
            .flatten()
            .collect()
    } else {
        score_rows(&x, |r| p.predict(r))?
    };
    Ok((scores, y))
}

pub fn evaluate_predictor(name: &str, test: &str) -> SqlResult<Vec<(String, f64)>> {
    let (id, p) = cache::predictor(name)?;
    let (scores, y) = scored_predictor(&p, test)?;
    let metrics = predictor::metrics(p.task, &scores, &y, p.threshold);
    store(id, &metrics)?;
    Ok(metrics)
}

pub fn roc_curve(name: &str, test: &str) -> SqlResult<Vec<RocPoint>> {
    let (_, p) = cache::predictor(name)?;
    let task = p.task;
    if task != Task::Classification {
        return Err(Error::NotSupported(format!(
            "model {} is a {}; a ROC curve needs binary classification",
            mkt_core::names::quote_shown(name),
            if task == Task::Regression {
                "regression"
            } else {
                "multiclass classifier"
            }
        )))
        .sql();
    }
    let (scores, y) = scored_predictor(&p, test)?;
    let labels: Vec<bool> = y.iter().map(|&v| v == 1.0).collect();
    Ok(curve(&scores, &labels))
}

fn scored_uplift(name: &str, test: &str) -> SqlResult<(i64, Vec<Scored>)> {
    let (id, m) = cache::uplift(name)?;
    let src = rows::model_source(test, m.transform.as_ref())?;
    let (x, extra, _) = read_test(&src, &m.features, &[&m.treatment, &m.outcome], None)?;
    let treated = treatment_flags(&m.treatment, &extra[0]).sql()?;
    let scores = score_rows(&x, |r| m.uplift(r))?;
    Ok((
        id,
        (0..scores.len())
            .map(|i| Scored {
                outcome: extra[1][i],
                treated: treated[i],
                uplift: scores[i],
            })
            .collect(),
    ))
}

pub fn evaluate_uplift(name: &str, test: &str) -> SqlResult<Vec<(String, f64)>> {
    let (id, rows) = scored_uplift(name, test)?;
    let metrics = uplift_stored::metrics(&rows);
    store(id, &metrics)?;
    Ok(metrics)
}

/// The Qini curve of the model's ranking beside random targeting and the best possible ranking.
pub fn uplift_curve_svg(name: &str, test: &str) -> SqlResult<String> {
    let (_, rows) = scored_uplift(name, test)?;
    Ok(mkt_predict::report::qini_svg(
        &format!("Qini curve of {name}: extra outcomes by customers targeted"),
        &rows,
    ))
}
