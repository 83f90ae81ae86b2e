//! mkt.train_clv: reading the transactions (or a summary), fitting, storing the version in the
//! model catalog and deploying it if asked. mkt.retrain re-runs it from the stored definition.

use crate::customers::catalog::TIME_COL_KEY;
use crate::customers::transactions::{self, At, Columns, SummaryColumns};
use crate::models::catalog::NewVersion;
use crate::models::{access, lifecycle};
use crate::pg::error::{require_primary, required, OrSql, SqlResult};
use crate::pg::{pool, progress};
use mkt_clv::options::{Input, TrainOptions};
use mkt_clv::summary::Summary;
use mkt_clv::train::Trained;
use serde_json::{json, Value};
use std::time::Instant;

/// mkt.train_clv's row.
pub struct Outcome {
    pub version: i32,
    pub model: &'static str,
    pub customers: i64,
    pub repeaters: i64,
    pub log_likelihood: f64,
    pub parameters: Value,
    pub train_seconds: f64,
    pub model_id: i64,
    pub deployed: bool,
}

/// What the source was read into, with the names of the columns as the source spells them.
pub struct Read {
    pub summary: Summary,
    pub customer_col: String,
    pub time_col: Option<String>,
    pub amount_col: Option<String>,
    pub transactions: i64,
}

/// Reads the source; `time_col` is needed for transactions only.
pub fn read(source: &str, customer_col: &str, time_col: Option<&str>, amount_col: Option<&str>, o: &TrainOptions) -> SqlResult<Read> {
    require_primary("training")?;
    match &o.input {
        Input::Transactions => {
            let time = required(time_col, "time_col")?;
            let read = transactions::read(source, &Columns { customer: customer_col, time, amount: amount_col })?;
            let w = transactions::window(
                o.calibration_end.as_deref().map(|t| At(t.into(), "text")),
                o.holdout,
                o.holdout_end.as_deref().map(|t| At(t.into(), "text")),
            )?;
            let summary = transactions::summarise(&read.tx, o.period, w)?;
            Ok(Read {
                summary,
                customer_col: read.customer_col,
                time_col: Some(read.time_col),
                amount_col: read.amount_col,
                transactions: read.tx.len() as i64,
            })
        }
        Input::Summary { frequency, recency, t } => {
            let cols = SummaryColumns { customer: customer_col, frequency, recency, t, monetary: amount_col };
            let (summary, customer_col) = transactions::read_summary(source, o.period, &cols)?;
            let n = summary.len() as i64;
            Ok(Read { summary, customer_col, time_col: None, amount_col: amount_col.map(str::to_string), transactions: n })
        }
    }
}

pub fn train(
    model_name: &str,
    source: &str,
    customer_col: &str,
    time_col: Option<&str>,
    amount_col: Option<&str>,
    params: &Value,
) -> SqlResult<Outcome> {
    let started = Instant::now();
    access::check_can_train(model_name)?;
    let o = TrainOptions::parse(params, amount_col.is_some()).sql()?;
    let input = read(source, customer_col, time_col, amount_col, &o)?;
    let deploy = o.deploy;
    train_and_store(model_name, source, params, &o, &input, |_| (deploy, "trained".into()), started)
}

/// Fits `input` and stores the version; `decide` says from the fit whether to deploy it, and why.
pub fn train_and_store(
    model_name: &str,
    source: &str,
    params: &Value,
    o: &TrainOptions,
    input: &Read,
    decide: impl FnOnce(&Trained) -> (bool, String),
    started: Instant,
) -> SqlResult<Outcome> {
    let pool = pool::pool()?;
    let trained: Trained = mkt_clv::train::train(&input.summary, o, &mut progress::progress(), &pool).sql()?;
    let (deploy, reason) = decide(&trained);
    let blob = mkt_clv::model::encode(&trained.model).sql()?;
    let mut stored_params = params.as_object().cloned().unwrap_or_default();
    if let Some(t) = &input.time_col {
        stored_params.insert(TIME_COL_KEY.into(), json!(t));
    }
    let stored_params = Value::Object(stored_params);
    let repeaters = input.summary.repeaters() as i64;
    let seconds = started.elapsed().as_secs_f64();
    let (model_id, version) = lifecycle::store(&NewVersion {
        model_name,
        algorithm: o.model.name(),
        params: &stored_params,
        source,
        user_col: &input.customer_col,
        item_col: None,
        weight_col: input.amount_col.as_deref(),
        user_id_type: input.summary.customers.kind().sql_type(),
        item_id_type: None,
        n_users: input.summary.len() as i64,
        n_items: 0,
        n_interactions: input.transactions,
        train_seconds: seconds,
        blob: &blob,
    })?;
    crate::models::catalog::record_metrics(
        model_id,
        json!({
            "log_likelihood": trained.log_likelihood,
            "customers": input.summary.len(),
            "repeaters": repeaters,
            "parameters": trained.parameters,
        }),
    )?;
    if deploy {
        lifecycle::deploy(model_name, model_id, &reason)?;
    }
    Ok(Outcome {
        version,
        model: o.model.name(),
        customers: input.summary.len() as i64,
        repeaters,
        log_likelihood: trained.log_likelihood,
        parameters: trained.parameters,
        train_seconds: seconds,
        model_id,
        deployed: deploy,
    })
}
