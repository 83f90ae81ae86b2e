//! Decision policies' SQL functions: mkt.create_policy, mkt.drop_policy, mkt.decide, mkt.reward,
//! mkt.fold_rewards, mkt.train_policy, mkt.policy_probabilities, mkt.policy_values,
//! mkt.policy_heatmap_svg, mkt.simulate_campaign (a policy's definition in a simulator),
//! mkt.estimate_policy_value, mkt.evaluate_policy.

use crate::pg::args::{no_nulls, GivenJsonb};
use crate::pg::error::{invalid, required, OrSql};
use crate::pg::{citus, progress};
use crate::policies::offpolicy::{self, LogColumns, ValueColumns};
use crate::policies::{cache, decide, decide_all as bulk, learn, lifecycle, report};
use crate::policies::catalog::state;
use mkt_metrics::offpolicy_log::lift;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::JsonB;

#[pg_extern(volatile, parallel_unsafe)]
fn create_policy(
    policy_name: &str,
    actions: Vec<Option<String>>,
    algorithm: default!(&str, "'q_learning'"),
    params: default!(JsonB, "'{}'"),
) -> Result<(), ErrorReport> {
    let actions = no_nulls(Some(actions), "actions")?;
    lifecycle::create(policy_name, &actions, algorithm, &params.0)
}

#[pg_extern(volatile, parallel_unsafe)]
fn drop_policy(policy_name: &str) -> Result<i64, ErrorReport> {
    lifecycle::drop(policy_name)
}

#[pg_extern(volatile, parallel_unsafe)]
fn decide_all(
    policy_name: Option<&str>,
    source: Option<&str>,
    subject_col: Option<&str>,
    context_cols: default!(Option<Vec<Option<String>>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(decision_id, i64),
            name!(subject, String),
            name!(action, String),
            name!(probability, f64),
        ),
    >,
    ErrorReport,
> {
    let context_cols = match context_cols {
        Some(c) => Some(no_nulls(Some(c), "context_cols")?),
        None => None,
    };
    Ok(TableIterator::new(bulk::decide_all(
        required(policy_name, "policy_name")?,
        required(source, "source")?,
        required(subject_col, "subject_col")?,
        context_cols.as_deref(),
    )?))
}

#[pg_extern(volatile, parallel_unsafe)]
fn decide(
    policy_name: Option<&str>,
    context: default!(Option<JsonB>, "'{}'"),
    subject: default!(Option<&str>, "NULL"),
    excluded: default!(Option<Vec<Option<String>>>, "NULL"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> Result<
    TableIterator<
        'static,
        (
            name!(decision_id, i64),
            name!(action, String),
            name!(probability, f64),
        ),
    >,
    ErrorReport,
> {
    let policy_name = required(policy_name, "policy_name")?;
    let context = required(context, "context")?;
    Ok(TableIterator::once(decide::decide(
        policy_name,
        &context.0,
        GivenJsonb::of(fcinfo, 1),
        subject,
        excluded,
    )?))
}

#[pg_extern(volatile, parallel_unsafe)]
fn reward(
    decision_id: Option<i64>,
    reward: Option<f64>,
    next_context: default!(Option<JsonB>, "NULL"),
    subject: default!(Option<&str>, "NULL"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> Result<(), ErrorReport> {
    learn::reward(
        required(decision_id, "decision_id")?,
        required(reward, "reward")?,
        next_context.map(|j| j.0),
        GivenJsonb::of(fcinfo, 2).param(),
        subject,
    )
}

#[pg_extern(volatile, parallel_unsafe)]
fn fold_rewards(
    policy_name: default!(Option<&str>, "NULL"),
) -> Result<TableIterator<'static, (name!(policy_name, String), name!(rewards, i64))>, ErrorReport>
{
    Ok(TableIterator::new(learn::fold(policy_name)?))
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe)]
fn train_policy(
    policy_name: Option<&str>,
    log_source: Option<&str>,
    context_col: default!(Option<&str>, "'context'"),
    action_col: default!(Option<&str>, "'action'"),
    reward_col: default!(Option<&str>, "'reward'"),
    next_context_col: default!(Option<&str>, "NULL"),
    propensity_col: default!(Option<&str>, "NULL"),
    epochs: default!(Option<i32>, 1),
) -> Result<
    TableIterator<
        'static,
        (
            name!(version, i32),
            name!(rows, i64),
            name!(skipped, i64),
            name!(states, i64),
            name!(mean_reward, f64),
        ),
    >,
    ErrorReport,
> {
    let policy_name = required(policy_name, "policy_name")?;
    let log_source = required(log_source, "log_source")?;
    let cols = learn::LogColumns {
        context: required(context_col, "context_col")?,
        action: required(action_col, "action_col")?,
        reward: required(reward_col, "reward_col")?,
        next_context: next_context_col,
        propensity: propensity_col,
    };
    let epochs = required(epochs, "epochs")?;
    Ok(TableIterator::once(learn::train(policy_name, log_source, &cols, epochs)?))
}

#[pg_extern(stable, parallel_safe)]
fn policy_probabilities(
    policy_name: &str,
    context: default!(JsonB, "'{}'"),
) -> Result<TableIterator<'static, (name!(action, String), name!(probability, f64))>, ErrorReport> {
    Ok(TableIterator::new(decide::probabilities(policy_name, &context.0)?))
}

#[pg_extern(stable, parallel_safe)]
fn policy_values(
    policy_name: &str,
) -> Result<
    TableIterator<
        'static,
        (
            name!(state, String),
            name!(action, String),
            name!(value, f64),
            name!(visits, i64),
        ),
    >,
    ErrorReport,
> {
    citus::catalog_reads(|| {
        Ok(TableIterator::new(state::values(&*cache::load(policy_name)?)?))
    })
}

#[pg_extern(stable, parallel_safe)]
fn policy_heatmap_svg(policy_name: &str) -> Result<String, ErrorReport> {
    report::heatmap(policy_name)
}

#[pg_extern(stable, parallel_safe)]
fn simulate_campaign(
    policy_name: &str,
    scenario: default!(&str, "'demo'"),
    rounds: default!(i32, 10000),
    seed: default!(i32, 42),
) -> Result<
    TableIterator<
        'static,
        (
            name!(round, i64),
            name!(cumulative_reward, f64),
            name!(cumulative_regret, f64),
            name!(random_reward, f64),
            name!(oracle_reward, f64),
        ),
    >,
    ErrorReport,
> {
    let p = cache::load(policy_name)?;
    if rounds <= 0 {
        return Err(invalid(format!("rounds must be positive, got {rounds}")));
    }
    let curve = mkt_policy::simulate::run_with(
        &p.cfg,
        scenario,
        rounds as u64,
        seed as u64,
        &mut progress::progress(),
    )
    .sql()?;
    Ok(TableIterator::new(curve.into_iter().map(|c| {
        (
            c.round as i64,
            c.cumulative_reward,
            c.cumulative_regret,
            c.random_reward,
            c.oracle_reward,
        )
    })))
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(stable, parallel_safe)]
fn estimate_policy_value(
    log_source: Option<&str>,
    reward_col: Option<&str>,
    propensity_col: Option<&str>,
    target_probability_col: Option<&str>,
    context_cols: default!(Option<Vec<Option<String>>>, "NULL"),
    estimators: default!(Option<Vec<Option<String>>>, "ARRAY['ips', 'snips', 'dr']"),
    bootstrap: default!(Option<i32>, 200),
    seed: default!(Option<i32>, 42),
) -> Result<
    TableIterator<
        'static,
        (
            name!(estimator, String),
            name!(value, f64),
            name!(ci_low, Option<f64>),
            name!(ci_high, Option<f64>),
            name!(effective_sample_size, f64),
        ),
    >,
    ErrorReport,
> {
    let log_source = required(log_source, "log_source")?;
    let reward = required(reward_col, "reward_col")?;
    let propensity = required(propensity_col, "propensity_col")?;
    let target_probability = required(target_probability_col, "target_probability_col")?;
    let estimators = required(estimators, "estimators")?;
    let bootstrap = required(bootstrap, "bootstrap")?;
    let seed = required(seed, "seed")?;
    let cols = ValueColumns {
        reward,
        propensity,
        target_probability,
        context: context_cols,
    };
    let est = offpolicy::estimate_value(log_source, cols, estimators, bootstrap, seed)?;
    Ok(TableIterator::new(est.into_iter().map(|e| {
        (
            e.estimator.to_string(),
            e.value,
            e.ci_low.is_finite().then_some(e.ci_low),
            e.ci_high.is_finite().then_some(e.ci_high),
            e.effective_sample_size,
        )
    })))
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(stable, parallel_safe)]
fn evaluate_policy(
    policy_name: &str,
    log_source: &str,
    context_col: default!(&str, "'context'"),
    action_col: default!(&str, "'action'"),
    reward_col: default!(&str, "'reward'"),
    propensity_col: default!(&str, "'probability'"),
    bootstrap: default!(i32, 200),
    seed: default!(i32, 42),
) -> Result<
    TableIterator<
        'static,
        (
            name!(estimator, String),
            name!(value, f64),
            name!(ci_low, Option<f64>),
            name!(ci_high, Option<f64>),
            name!(logging_value, f64),
            name!(lift, Option<f64>),
        ),
    >,
    ErrorReport,
> {
    let cols = LogColumns {
        context: context_col,
        action: action_col,
        reward: reward_col,
        propensity: propensity_col,
    };
    let (est, logging_value) =
        offpolicy::evaluate_policy(policy_name, log_source, &cols, bootstrap, seed)?;
    Ok(TableIterator::new(est.into_iter().map(move |e| {
        (
            e.estimator.to_string(),
            e.value,
            e.ci_low.is_finite().then_some(e.ci_low),
            e.ci_high.is_finite().then_some(e.ci_high),
            logging_value,
            lift(e.value, logging_value),
        )
    })))
}
