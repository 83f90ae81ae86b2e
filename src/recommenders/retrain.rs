//! mkt.retrain: the serving version's definition re-run on current data, judged against the
//! serving version on interactions it never trained on (champion/challenger; the decision is
//! mkt_reco::champion's). Customer value models are retrained by `customers::retrain`,
//! predictors and uplift models by `predictors::retrain`.

use crate::models::access::{self, Privilege};
use crate::models::{cache, catalog as models};
use crate::pg::error::{report, OrSql, SqlResult};
use crate::pg::{pool, progress};
use crate::recommenders::catalog;
use crate::recommenders::train::{parse_config, read_input, train_and_store};
use mkt_core::Error;
use mkt_reco::champion::{fresh_holdout, verdict, DeployRule};
use mkt_reco::evaluate::evaluate;
use mkt_reco::tune::holdout;
use mkt_reco::Algorithm;
use pgrx::prelude::*;
use serde_json::json;
use std::time::Instant;

/// The metric retraining compares on.
const K: usize = 10;

/// (version, metric, previous metric, deployed).
pub fn retrain(model_name: &str, deploy: &str) -> SqlResult<(i32, f64, Option<f64>, bool)> {
    let rule = DeployRule::parse(deploy).sql()?;
    // The definition of the serving version (or of the newest, when none serves).
    let id = access::deployed_or_newest_id(model_name)?;
    access::require(model_name, Privilege::Manage)?;
    let def = catalog::definition(id)?;
    // One mkt.retrain for every model of the catalog: customer value models retrain their way.
    if mkt_clv::purchases::Kind::parse(&def.algorithm).is_ok() {
        return crate::customers::retrain::retrain(model_name, rule, id);
    }
    if crate::predictors::retrain::owns(&def.algorithm) {
        return crate::predictors::retrain::retrain(model_name, rule, id);
    }
    if def.source == "import" {
        return Err(report(Error::NotSupported(format!(
            "model '{model_name}' was imported; it has no source to retrain from"
        ))));
    }
    let alg = Algorithm::parse(&def.algorithm).sql()?;
    let (config, _) = parse_config(alg, &def.params)?;
    let input = read_input(
        &def.source,
        &def.user_col,
        &def.item_col,
        def.weight_col.as_deref(),
        &config,
    )?;
    // Judged on interactions the serving champion never trained on; with no champion, on a
    // holdout of all the data; with nothing new since the champion, not at all.
    let champion = cache::get(model_name).ok().map(|(_, m)| m);
    let seed = def.next_version as u64;
    let fresh = champion
        .as_deref()
        .and_then(|c| fresh_holdout(&input.data, c, seed));
    let judged = fresh.is_some();
    let h = match fresh {
        Some(h) => h,
        None => holdout(&input.data, 1.0, seed).sql()?,
    };
    let pool = pool::pool()?;
    let challenger = config
        .fit_with(&h.train, &input.side(), &pool, &mut progress::progress(), &mut |_| {})
        .sql()?;
    let ndcg = |e: mkt_reco::evaluate::Evaluation| e.metrics.ndcg;
    let metric = ndcg(evaluate(&challenger, &h.users, &h.items, K, &pool).sql()?);
    drop(challenger);
    let previous = match (&champion, judged) {
        (Some(c), true) => Some(ndcg(evaluate(c, &h.users, &h.items, K, &pool).sql()?)),
        _ => None,
    };
    let v = verdict(rule, K, metric, previous, champion.is_some(), h.users.len());
    let (model_id, version, _) = train_and_store(
        model_name,
        &def.source,
        alg,
        &config,
        &def.params,
        v.deploy,
        &v.reason,
        &input,
        Instant::now(),
    )?;
    models::record_metrics(
        model_id,
        json!({format!("retrain_ndcg@{K}"): metric, format!("previous_ndcg@{K}"): previous}),
    )?;
    notice!(
        "pg_marketing: {}; version {version} {}",
        v.reason,
        if v.deploy { "deployed" } else { "not deployed" }
    );
    Ok((version, metric, previous, v.deploy))
}
