//! Off-policy evaluation: mkt.estimate_policy_value (any policy whose probability of each logged
//! action is known) and mkt.evaluate_policy (a pg_marketing policy against a decision log).

use crate::error::{invalid, OrSql, required, SqlResult};
use crate::policies;
use crate::source::{self, Want};
use mkt_core::rng::Rng;
use mkt_metrics::offpolicy::{self, Logged, RewardModel};
use mkt_policy::config::Algorithm;
use mkt_policy::decide::{self, Knowledge};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use std::collections::HashMap;

fn check_bootstrap(n: i32) -> SqlResult<usize> {
    if !(0..=10_000).contains(&n) {
        return Err(invalid(format!(
            "bootstrap must be between 0 and 10000 resamples, got {n}"
        )));
    }
    Ok(n as usize)
}

/// Small integer codes for distinct keys, in order of first appearance.
#[derive(Default)]
struct Codes(HashMap<String, u32>);

impl Codes {
    fn code(&mut self, key: String) -> u32 {
        let n = self.0.len() as u32;
        *self.0.entry(key).or_insert(n)
    }
}

fn skipped_notice(skipped: usize) {
    if skipped > 0 {
        notice!("skipped {skipped} log rows with a NULL reward, propensity, probability or action");
    }
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
    let reward_col = required(reward_col, "reward_col")?;
    let propensity_col = required(propensity_col, "propensity_col")?;
    let target_probability_col = required(target_probability_col, "target_probability_col")?;
    let estimators = required(estimators, "estimators")?;
    let bootstrap = required(bootstrap, "bootstrap")?;
    let seed = required(seed, "seed")?;
    let resamples = check_bootstrap(bootstrap)?;
    let names = super::no_nulls(Some(estimators), "estimators")?;
    let estimators = offpolicy::check_estimators(&names).sql()?;
    let src = source::resolve(log_source)?;
    let cols = source::describe(&src)?;
    let mut read: Vec<(&str, Want)> = Vec::new();
    for (name, role) in [
        (reward_col, "reward"),
        (propensity_col, "propensity"),
        (target_probability_col, "target probability"),
    ] {
        let c = source::find(&cols, name, role)?;
        source::check_number(c, role)?;
        read.push((c.name.as_str(), Want::Float));
    }
    let context_cols = super::no_nulls(context_cols, "context_cols")?;
    for c in &context_cols {
        let c = source::find(&cols, c, "context")?;
        read.push((c.name.as_str(), Want::Text));
    }
    let data = source::read_columns(&src, &read)?;
    let (r, p, t) = (data[0].floats(), data[1].floats(), data[2].floats());
    let mut codes = Codes::default();
    let (mut keys, mut rewards, mut rows) = (Vec::new(), Vec::new(), Vec::new());
    let mut skipped = 0;
    for i in 0..r.len() {
        let (Some(r), Some(p), Some(t)) = (r[i], p[i], t[i]) else {
            skipped += 1;
            continue;
        };
        let key: Vec<String> = data[3..]
            .iter()
            .map(|c| c.texts()[i].clone().unwrap_or_default())
            .collect();
        keys.push(codes.code(key.join("\u{1f}")));
        rewards.push(r);
        rows.push((r, p, t));
    }
    skipped_notice(skipped);
    // Without the target's full distribution the DR baseline is a model of the context alone.
    let model = RewardModel::fit(&keys, &vec![0; keys.len()], &rewards);
    let logged: Vec<Logged> = rows
        .iter()
        .zip(&keys)
        .map(|(&(reward, propensity, target), &k)| {
            let q = model.predict_context(k);
            Logged {
                reward,
                propensity,
                target,
                model_logged: q,
                model_target: q,
            }
        })
        .collect();
    let est = offpolicy::estimate(&logged, &estimators, resamples, seed as u64).sql()?;
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
    let resamples = check_bootstrap(bootstrap)?;
    let p = policies::load(policy_name)?;
    let src = source::resolve(log_source)?;
    let cols = source::describe(&src)?;
    let ctx = source::find(&cols, context_col, "context")?;
    let act = source::find(&cols, action_col, "action")?;
    let rew = source::find(&cols, reward_col, "reward")?;
    let prop = source::find(&cols, propensity_col, "propensity")?;
    source::check_number(rew, "reward")?;
    source::check_number(prop, "propensity")?;
    let data = source::read_columns(
        &src,
        &[
            (ctx.name.as_str(), Want::Json),
            (act.name.as_str(), Want::Text),
            (rew.name.as_str(), Want::Float),
            (prop.name.as_str(), Want::Float),
        ],
    )?;
    let (contexts, actions, rewards, props) = (
        data[0].jsons(),
        data[1].texts(),
        data[2].floats(),
        data[3].floats(),
    );

    // The target's distribution per distinct state (or feature vector for LinUCB).
    let m = p.cfg.actions.len();
    let all = vec![true; m];
    let linear = match p.cfg.algorithm {
        Algorithm::LinUcb => Some(policies::linear_arms(&p)?),
        _ => None,
    };
    let mut rng = Rng::stream(seed as u64, p.id as u64);
    let mut dists: HashMap<String, Vec<f64>> = HashMap::new();
    let mut codes = Codes::default();
    let mut rows = Vec::new();
    let (mut keys, mut acts, mut rs) = (Vec::new(), Vec::new(), Vec::new());
    let mut skipped = 0;
    for i in 0..rewards.len() {
        let (Some(r), Some(pr), Some(a)) = (rewards[i], props[i], actions[i].as_deref()) else {
            skipped += 1;
            continue;
        };
        let context = p.context(&contexts[i].clone().unwrap_or(serde_json::Value::Null))?;
        // LinUCB distributions depend on the feature vector, table policies' on the state.
        let features = match &p.cfg.linear {
            Some(l) if linear.is_some() => Some(l.features(&context).sql()?),
            _ => None,
        };
        let key = match &features {
            Some(x) => format!("{x:?}"),
            None => p.cfg.state.key(&context).sql()?,
        };
        if !dists.contains_key(&key) {
            let d = match (&linear, &features) {
                (Some(arms), Some(x)) => {
                    decide::probabilities(&p.cfg, &Knowledge::Linear(arms, x), &all, &mut rng)
                }
                _ => {
                    let arms = policies::arms(&p, &key)?;
                    decide::probabilities(&p.cfg, &Knowledge::Table(&arms), &all, &mut rng)
                }
            };
            dists.insert(key.clone(), d);
        }
        // An action the policy does not have: the target never takes it (code m).
        let ai = p.cfg.action_index(a).unwrap_or(m);
        keys.push(codes.code(key.clone()));
        acts.push(ai as u32);
        rs.push(r);
        rows.push((key, r, pr, ai));
        if i % 10_000 == 0 {
            pgrx::check_for_interrupts!();
        }
    }
    skipped_notice(skipped);
    if rows.is_empty() {
        return Err(crate::error::report(mkt_core::Error::EmptyData(
            "the decision log has no rows to evaluate".into(),
        )));
    }
    let model = RewardModel::fit(&keys, &acts, &rs);
    let logged: Vec<Logged> = rows
        .iter()
        .zip(&keys)
        .map(|((key, r, pr, ai), &k)| {
            let d = &dists[key];
            Logged {
                reward: *r,
                propensity: *pr,
                target: d.get(*ai).copied().unwrap_or(0.0),
                model_logged: model.predict(k, *ai as u32),
                model_target: (0..m).map(|b| d[b] * model.predict(k, b as u32)).sum(),
            }
        })
        .collect();
    let logging_value = rs.iter().sum::<f64>() / rs.len() as f64;
    let est = offpolicy::estimate(&logged, &offpolicy::ESTIMATORS, resamples, seed as u64).sql()?;
    Ok(TableIterator::new(est.into_iter().map(move |e| {
        let lift =
            (logging_value != 0.0 && e.value.is_finite()).then(|| e.value / logging_value - 1.0);
        (
            e.estimator.to_string(),
            e.value,
            e.ci_low.is_finite().then_some(e.ci_low),
            e.ci_high.is_finite().then_some(e.ci_high),
            logging_value,
            lift,
        )
    })))
}
