//! Data preparation's SQL functions: mkt.profile, mkt.clean, mkt.fit_transform,
//! mkt.apply_transform, mkt.rfm, mkt.user_features, mkt.split, mkt.demo_data.

use crate::pg::error::{invalid, required};
use crate::pg::source;
use crate::prep::customer_tables::{self, RfmArgs, UserFeatureArgs};
use crate::prep::{catalog, clean, profile, split, transforms};
use mkt_prep::split::SplitSpec;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::JsonB;

#[pg_extern(stable, parallel_safe)]
fn profile(
    source: &str,
) -> Result<
    TableIterator<
        'static,
        (
            name!(column_name, String),
            name!(data_type, String),
            name!(rows, i64),
            name!(nulls, i64),
            name!(distinct_values, i64),
            name!(min, Option<String>),
            name!(max, Option<String>),
            name!(mean, Option<f64>),
            name!(stddev, Option<f64>),
            name!(p25, Option<f64>),
            name!(p50, Option<f64>),
            name!(p75, Option<f64>),
            name!(outliers, Option<i64>),
            name!(top_values, Option<JsonB>),
        ),
    >,
    ErrorReport,
> {
    let src = source::resolve(source)?;
    let cols = source::describe(&src)?;
    let rows = profile::profile(&src, &cols)?;
    Ok(TableIterator::new(rows.into_iter().map(|r| {
        (
            r.column_name,
            r.data_type,
            r.rows,
            r.nulls,
            r.distinct_values,
            r.min,
            r.max,
            r.mean,
            r.stddev,
            r.p25,
            r.p50,
            r.p75,
            r.outliers,
            r.top_values.map(JsonB),
        )
    })))
}

#[pg_extern(volatile, parallel_unsafe)]
fn clean(
    source: &str,
    target: &str,
    options: default!(JsonB, "'{}'"),
    replace: default!(bool, false),
) -> Result<TableIterator<'static, (name!(step, String), name!(rows_affected, i64))>, ErrorReport> {
    Ok(TableIterator::new(clean::clean(source, target, &options.0, replace)?))
}

#[pg_extern(volatile, parallel_unsafe)]
fn fit_transform(
    transform_name: Option<&str>,
    source: Option<&str>,
    spec: Option<JsonB>,
    target: default!(Option<&str>, "NULL"),
    replace: default!(Option<bool>, false),
) -> Result<
    TableIterator<
        'static,
        (
            name!(column_name, String),
            name!(transform, String),
            name!(output_columns, Vec<String>),
        ),
    >,
    ErrorReport,
> {
    Ok(TableIterator::new(transforms::fit(
        required(transform_name, "transform_name")?,
        required(source, "source")?,
        &required(spec, "spec")?.0,
        target,
        required(replace, "replace")?,
    )?))
}

#[pg_extern(volatile, parallel_unsafe)]
fn apply_transform(
    transform_name: &str,
    source: &str,
    target: &str,
    replace: default!(bool, false),
) -> Result<i64, ErrorReport> {
    transforms::apply(transform_name, source, target, replace)
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe)]
fn rfm(
    transactions: Option<&str>,
    customer_col: Option<&str>,
    time_col: Option<&str>,
    amount_col: Option<&str>,
    target: Option<&str>,
    as_of: default!(Option<TimestampWithTimeZone>, "now()"),
    quantiles: default!(Option<i32>, 5),
    replace: default!(Option<bool>, false),
) -> Result<i64, ErrorReport> {
    customer_tables::rfm(&RfmArgs {
        transactions: required(transactions, "transactions")?,
        customer_col: required(customer_col, "customer_col")?,
        time_col: required(time_col, "time_col")?,
        amount_col: required(amount_col, "amount_col")?,
        target: required(target, "target")?,
        as_of: as_of.map(|t| t.to_string()),
        quantiles: required(quantiles, "quantiles")?,
        replace: required(replace, "replace")?,
    })
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe)]
fn user_features(
    events: Option<&str>,
    target: Option<&str>,
    user_col: default!(Option<&str>, "'user_id'"),
    time_col: default!(Option<&str>, "'ts'"),
    event_type_col: default!(Option<&str>, "'event_type'"),
    item_col: default!(Option<&str>, "'item_id'"),
    value_col: default!(Option<&str>, "NULL"),
    as_of: default!(Option<TimestampWithTimeZone>, "now()"),
    replace: default!(Option<bool>, false),
) -> Result<i64, ErrorReport> {
    customer_tables::user_features(&UserFeatureArgs {
        events: required(events, "events")?,
        target: required(target, "target")?,
        user_col: required(user_col, "user_col")?,
        time_col: required(time_col, "time_col")?,
        event_type_col,
        item_col,
        value_col,
        as_of: as_of.map(|t| t.to_string()),
        replace: required(replace, "replace")?,
    })
}

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
    let spec = SplitSpec {
        method: required(method, "method")?,
        test_fraction: required(test_fraction, "test_fraction")?,
        user_col: required(user_col, "user_col")?,
        time_col,
        seed: required(seed, "seed")?,
    };
    Ok(TableIterator::new(split::split(
        required(source, "source")?,
        required(train_table, "train_table")?,
        required(test_table, "test_table")?,
        &spec,
    )?))
}

#[pg_extern(volatile, parallel_unsafe)]
fn demo_data(
    scale: default!(i32, 1),
) -> Result<TableIterator<'static, (name!(table_name, String), name!(rows, i64))>, ErrorReport> {
    if !(1..=100).contains(&scale) {
        return Err(invalid(format!(
            "scale must be between 1 and 100, got {scale}"
        )));
    }
    let d = mkt_demo::generate(scale as u32);
    pgrx::check_for_interrupts!();
    catalog::write_demo(&d)?;
    Ok(TableIterator::new(vec![
        ("mkt_demo.users".to_string(), d.users.user_id.len() as i64),
        ("mkt_demo.items".to_string(), d.items.item_id.len() as i64),
        ("mkt_demo.events".to_string(), d.events.user_id.len() as i64),
    ]))
}
