//! The recommenders' SQL functions: mkt.train_recommender, mkt.recommend (bigint and text ids),
//! mkt.recommend_all, mkt.similar_items, mkt.evaluate_recommender, mkt.explain_recommendation,
//! mkt.tune_recommender, mkt.retrain.

use crate::pg::args::check_k;
use crate::pg::error::required;
use crate::recommenders::{evaluate, explain, retrain, serve, train, tune};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

#[pg_extern(volatile, parallel_unsafe)]
fn train_recommender(
    model_name: Option<&str>,
    source: Option<&str>,
    user_col: default!(Option<&str>, "'user_id'"),
    item_col: default!(Option<&str>, "'item_id'"),
    weight_col: default!(Option<&str>, "NULL"),
    algorithm: default!(Option<&str>, "'als'"),
    params: default!(Option<pgrx::JsonB>, "'{}'"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(model_name, String),
            name!(version, i32),
            name!(algorithm, String),
            name!(n_users, i64),
            name!(n_items, i64),
            name!(n_interactions, i64),
            name!(train_seconds, f64),
        ),
    >,
    ErrorReport,
> {
    let model_name = required(model_name, "model_name")?;
    let t = train::train(
        model_name,
        required(source, "source")?,
        required(user_col, "user_col")?,
        required(item_col, "item_col")?,
        weight_col,
        required(algorithm, "algorithm")?,
        &required(params, "params")?.0,
    )?;
    Ok(TableIterator::once((
        model_name.to_string(),
        t.version,
        t.algorithm.to_string(),
        t.n_users,
        t.n_items,
        t.n_interactions,
        t.train_seconds,
    )))
}

#[pg_extern(stable, parallel_safe)]
fn recommend(
    model_name: Option<&str>,
    user_id: Option<i64>,
    k: default!(Option<i32>, 10),
    exclude_seen: default!(Option<bool>, true),
    candidates: default!(Option<Vec<i64>>, "NULL"),
) -> Result<
    TableIterator<'static, (name!(item_id, i64), name!(score, f32), name!(rank, i32))>,
    ErrorReport,
> {
    let model_name = required(model_name, "model_name")?;
    let user_id = required(user_id, "user_id")?;
    let k = check_k(required(k, "k")?)?;
    let exclude_seen = required(exclude_seen, "exclude_seen")?;
    Ok(TableIterator::new(serve::recommend_int(
        model_name, user_id, k, exclude_seen, candidates,
    )?))
}

#[pg_extern(stable, parallel_safe, name = "recommend")]
fn recommend_text(
    model_name: Option<&str>,
    user_id: Option<&str>,
    k: default!(Option<i32>, 10),
    exclude_seen: default!(Option<bool>, true),
    candidates: default!(Option<Vec<String>>, "NULL"),
) -> Result<
    TableIterator<'static, (name!(item_id, String), name!(score, f32), name!(rank, i32))>,
    ErrorReport,
> {
    let model_name = required(model_name, "model_name")?;
    let user_id = required(user_id, "user_id")?;
    let k = check_k(required(k, "k")?)?;
    let exclude_seen = required(exclude_seen, "exclude_seen")?;
    Ok(TableIterator::new(serve::recommend_text(
        model_name, user_id, k, exclude_seen, candidates,
    )?))
}

#[pg_extern(stable, parallel_safe)]
fn recommend_all(
    model_name: Option<&str>,
    k: default!(Option<i32>, 10),
    user_ids: default!(Option<Vec<i64>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(user_id, i64),
            name!(item_id, i64),
            name!(score, f32),
            name!(rank, i32),
        ),
    >,
    ErrorReport,
> {
    let model_name = required(model_name, "model_name")?;
    let k = check_k(required(k, "k")?)?;
    Ok(TableIterator::new(serve::recommend_all(model_name, k, user_ids)?))
}

#[pg_extern(stable, parallel_safe)]
fn recommend_next(
    model_name: Option<&str>,
    recent_items: Option<Vec<Option<i64>>>,
    k: default!(Option<i32>, 10),
    exclude: default!(Option<Vec<Option<i64>>>, "NULL"),
) -> Result<
    TableIterator<'static, (name!(item_id, i64), name!(score, f32), name!(rank, i32))>,
    ErrorReport,
> {
    let model_name = required(model_name, "model_name")?;
    let recent: Vec<i64> = required(recent_items, "recent_items")?.into_iter().flatten().collect();
    let k = check_k(required(k, "k")?)?;
    let exclude: Vec<i64> = exclude.unwrap_or_default().into_iter().flatten().collect();
    Ok(TableIterator::new(serve::recommend_next(model_name, &recent, k, &exclude)?))
}

#[pg_extern(stable, parallel_safe)]
fn similar_items(
    model_name: &str,
    item_id: i64,
    k: default!(i32, 10),
) -> Result<
    TableIterator<'static, (name!(item_id, i64), name!(score, f32), name!(rank, i32))>,
    ErrorReport,
> {
    let k = check_k(k)?;
    Ok(TableIterator::new(serve::similar_items(model_name, item_id, k)?))
}

#[pg_extern(volatile, parallel_unsafe)]
fn evaluate_recommender(
    model_name: &str,
    test_source: &str,
    k: default!(i32, 10),
    user_col: default!(&str, "'user_id'"),
    item_col: default!(&str, "'item_id'"),
) -> Result<TableIterator<'static, (name!(metric, String), name!(value, f64))>, ErrorReport> {
    let k = check_k(k)?;
    Ok(TableIterator::new(evaluate::evaluate(
        model_name,
        test_source,
        k,
        user_col,
        item_col,
    )?))
}

#[pg_extern(stable, parallel_safe)]
fn explain_recommendation(
    model_name: &str,
    user_id: i64,
    item_id: i64,
    n: default!(i32, 5),
) -> Result<
    TableIterator<'static, (name!(because_item_id, i64), name!(contribution, f32))>,
    ErrorReport,
> {
    let n = check_k(n)?;
    Ok(TableIterator::new(explain::explain_recommendation(
        model_name, user_id, item_id, n,
    )?))
}

#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::type_complexity)]
fn tune_recommender(
    model_name: Option<&str>,
    source: Option<&str>,
    user_col: default!(Option<&str>, "'user_id'"),
    item_col: default!(Option<&str>, "'item_id'"),
    weight_col: default!(Option<&str>, "NULL"),
    algorithm: default!(Option<&str>, "'als'"),
    search: default!(Option<pgrx::JsonB>, "'{}'"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(trial, i32),
            name!(params, pgrx::JsonB),
            name!(metric, f64),
            name!(seconds, f64),
            name!(best, bool),
        ),
    >,
    ErrorReport,
> {
    let (trials, best) = tune::tune(
        required(model_name, "model_name")?,
        required(source, "source")?,
        required(user_col, "user_col")?,
        required(item_col, "item_col")?,
        weight_col,
        required(algorithm, "algorithm")?,
        &required(search, "search")?.0,
    )?;
    Ok(TableIterator::new(trials.into_iter().map(move |t| {
        (t.trial, pgrx::JsonB(t.params), t.value, t.seconds, t.trial == best)
    })))
}

#[pg_extern(volatile, parallel_unsafe)]
fn retrain(
    model_name: &str,
    deploy: default!(&str, "'if_better'"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(version, i32),
            name!(metric, f64),
            name!(previous_metric, Option<f64>),
            name!(deployed, bool),
        ),
    >,
    ErrorReport,
> {
    Ok(TableIterator::once(retrain::retrain(model_name, deploy)?))
}
