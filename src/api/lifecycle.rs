//! Model lifecycle over time: mkt.retrain (champion/challenger) and mkt.rollback.

use super::train::{parse_config, read_input, train_and_store};
use crate::catalog;
use crate::error::{invalid, OrSql};
use crate::{cache, parallel};
use mkt_core::Error;
use mkt_reco::champion::fresh_holdout;
use mkt_reco::evaluate::evaluate;
use mkt_reco::tune::holdout;
use mkt_reco::Algorithm;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde_json::json;
use std::time::Instant;

/// The metric retraining compares on.
const K: usize = 10;

fn ndcg(e: &mkt_reco::evaluate::Evaluation) -> f64 {
    e.metrics.ndcg
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
    if !matches!(deploy, "always" | "never" | "if_better") {
        return Err(invalid(format!(
            "deploy must be 'always', 'never' or 'if_better', got '{deploy}'"
        )));
    }
    // The definition of the serving version (or of the newest, when none serves).
    let id = catalog::deployed_or_newest_id(model_name)?;
    catalog::require(model_name, catalog::Privilege::Manage)?;
    let def = Spi::connect(|c| {
        let t = c.select(
            "SELECT algorithm, params, source, user_col, item_col, weight_col,
                    (SELECT max(version) + 1 FROM mkt.model_versions WHERE model_name = v.model_name)
             FROM mkt.model_versions v WHERE model_id = $1",
            None,
            &[id.into()],
        )?;
        let r = t.first();
        Ok::<_, pgrx::spi::Error>((
            r.get::<String>(1)?.unwrap_or_default(),
            r.get::<pgrx::JsonB>(2)?.map_or(json!({}), |j| j.0),
            r.get::<String>(3)?.unwrap_or_default(),
            r.get::<String>(4)?.unwrap_or_default(),
            r.get::<String>(5)?.unwrap_or_default(),
            r.get::<String>(6)?,
            r.get::<i32>(7)?.unwrap_or(1),
        ))
    })
    .sql()?;
    let (algorithm, params, source, user_col, item_col, weight_col, next_version) = def;
    if source == "import" {
        return Err(crate::error::report(Error::NotSupported(format!(
            "model '{model_name}' was imported; it has no source to retrain from"
        ))));
    }
    let alg = Algorithm::parse(&algorithm).sql()?;
    let (config, _) = parse_config(alg, &params)?;
    let input = read_input(&source, &user_col, &item_col, weight_col.as_deref(), &config)?;
    // Judged on interactions the serving champion never trained on (mkt_reco::champion); with no
    // champion, on a holdout of all the data; with nothing new since the champion, not at all.
    let champion = cache::get(model_name).ok().map(|(_, m)| m);
    let fresh = champion
        .as_deref()
        .and_then(|c| fresh_holdout(&input.data, c, next_version as u64));
    let judged = fresh.is_some();
    let h = match fresh {
        Some(h) => h,
        None => holdout(&input.data, 1.0, next_version as u64).sql()?,
    };
    let pool = parallel::pool()?;
    let challenger = config
        .fit_with(&h.train, &input.side(), &pool, &mut parallel::progress(), &mut |_| {})
        .sql()?;
    let metric = ndcg(&evaluate(&challenger, &h.users, &h.items, K, &pool).sql()?);
    drop(challenger);
    let previous = match (&champion, judged) {
        (Some(c), true) => Some(ndcg(&evaluate(c, &h.users, &h.items, K, &pool).sql()?)),
        _ => None,
    };
    let go = match deploy {
        "always" => true,
        "never" => false,
        // nothing new to judge by: keep what serves
        _ => champion.is_none() || previous.is_some_and(|p| metric > p),
    };
    let held = h.users.len();
    let reason = match (previous, &champion) {
        (Some(p), _) => format!(
            "retrain: ndcg@{K} {metric:.4} vs {p:.4} of the serving version on {held} interactions it never trained on"
        ),
        (None, Some(_)) => format!(
            "retrain: ndcg@{K} {metric:.4} on a holdout; no interaction is newer than the serving version, so there is nothing to compare"
        ),
        (None, None) => format!("retrain: ndcg@{K} {metric:.4} on a holdout; nothing was serving"),
    };
    let (model_id, version, _) = train_and_store(
        model_name, &source, alg, &config, &params, go, &reason, &input, Instant::now(),
    )?;
    catalog::record_metrics(
        model_id,
        json!({format!("retrain_ndcg@{K}"): metric, format!("previous_ndcg@{K}"): previous}),
    )?;
    notice!("pg_marketing: {reason}; version {version} {}", if go { "deployed" } else { "not deployed" });
    Ok(TableIterator::once((version, metric, previous, go)))
}

#[pg_extern(volatile, parallel_unsafe)]
fn rollback(model_name: &str) -> Result<i32, ErrorReport> {
    let current = catalog::deployed_id(model_name)?;
    let previous = Spi::get_two_with_args::<i64, i32>(
        "SELECT h.model_id, h.version FROM mkt.deploy_history h
         WHERE h.model_name = $1 AND h.model_id IS NOT NULL AND h.model_id <> $2
         ORDER BY h.deploy_id DESC LIMIT 1",
        &[model_name.into(), current.into()],
    );
    let (id, version) = match previous {
        Ok((Some(id), Some(v))) => (id, v),
        Ok(_) | Err(pgrx::spi::Error::InvalidPosition) => {
            return Err(crate::error::report(Error::InvalidState(format!(
                "model '{model_name}' has no earlier deployment to roll back to"
            ))))
        }
        Err(e) => return Err(e).sql(),
    };
    catalog::deploy(model_name, id, "rollback")?;
    Ok(version)
}
