//! mkt.tune_recommender: a search over params on a validation split, then a version trained with
//! the best.

use crate::models::access;
use crate::pg::error::{invalid, OrSql, SqlResult};
use crate::pg::{pool, progress};
use crate::recommenders::catalog::{self, Trial};
use crate::recommenders::train::{parse_config, read_input, train_and_store};
use mkt_reco::tune::{best_trial, holdout, trial, Search};
use mkt_reco::Algorithm;
use pgrx::prelude::*;
use std::time::Instant;

/// Every trial, and the number of the best.
pub fn tune(
    model_name: &str,
    source: &str,
    user_col: &str,
    item_col: &str,
    weight_col: Option<&str>,
    algorithm: &str,
    search: &serde_json::Value,
) -> SqlResult<(Vec<Trial>, i32)> {
    access::check_can_train(model_name)?;
    let alg = Algorithm::parse(algorithm).sql()?;
    let spec = Search::parse(search).sql()?;
    let candidates = spec.candidates(alg).sql()?;
    // Every candidate shares the base params, feature tables included.
    let (first, _) = parse_config(alg, &candidates[0])?;
    for c in &candidates[1..] {
        if parse_config(alg, c)?.0.time_col() != first.time_col() {
            return Err(invalid(
                "time_col must be the same in every candidate; put it in \"base\"",
            ));
        }
    }
    let input = read_input(source, user_col, item_col, weight_col, &first)?;
    let h = holdout(&input.data, spec.validation, spec.seed).sql()?;
    let pool = pool::pool()?;
    let mut trials = Vec::new();
    for (t, params) in candidates.iter().enumerate() {
        let started = Instant::now();
        let m = trial(alg, params, &h, &input.side(), &spec, &pool, &mut progress::progress())
            .sql()?;
        let secs = started.elapsed().as_secs_f64();
        notice!(
            "pg_marketing: trial {}/{} {} {}@{} {m:.4} ({secs:.1} s)",
            t + 1,
            candidates.len(),
            params,
            spec.metric,
            spec.k
        );
        trials.push(Trial {
            trial: t as i32 + 1,
            params: params.clone(),
            value: m,
            seconds: secs,
        });
    }
    let scores: Vec<f64> = trials.iter().map(|t| t.value).collect();
    let best = best_trial(&scores).sql()?;
    let best_params = &trials[best].params;
    let (config, deploy) = parse_config(alg, best_params)?;
    let (model_id, version, _) = train_and_store(
        model_name,
        source,
        alg,
        &config,
        best_params,
        deploy,
        "tuned",
        &input,
        Instant::now(),
    )?;
    catalog::store_trials(model_id, &format!("{}@{}", spec.metric, spec.k), &trials)?;
    let best = best as i32 + 1;
    notice!("pg_marketing: trained version {version} of '{model_name}' with trial {best}'s params");
    Ok((trials, best))
}
