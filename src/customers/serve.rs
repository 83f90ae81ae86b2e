//! Serving a deployed customer value model: every customer's (or the named ones') P(alive),
//! expected purchases, expected spend and CLV, and the single-customer lookups campaign conditions
//! call. Read-only: works on a hot standby.

use crate::models::cache;
use crate::pg::error::{invalid, report, SqlResult};
use crate::pg::pool;
use mkt_clv::model::{ClvModel, Value};
use mkt_core::names::quote_shown;
use mkt_core::Error;

pub type Row = (String, Option<f64>, Option<f64>, Option<f64>, Option<f64>);

fn check_horizon(horizon: f64) -> SqlResult<()> {
    if !(horizon.is_finite() && (0.0..=1e6).contains(&horizon)) {
        return Err(invalid(format!("horizon must be between 0 and 1e6 periods, got {horizon}")));
    }
    Ok(())
}

fn check_discount(rate: f64) -> SqlResult<()> {
    if !(rate.is_finite() && (0.0..1.0).contains(&rate)) {
        return Err(invalid(format!(
            "discount_rate is per period and must be >= 0 and < 1, got {rate}"
        )));
    }
    Ok(())
}

fn row(m: &ClvModel, i: usize, horizon: f64, discount: f64) -> Row {
    let Value { p_alive, expected_purchases, expected_avg_spend, clv } = m.value(i, horizon, discount);
    (m.customers.text_id(i as u32), Some(p_alive), Some(expected_purchases), expected_avg_spend, clv)
}

pub fn customer_value(name: &str, horizon: f64, discount: f64, customers: Option<Vec<String>>) -> SqlResult<Vec<Row>> {
    check_horizon(horizon)?;
    check_discount(discount)?;
    let (_, m) = cache::customer_value(name)?;
    if let Some(ids) = customers {
        return Ok(ids
            .into_iter()
            .map(|id| match m.customers.index_of_text(&id) {
                Some(i) => row(&m, i as usize, horizon, discount),
                None => (id, None, None, None, None),
            })
            .collect());
    }
    // Each distinct history is computed once (see mkt_clv::history), in parallel.
    let values = m.values(horizon, discount, &pool::pool()?);
    pgrx::check_for_interrupts!();
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (m.customers.text_id(i as u32), Some(v.p_alive), Some(v.expected_purchases), v.expected_avg_spend, v.clv))
        .collect())
}

/// The customer's P(alive); None for a customer the model does not know.
pub fn p_alive(name: &str, customer: &str) -> SqlResult<Option<f64>> {
    let (_, m) = cache::customer_value(name)?;
    Ok(m.customers.index_of_text(customer).map(|i| m.p_alive(i as usize)))
}

pub fn customer_clv(name: &str, customer: &str, horizon: f64) -> SqlResult<Option<f64>> {
    check_horizon(horizon)?;
    let (_, m) = cache::customer_value(name)?;
    if m.spend.is_none() {
        return Err(report(Error::NotSupported(format!(
            "model {} has no spend model, so no CLV: train it with amount_col",
            quote_shown(name)
        ))));
    }
    Ok(m.customers.index_of_text(customer).and_then(|i| m.clv(i as usize, horizon, 0.0)))
}

/// The deployed model's tracking plot and frequency histogram.
pub fn report_svg(name: &str) -> SqlResult<String> {
    let (_, m) = cache::customer_value(name)?;
    Ok(mkt_clv::report::svg(name, &m))
}
