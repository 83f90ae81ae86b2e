//! mkt.tune_recommender

use super::train::{parse_config, read_input, train_and_store};
use crate::catalog;
use crate::error::{OrSql, required, SqlResult};
use crate::parallel;
use mkt_reco::tune::{holdout, trial, Search};
use mkt_reco::Algorithm;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use std::time::Instant;

#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::type_complexity)]
fn tune_recommender(
    model_name: Option<&str>,
    source: Option<&str>,
    user_col: default!(Option<&str>, "'user_id'"),
    item_col: default!(Option<&str>, "'item_id'"),
    weight_col: default!(Option<&str>, "NULL"),
    algorithm: default!(Option<&str>, "'als'"),
    search: default!(Option<pgrx::JsonB>, "'{}'"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(trial, i32),
            name!(params, pgrx::JsonB),
            name!(metric, f64),
            name!(seconds, f64),
            name!(best, bool),
        ),
    >,
    ErrorReport,
> {
    let model_name = required(model_name, "model_name")?;
    let source = required(source, "source")?;
    let user_col = required(user_col, "user_col")?;
    let item_col = required(item_col, "item_col")?;
    let algorithm = required(algorithm, "algorithm")?;
    let search = required(search, "search")?;
    catalog::check_can_train(model_name)?;
    let alg = Algorithm::parse(algorithm).sql()?;
    let spec = Search::parse(&search.0).sql()?;
    let candidates = spec.candidates(alg).sql()?;
    // Every candidate shares the base params, feature tables included.
    let (first, _) = parse_config(alg, &candidates[0])?;
    for c in &candidates[1..] {
        if parse_config(alg, c)?.0.time_col() != first.time_col() {
            return Err(crate::error::invalid(
                "time_col must be the same in every candidate; put it in \"base\"",
            ));
        }
    }
    let input = read_input(source, user_col, item_col, weight_col, &first)?;
    let h = holdout(&input.data, spec.validation, spec.seed).sql()?;
    let pool = parallel::pool()?;
    let mut rows: Vec<(i32, serde_json::Value, f64, f64)> = Vec::new();
    for (t, params) in candidates.iter().enumerate() {
        let started = Instant::now();
        let m = trial(alg, params, &h, &input.side(), &spec, &pool, &mut parallel::progress())
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
        rows.push((t as i32 + 1, params.clone(), m, secs));
    }
    let best = rows
        .iter()
        .max_by(|a, b| a.2.total_cmp(&b.2).then(b.0.cmp(&a.0)))
        .map(|r| r.0)
        .expect("at least one trial");
    let best_params = &rows[best as usize - 1].1;
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
    store_trials(model_id, &spec, &rows)?;
    notice!("pg_marketing: trained version {version} of '{model_name}' with trial {best}'s params");
    Ok(TableIterator::new(rows.into_iter().map(move |(t, p, m, s)| {
        (t, pgrx::JsonB(p), m, s, t == best)
    })))
}

fn store_trials(model_id: i64, spec: &Search, rows: &[(i32, serde_json::Value, f64, f64)]) -> SqlResult<()> {
    let metric = format!("{}@{}", spec.metric, spec.k);
    Spi::connect_mut(|c| {
        for (t, p, m, s) in rows {
            c.update(
                "INSERT INTO mkt.tuning_trials (model_id, trial, params, metric, value, seconds) VALUES ($1, $2, $3, $4, $5, $6)",
                None,
                &[
                    model_id.into(),
                    (*t).into(),
                    pgrx::JsonB(p.clone()).into(),
                    metric.as_str().into(),
                    (*m).into(),
                    (*s).into(),
                ],
            )?;
        }
        Ok::<_, pgrx::spi::Error>(())
    })
    .sql()
}
