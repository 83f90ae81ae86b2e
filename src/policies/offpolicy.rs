//! Off-policy evaluation: the value of any policy whose probability of each logged action is
//! known (mkt.estimate_policy_value), and of a pg_marketing policy on a decision log
//! (mkt.evaluate_policy). The estimators are mkt-metrics'.

use crate::pg::args::no_nulls;
use crate::pg::error::{report, OrSql, SqlResult};
use crate::pg::source::{self, Want};
use crate::policies::cache;
use crate::policies::catalog::state;
use mkt_core::rng::Rng;
use mkt_core::Error;
use mkt_metrics::offpolicy::{self, Estimate};
use mkt_metrics::offpolicy_log::{self as log, Judged, KeyCodes};
use mkt_policy::config::Algorithm;
use mkt_policy::decide::{self, Knowledge};
use std::collections::HashMap;

fn skipped_notice(skipped: usize) {
    if skipped > 0 {
        pgrx::notice!("skipped {skipped} log rows with a NULL reward, propensity, probability or action");
    }
}

/// The columns of a log mkt.estimate_policy_value reads.
pub struct ValueColumns<'a> {
    pub reward: &'a str,
    pub propensity: &'a str,
    pub target_probability: &'a str,
    pub context: Option<Vec<Option<String>>>,
}

pub fn estimate_value(
    log_source: &str,
    c: ValueColumns,
    estimators: Vec<Option<String>>,
    bootstrap: i32,
    seed: i32,
) -> SqlResult<Vec<Estimate>> {
    let resamples = log::check_resamples(bootstrap).sql()?;
    let names = no_nulls(Some(estimators), "estimators")?;
    let estimators = offpolicy::check_estimators(&names).sql()?;
    let src = source::resolve(log_source)?;
    let cols = source::describe(&src)?;
    let mut read: Vec<(&str, Want)> = Vec::new();
    for (name, role) in [
        (c.reward, "reward"),
        (c.propensity, "propensity"),
        (c.target_probability, "target probability"),
    ] {
        let col = source::find(&cols, name, role)?;
        source::check_number(col, role)?;
        read.push((col.name.as_str(), Want::Float));
    }
    let context = no_nulls(c.context, "context_cols")?;
    for name in &context {
        let col = source::find(&cols, name, "context")?;
        read.push((col.name.as_str(), Want::Text));
    }
    let data = source::read_columns(&src, &read)?;
    let (r, p, t) = (data[0].floats()?, data[1].floats()?, data[2].floats()?);
    let context: Vec<&[Option<String>]> = data[3..].iter().map(|c| c.texts()).collect::<SqlResult<_>>()?;
    let mut codes = KeyCodes::default();
    let (mut keys, mut rows) = (Vec::new(), Vec::new());
    let mut skipped = 0;
    for i in 0..r.len() {
        let (Some(r), Some(p), Some(t)) = (r[i], p[i], t[i]) else {
            skipped += 1;
            continue;
        };
        let key: Vec<String> = context.iter().map(|c| c[i].clone().unwrap_or_default()).collect();
        keys.push(codes.code(key.join("\u{1f}")));
        rows.push((r, p, t));
    }
    skipped_notice(skipped);
    let logged = log::with_context_baseline(&rows, &keys);
    offpolicy::estimate(&logged, &estimators, resamples, seed as u64).sql()
}

/// The columns of a decision log mkt.evaluate_policy reads.
pub struct LogColumns<'a> {
    pub context: &'a str,
    pub action: &'a str,
    pub reward: &'a str,
    pub propensity: &'a str,
}

/// Every estimator's estimate of what the policy would earn, and the logging policy's mean reward.
pub fn evaluate_policy(
    policy_name: &str,
    log_source: &str,
    c: &LogColumns,
    bootstrap: i32,
    seed: i32,
) -> SqlResult<(Vec<Estimate>, f64)> {
    let resamples = log::check_resamples(bootstrap).sql()?;
    let p = cache::load(policy_name)?;
    let src = source::resolve(log_source)?;
    let cols = source::describe(&src)?;
    let ctx = source::find(&cols, c.context, "context")?;
    let act = source::find(&cols, c.action, "action")?;
    let rew = source::find(&cols, c.reward, "reward")?;
    let prop = source::find(&cols, c.propensity, "propensity")?;
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
        data[0].jsons()?,
        data[1].texts()?,
        data[2].floats()?,
        data[3].floats()?,
    );
    // The target's distribution per distinct state (or feature vector for LinUCB).
    let m = p.cfg.actions.len();
    let all = vec![true; m];
    let linear = match p.cfg.algorithm {
        Algorithm::LinUcb => Some(state::linear_arms(&p)?),
        _ => None,
    };
    let mut rng = Rng::stream(seed as u64, p.id as u64);
    let mut dists: HashMap<u32, Vec<f64>> = HashMap::new();
    let mut codes = KeyCodes::default();
    let mut rows = Vec::new();
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
        let code = codes.code(key.clone());
        if !dists.contains_key(&code) {
            let d = match (&linear, &features) {
                (Some(arms), Some(x)) => {
                    decide::probabilities(&p.cfg, &Knowledge::Linear(arms, x), &all, &mut rng)
                }
                _ => {
                    let arms = state::arms(&p, &key)?;
                    decide::probabilities(&p.cfg, &Knowledge::Table(&arms), &all, &mut rng)
                }
            };
            dists.insert(code, d);
        }
        rows.push(Judged {
            key: code,
            reward: r,
            propensity: pr,
            // An action the policy does not have: the target never takes it (code m).
            action: p.cfg.action_index(a).unwrap_or(m),
        });
        if i % 10_000 == 0 {
            pgrx::check_for_interrupts!();
        }
    }
    skipped_notice(skipped);
    if rows.is_empty() {
        return Err(report(Error::EmptyData(
            "the decision log has no rows to evaluate".into(),
        )));
    }
    let logged = log::with_target(&rows, &dists, m);
    let est = offpolicy::estimate(&logged, &offpolicy::ESTIMATORS, resamples, seed as u64).sql()?;
    Ok((est, log::logging_value(&rows)))
}
