//! mkt.rfm_summary: a transactions source summarised per customer, with a hold-out when a
//! calibration end is given.

use crate::customers::transactions::{self, At, Columns};
use crate::pg::error::{invalid, OrSql, SqlResult};
use mkt_clv::period::Period;
use pgrx::datum::TimestampWithTimeZone;

/// (customer, frequency, recency, T, monetary value, hold-out frequency, hold-out monetary value).
pub type Row = (String, f64, f64, f64, Option<f64>, Option<f64>, Option<f64>);

pub fn summary(
    source: &str,
    cols: &Columns,
    period: &str,
    calibration_end: Option<TimestampWithTimeZone>,
    holdout_end: Option<TimestampWithTimeZone>,
) -> SqlResult<Vec<Row>> {
    let period = Period::parse(period).sql()?;
    if holdout_end.is_some() && calibration_end.is_none() {
        return Err(invalid("holdout_end needs calibration_end"));
    }
    let read = transactions::read(source, cols)?;
    let w = transactions::window(
        calibration_end.map(|t| At(t.into(), "timestamptz")),
        true,
        holdout_end.map(|t| At(t.into(), "timestamptz")),
    )?;
    let s = transactions::summarise(&read.tx, period, w)?;
    let holdout = !s.holdout_frequency.is_empty();
    Ok((0..s.len())
        .map(|i| {
            (
                s.customers.text_id(i as u32),
                s.frequency[i],
                s.recency[i],
                s.t[i],
                s.monetary.get(i).copied(),
                holdout.then(|| s.holdout_frequency[i]),
                s.holdout_monetary.get(i).copied(),
            )
        })
        .collect())
}
