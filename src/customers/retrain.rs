//! mkt.retrain of a customer value model: its stored definition re-run on current data. The
//! challenger is judged against the serving version by mean log-likelihood per customer on the
//! same current summary (the serving version's parameters scored on it).

use crate::customers::catalog;
use crate::customers::train::{read, train_and_store};
use crate::models::{access, cache};
use crate::pg::error::{report, OrSql, SqlResult};
use mkt_clv::options::TrainOptions;
use mkt_clv::purchases::{self, Rft};
use mkt_core::Error;
use mkt_reco::champion::DeployRule;
use serde_json::json;
use std::time::Instant;

/// (version, metric, previous metric, deployed), mkt.retrain's row.
pub fn retrain(model_name: &str, rule: DeployRule, id: i64) -> SqlResult<(i32, f64, Option<f64>, bool)> {
    let started = Instant::now();
    let def = catalog::definition(id)?;
    if def.source == "import" {
        return Err(report(Error::NotSupported(format!(
            "model '{model_name}' was imported; it has no source to retrain from"
        ))));
    }
    let o = TrainOptions::parse(&def.params, def.amount_col.is_some()).sql()?;
    let input = read(&def.source, &def.customer_col, def.time_col.as_deref(), def.amount_col.as_deref(), &o)?;
    let s = &input.summary;
    let mean_ll = |kind, p: &[f64; 4]| {
        (0..s.len())
            .map(|i| purchases::ll(kind, p, Rft { x: s.frequency[i], t_x: s.recency[i], t: s.t[i] }))
            .sum::<f64>()
            / s.len().max(1) as f64
    };
    let champion = cache::customer_value(model_name).ok().map(|(_, m)| m);
    let previous = champion.as_ref().map(|c| mean_ll(c.kind, &c.params));
    let n = s.len();
    let mut metric = f64::NAN;
    access::require(model_name, access::Privilege::Manage)?;
    let out = train_and_store(
        model_name,
        &def.source,
        &def.params,
        &o,
        &input,
        |t| {
            metric = mean_ll(t.model.kind, &t.model.params);
            let deploy = match rule {
                DeployRule::Always => true,
                DeployRule::Never => false,
                DeployRule::IfBetter => previous.is_none_or(|p| metric > p),
            };
            let reason = match previous {
                Some(p) => format!(
                    "retrain: log-likelihood per customer {metric:.4} vs {p:.4} of the serving version on the same {n} customers"
                ),
                None => format!("retrain: log-likelihood per customer {metric:.4}; nothing was serving"),
            };
            (deploy, reason)
        },
        started,
    )?;
    crate::models::catalog::record_metrics(
        out.model_id,
        json!({"retrain_log_likelihood_per_customer": metric, "previous_log_likelihood_per_customer": previous}),
    )?;
    pgrx::notice!(
        "pg_marketing: retrain of '{model_name}': version {} {}",
        out.version,
        if out.deployed { "deployed" } else { "not deployed" }
    );
    Ok((out.version, metric, previous, out.deployed))
}
