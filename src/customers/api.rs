//! The customer area's SQL functions: mkt.rfm_summary, mkt.train_clv, mkt.customer_value,
//! mkt.p_alive, mkt.customer_clv, mkt.evaluate_clv, mkt.clv_report_svg.

use crate::customers::transactions::Columns;
use crate::customers::{evaluate, rfm, serve, train};
use crate::pg::error::required;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

#[pg_extern(stable, parallel_safe)]
#[allow(clippy::type_complexity)]
fn rfm_summary(
    transactions: Option<&str>,
    customer_col: default!(Option<&str>, "'customer_id'"),
    time_col: default!(Option<&str>, "'ts'"),
    amount_col: default!(Option<&str>, "NULL"),
    period: default!(Option<&str>, "'week'"),
    calibration_end: default!(Option<TimestampWithTimeZone>, "NULL"),
    holdout_end: default!(Option<TimestampWithTimeZone>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(customer_id, String),
            name!(frequency, f64),
            name!(recency, f64),
            name!(t, f64),
            name!(monetary_value, Option<f64>),
            name!(holdout_frequency, Option<f64>),
            name!(holdout_monetary_value, Option<f64>),
        ),
    >,
    ErrorReport,
> {
    Ok(TableIterator::new(rfm::summary(
        required(transactions, "transactions")?,
        &Columns {
            customer: required(customer_col, "customer_col")?,
            time: required(time_col, "time_col")?,
            amount: amount_col,
        },
        required(period, "period")?,
        calibration_end,
        holdout_end,
    )?))
}

#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::type_complexity)]
fn train_clv(
    model_name: Option<&str>,
    transactions: Option<&str>,
    customer_col: default!(Option<&str>, "'customer_id'"),
    time_col: default!(Option<&str>, "'ts'"),
    amount_col: default!(Option<&str>, "NULL"),
    params: default!(Option<pgrx::JsonB>, "'{}'"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(model_name, String),
            name!(version, i32),
            name!(model, String),
            name!(customers, i64),
            name!(repeaters, i64),
            name!(log_likelihood, f64),
            name!(parameters, pgrx::JsonB),
            name!(train_seconds, f64),
        ),
    >,
    ErrorReport,
> {
    let model_name = required(model_name, "model_name")?;
    let t = train::train(
        model_name,
        required(transactions, "transactions")?,
        required(customer_col, "customer_col")?,
        time_col,
        amount_col,
        &required(params, "params")?.0,
    )?;
    Ok(TableIterator::once((
        model_name.to_string(),
        t.version,
        t.model.to_string(),
        t.customers,
        t.repeaters,
        t.log_likelihood,
        pgrx::JsonB(t.parameters),
        t.train_seconds,
    )))
}

#[pg_extern(stable, parallel_safe)]
#[allow(clippy::type_complexity)]
fn customer_value(
    model_name: Option<&str>,
    horizon: default!(Option<f64>, 52),
    discount_rate: default!(Option<f64>, 0),
    customers: default!(Option<Vec<Option<String>>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(customer_id, String),
            name!(p_alive, Option<f64>),
            name!(expected_purchases, Option<f64>),
            name!(expected_avg_spend, Option<f64>),
            name!(clv, Option<f64>),
        ),
    >,
    ErrorReport,
> {
    let customers = customers
        .map(|v| crate::pg::args::no_nulls(Some(v), "customers"))
        .transpose()?;
    Ok(TableIterator::new(serve::customer_value(
        required(model_name, "model_name")?,
        required(horizon, "horizon")?,
        required(discount_rate, "discount_rate")?,
        customers,
    )?))
}

#[pg_extern(stable, parallel_safe, strict)]
fn p_alive(model_name: &str, customer_id: &str) -> Result<Option<f64>, ErrorReport> {
    serve::p_alive(model_name, customer_id)
}

#[pg_extern(stable, parallel_safe)]
fn customer_clv(
    model_name: Option<&str>,
    customer_id: Option<&str>,
    horizon: default!(Option<f64>, 52),
) -> Result<Option<f64>, ErrorReport> {
    let Some(customer_id) = customer_id else {
        return Ok(None);
    };
    serve::customer_clv(required(model_name, "model_name")?, customer_id, required(horizon, "horizon")?)
}

#[pg_extern(volatile, parallel_unsafe)]
fn evaluate_clv(
    model_name: Option<&str>,
    transactions: default!(Option<&str>, "NULL"),
) -> Result<TableIterator<'static, (name!(metric, String), name!(value, f64))>, ErrorReport> {
    Ok(TableIterator::new(evaluate::evaluate(required(model_name, "model_name")?, transactions)?))
}

#[pg_extern(stable, parallel_safe)]
fn clv_report_svg(model_name: Option<&str>) -> Result<String, ErrorReport> {
    serve::report_svg(required(model_name, "model_name")?)
}
