//! mkt.evaluate_clv: the deployed model's predictions for the hold-out after its calibration end,
//! against what the customers did there; the metrics are stored with the version.

use crate::customers::catalog::{self, Definition};
use crate::customers::transactions::{self, At, Columns};
use crate::models::{cache, catalog as models};
use crate::pg::error::{report, OrSql, SqlResult};
use mkt_clv::evaluate::holdout_metrics;
use mkt_clv::options::{Input, TrainOptions};
use mkt_core::names::quote_shown;
use mkt_core::Error;
use serde_json::{Map, Value};

pub fn evaluate(name: &str, source: Option<&str>) -> SqlResult<Vec<(String, f64)>> {
    let (model_id, model) = cache::customer_value(name)?;
    let Definition { source: trained_on, customer_col, time_col, amount_col, params } = catalog::definition(model_id)?;
    let o = TrainOptions::parse(&params, amount_col.is_some()).sql()?;
    let (Input::Transactions, Some(time_col)) = (&o.input, time_col) else {
        return Err(report(Error::NotSupported(format!(
            "model {} was fitted on a summary; a hold-out needs transactions",
            quote_shown(name)
        ))));
    };
    let Some(cal) = o.calibration_end.as_deref() else {
        return Err(report(Error::InvalidState(format!(
            "model {} was fitted on all its transactions; train it with calibration_end to keep a hold-out",
            quote_shown(name)
        ))));
    };
    let source = source.unwrap_or(&trained_on);
    if source == "import" {
        return Err(report(Error::InvalidParameter(format!(
            "model {} was imported; name the transactions to evaluate on",
            quote_shown(name)
        ))));
    }
    let read = transactions::read(
        source,
        &Columns { customer: &customer_col, time: &time_col, amount: amount_col.as_deref() },
    )?;
    let w = transactions::window(
        Some(At(cal.into(), "text")),
        true,
        o.holdout_end.as_deref().map(|t| At(t.into(), "text")),
    )?;
    let summary = transactions::summarise(&read.tx, model.period, w)?;
    let metrics = holdout_metrics(&model, &summary).sql()?;
    let stored: Map<String, Value> = metrics
        .iter()
        .map(|(k, v)| (format!("holdout_{k}"), Value::from(*v)))
        .collect();
    models::record_metrics(model_id, Value::Object(stored))?;
    Ok(metrics)
}
