//! The predictor area's SQL functions: mkt.train_predictor, mkt.predict, mkt.predict_all,
//! mkt.predict_class, mkt.predict_proba, mkt.predict_probability, mkt.predict_class_all,
//! mkt.predict_proba_all, mkt.evaluate_predictor, mkt.roc_curve, mkt.feature_importance, mkt.explain_prediction,
//! mkt.train_uplift, mkt.predict_uplift, mkt.predict_uplift_all, mkt.evaluate_uplift,
//! mkt.uplift_curve_svg.

use crate::pg::args::no_nulls;
use crate::pg::error::required;
use crate::predictors::{evaluate, serve, train};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

type TrainRow = (String, i32, String, i64, i32, pgrx::JsonB, f64);

fn train_row(model_name: &str, t: train::Outcome) -> TableIterator<'static, TrainRow> {
    TableIterator::once((
        model_name.to_string(),
        t.version,
        t.algorithm,
        t.rows,
        t.features,
        pgrx::JsonB(t.metrics),
        t.train_seconds,
    ))
}

#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::type_complexity)]
fn train_predictor(
    model_name: Option<&str>,
    source: Option<&str>,
    label_col: Option<&str>,
    features: default!(Option<Vec<Option<String>>>, "NULL"),
    task: default!(Option<&str>, "'classification'"),
    algorithm: default!(Option<&str>, "'gbdt'"),
    params: default!(Option<pgrx::JsonB>, "'{}'"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(model_name, String),
            name!(version, i32),
            name!(algorithm, String),
            name!(rows, i64),
            name!(features, i32),
            name!(metrics, pgrx::JsonB),
            name!(train_seconds, f64),
        ),
    >,
    ErrorReport,
> {
    let model_name = required(model_name, "model_name")?;
    let features = features
        .map(|f| no_nulls(Some(f), "features"))
        .transpose()?;
    let t = train::train_predictor(
        model_name,
        required(source, "source")?,
        required(label_col, "label_col")?,
        features.as_deref(),
        required(task, "task")?,
        required(algorithm, "algorithm")?,
        &required(params, "params")?.0,
    )?;
    Ok(train_row(model_name, t))
}

#[pg_extern(stable, parallel_safe)]
fn predict(
    model_name: Option<&str>,
    features: Option<pgrx::JsonB>,
) -> Result<Option<f64>, ErrorReport> {
    let Some(features) = features else {
        return Ok(None);
    };
    serve::predict(required(model_name, "model_name")?, &features.0).map(Some)
}

#[pg_extern(stable, parallel_safe)]
fn predict_all(
    model_name: Option<&str>,
    source: Option<&str>,
    key_col: Option<&str>,
) -> Result<TableIterator<'static, (name!(key, Option<String>), name!(score, f64))>, ErrorReport> {
    Ok(TableIterator::new(serve::predict_all(
        required(model_name, "model_name")?,
        required(source, "source")?,
        required(key_col, "key_col")?,
    )?))
}

#[pg_extern(stable, parallel_safe)]
fn predict_class(
    model_name: Option<&str>,
    features: Option<pgrx::JsonB>,
) -> Result<Option<String>, ErrorReport> {
    let Some(features) = features else {
        return Ok(None);
    };
    serve::predict_class(required(model_name, "model_name")?, &features.0).map(Some)
}

#[pg_extern(stable, parallel_safe)]
fn predict_proba(
    model_name: Option<&str>,
    features: Option<pgrx::JsonB>,
) -> Result<TableIterator<'static, (name!(class, String), name!(probability, f64))>, ErrorReport> {
    let model_name = required(model_name, "model_name")?;
    let rows = match features {
        Some(f) => serve::predict_proba(model_name, &f.0)?,
        None => Vec::new(),
    };
    Ok(TableIterator::new(rows))
}

#[pg_extern(stable, parallel_safe)]
fn predict_probability(
    model_name: Option<&str>,
    features: Option<pgrx::JsonB>,
    class: Option<&str>,
) -> Result<Option<f64>, ErrorReport> {
    let model_name = required(model_name, "model_name")?;
    let class = required(class, "class")?;
    let Some(features) = features else {
        return Ok(None);
    };
    serve::predict_probability(model_name, &features.0, class).map(Some)
}

#[pg_extern(stable, parallel_safe)]
#[allow(clippy::type_complexity)]
fn predict_class_all(
    model_name: Option<&str>,
    source: Option<&str>,
    key_col: Option<&str>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(key, Option<String>),
            name!(class, String),
            name!(probability, f64),
        ),
    >,
    ErrorReport,
> {
    Ok(TableIterator::new(serve::predict_class_all(
        required(model_name, "model_name")?,
        required(source, "source")?,
        required(key_col, "key_col")?,
    )?))
}

#[pg_extern(stable, parallel_safe)]
#[allow(clippy::type_complexity)]
fn predict_proba_all(
    model_name: Option<&str>,
    source: Option<&str>,
    key_col: Option<&str>,
    only_class: default!(Option<&str>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(key, Option<String>),
            name!(class, String),
            name!(probability, f64),
        ),
    >,
    ErrorReport,
> {
    Ok(TableIterator::new(serve::predict_proba_all(
        required(model_name, "model_name")?,
        required(source, "source")?,
        required(key_col, "key_col")?,
        only_class,
    )?))
}

#[pg_extern(volatile, parallel_unsafe)]
fn evaluate_predictor(
    model_name: Option<&str>,
    test_source: Option<&str>,
) -> Result<TableIterator<'static, (name!(metric, String), name!(value, f64))>, ErrorReport> {
    Ok(TableIterator::new(evaluate::evaluate_predictor(
        required(model_name, "model_name")?,
        required(test_source, "test_source")?,
    )?))
}

#[pg_extern(stable, parallel_safe)]
#[allow(clippy::type_complexity)]
fn roc_curve(
    model_name: Option<&str>,
    test_source: Option<&str>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(threshold, f64),
            name!(tpr, f64),
            name!(fpr, f64),
            name!(precision, f64),
        ),
    >,
    ErrorReport,
> {
    let points = evaluate::roc_curve(
        required(model_name, "model_name")?,
        required(test_source, "test_source")?,
    )?;
    Ok(TableIterator::new(
        points
            .into_iter()
            .map(|p| (p.threshold, p.tpr, p.fpr, p.precision)),
    ))
}

#[pg_extern(stable, parallel_safe)]
fn feature_importance(
    model_name: Option<&str>,
) -> Result<TableIterator<'static, (name!(feature, String), name!(importance, f64))>, ErrorReport> {
    Ok(TableIterator::new(serve::importance(required(
        model_name,
        "model_name",
    )?)?))
}

#[pg_extern(stable, parallel_safe)]
fn explain_prediction(
    model_name: Option<&str>,
    features: Option<pgrx::JsonB>,
) -> Result<TableIterator<'static, (name!(feature, String), name!(contribution, f64))>, ErrorReport>
{
    Ok(TableIterator::new(serve::explain(
        required(model_name, "model_name")?,
        &required(features, "features")?.0,
    )?))
}

#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::type_complexity)]
fn train_uplift(
    model_name: Option<&str>,
    source: Option<&str>,
    treatment_col: Option<&str>,
    outcome_col: Option<&str>,
    features: default!(Option<Vec<Option<String>>>, "NULL"),
    algorithm: default!(Option<&str>, "'t_learner'"),
    params: default!(Option<pgrx::JsonB>, "'{}'"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(model_name, String),
            name!(version, i32),
            name!(algorithm, String),
            name!(rows, i64),
            name!(features, i32),
            name!(metrics, pgrx::JsonB),
            name!(train_seconds, f64),
        ),
    >,
    ErrorReport,
> {
    let model_name = required(model_name, "model_name")?;
    let features = features
        .map(|f| no_nulls(Some(f), "features"))
        .transpose()?;
    let t = train::train_uplift(
        model_name,
        required(source, "source")?,
        required(treatment_col, "treatment_col")?,
        required(outcome_col, "outcome_col")?,
        features.as_deref(),
        required(algorithm, "algorithm")?,
        &required(params, "params")?.0,
    )?;
    Ok(train_row(model_name, t))
}

#[pg_extern(stable, parallel_safe)]
fn predict_uplift(
    model_name: Option<&str>,
    features: Option<pgrx::JsonB>,
) -> Result<Option<f64>, ErrorReport> {
    let Some(features) = features else {
        return Ok(None);
    };
    serve::predict_uplift(required(model_name, "model_name")?, &features.0).map(Some)
}

#[pg_extern(stable, parallel_safe)]
fn predict_uplift_all(
    model_name: Option<&str>,
    source: Option<&str>,
    key_col: Option<&str>,
) -> Result<TableIterator<'static, (name!(key, Option<String>), name!(uplift, f64))>, ErrorReport> {
    Ok(TableIterator::new(serve::predict_uplift_all(
        required(model_name, "model_name")?,
        required(source, "source")?,
        required(key_col, "key_col")?,
    )?))
}

#[pg_extern(volatile, parallel_unsafe)]
fn evaluate_uplift(
    model_name: Option<&str>,
    test_source: Option<&str>,
) -> Result<TableIterator<'static, (name!(metric, String), name!(value, f64))>, ErrorReport> {
    Ok(TableIterator::new(evaluate::evaluate_uplift(
        required(model_name, "model_name")?,
        required(test_source, "test_source")?,
    )?))
}

#[pg_extern(stable, parallel_safe)]
fn uplift_curve_svg(
    model_name: Option<&str>,
    test_source: Option<&str>,
) -> Result<String, ErrorReport> {
    evaluate::uplift_curve_svg(
        required(model_name, "model_name")?,
        required(test_source, "test_source")?,
    )
}
