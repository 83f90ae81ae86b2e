//! Decision policies: mkt.create_policy, mkt.drop_policy, mkt.decide, mkt.reward,
//! mkt.policy_probabilities, mkt.policy_values, mkt.simulate_campaign.

use crate::error::{invalid, required, OrSql, SqlResult};
use crate::parallel;
use crate::policies::{self, LoggedDecision, Policy};
use mkt_core::rng::Rng;
use mkt_policy::config::Algorithm;
use mkt_policy::decide::{self, Decision, Knowledge};
use mkt_policy::simulate;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{Map, Value};
use std::cell::RefCell;

thread_local! {
    /// Decisions of this backend draw from one generator, seeded per backend.
    static RNG: RefCell<Option<Rng>> = const { RefCell::new(None) };
}

fn with_backend_rng<T>(f: impl FnOnce(&mut Rng) -> T) -> T {
    RNG.with(|r| {
        let mut r = r.borrow_mut();
        let rng = r.get_or_insert_with(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            // SAFETY: a plain global of the backend.
            let pid = unsafe { pgrx::pg_sys::MyProcPid } as u64;
            Rng::stream(nanos, pid)
        });
        f(rng)
    })
}

/// The policy's view of a context: the table rows of its state, or its regressions and the
/// context's features.
fn with_knowledge<T>(
    p: &Policy,
    context: &Value,
    f: impl FnOnce(&Knowledge) -> T,
) -> SqlResult<(String, T)> {
    let context = &p.context(context)?;
    let state = p.cfg.state.key(context).sql()?;
    let out = match (&p.cfg.algorithm, &p.cfg.linear) {
        (Algorithm::LinUcb, Some(l)) => {
            let x = l.features(context).sql()?;
            let arms = policies::linear_arms(p)?;
            f(&Knowledge::Linear(&arms, &x))
        }
        _ => {
            let arms = policies::arms(p, &state)?;
            f(&Knowledge::Table(&arms))
        }
    };
    Ok((state, out))
}

fn distribution_json(p: &Policy, probabilities: &[f64]) -> Value {
    let mut m = Map::new();
    for (a, q) in p.cfg.actions.iter().zip(probabilities) {
        m.insert(a.clone(), serde_json::json!(q));
    }
    Value::Object(m)
}

#[pg_extern(volatile, parallel_unsafe)]
fn create_policy(
    policy_name: &str,
    actions: Vec<Option<String>>,
    algorithm: default!(&str, "'q_learning'"),
    params: default!(JsonB, "'{}'"),
) -> Result<(), ErrorReport> {
    let actions = super::no_nulls(Some(actions), "actions")?;
    policies::create(policy_name, &actions, algorithm, &params.0)
}

#[pg_extern(volatile, parallel_unsafe)]
fn drop_policy(policy_name: &str) -> Result<i64, ErrorReport> {
    policies::drop(policy_name)
}

#[pg_extern(volatile, parallel_unsafe)]
fn decide(
    policy_name: Option<&str>,
    context: default!(Option<JsonB>, "'{}'"),
    subject: default!(Option<&str>, "NULL"),
    excluded: default!(Option<Vec<Option<String>>>, "NULL"),
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
    crate::error::require_primary("mkt.decide")?;
    if subject.is_none() && crate::citus::catalog_distributed()? {
        return Err(crate::error::report(mkt_core::Error::NullValue(
            crate::citus::NULL_SUBJECT.to_string(),
        )));
    }
    let p = policies::load(policy_name)?;
    let excluded = super::no_nulls(excluded, "excluded")?;
    let allowed = p.cfg.allowed(&excluded).sql()?;
    let (state, d): (String, Decision) = with_knowledge(&p, &context.0, |k| {
        with_backend_rng(|rng| decide::decide(&p.cfg, k, &allowed, rng))
    })?;
    let action = p.cfg.actions[d.action].clone();
    let probability = d.probabilities[d.action];
    let id = policies::log_decision(
        &p,
        &LoggedDecision {
            subject,
            context: &context.0,
            state: &state,
            action: &action,
            probability,
            probabilities: distribution_json(&p, &d.probabilities),
        },
    )?;
    Ok(TableIterator::once((id, action, probability)))
}

#[pg_extern(volatile, parallel_unsafe)]
fn reward(
    decision_id: Option<i64>,
    reward: Option<f64>,
    next_context: default!(Option<JsonB>, "NULL"),
    subject: default!(Option<&str>, "NULL"),
) -> Result<(), ErrorReport> {
    let decision_id = required(decision_id, "decision_id")?;
    let reward = required(reward, "reward")?;
    reward_decision(decision_id, reward, next_context.map(|j| j.0), subject)
}

/// mkt.reward, also called by mkt.reward_trigger for each inserted row.
pub(super) fn reward_decision(
    decision_id: i64,
    reward: f64,
    next: Option<Value>,
    subject: Option<&str>,
) -> SqlResult<()> {
    crate::error::require_primary("mkt.reward")?;
    if !reward.is_finite() {
        return Err(invalid(format!(
            "a reward must be a finite number, got {reward}"
        )));
    }
    // On Citus the reward stays with its decision on the subject's worker until mkt.fold_rewards;
    // one for a policy with deferred learning waits in mkt.reward_log.
    let now = !crate::citus::catalog_distributed()?;
    let r = policies::record_reward(decision_id, reward, next.as_ref(), subject, now)?;
    if r.applied {
        apply(&*policies::load_by_id(r.policy_id)?, &r, reward, next.as_ref())?;
    }
    Ok(())
}

/// Learns from one reward of policy `p`: the online update of the decision's (state, action).
fn apply(p: &Policy, r: &policies::Rewarded, reward: f64, next: Option<&Value>) -> SqlResult<()> {
    match (&p.cfg.algorithm, &p.cfg.linear) {
        (Algorithm::LinUcb, Some(l)) => {
            let x = l.features(&p.context(&r.context)?).sql()?;
            policies::update_linear(p, &r.action, |arm| arm.update(&x, reward))
        }
        _ => {
            let next_arms = match (&p.cfg.algorithm, next) {
                (Algorithm::QLearning, Some(n)) => {
                    Some(policies::arms(p, &p.cfg.state.key(&p.context(n)?).sql()?)?)
                }
                _ => None,
            };
            policies::update_arm(p, &r.state, &r.action, |current| {
                mkt_policy::update::update_arm(&p.cfg, Some(current), reward, next_arms.as_deref())
                    .sql()
            })
            .map(|_| ())
        }
    }
}

/// Applies a policy's waiting rewards in order, as `apply` would one by one, but in memory: the
/// state is read once under the policy's exclusive lock and each touched row written once. One
/// by one, every reward would add a version of its (state, action) row that no other statement
/// of the fold's transaction may prune, so the popular rows' chains grow with each reward.
fn fold_policy(p: &Policy, rewards: &[policies::Pending]) -> SqlResult<()> {
    let (table, linear) = policies::lock_and_load_state(p)?;
    let mut learner = mkt_policy::Learner::with_state(p.cfg.clone(), table, linear);
    let mut touched: std::collections::HashSet<(String, usize)> = Default::default();
    for (i, r) in rewards.iter().enumerate() {
        if i % 1000 == 0 {
            pgrx::check_for_interrupts!();
        }
        let Some(action) = p.cfg.action_index(&r.rewarded.action) else {
            continue;
        };
        match p.cfg.algorithm {
            Algorithm::LinUcb => {
                let context = p.context(&r.rewarded.context)?;
                learner.reward(&context, action, r.reward, None).sql()?;
            }
            _ => {
                let next = match (&p.cfg.algorithm, &r.next) {
                    (Algorithm::QLearning, Some(n)) => Some(p.cfg.state.key(&p.context(n)?).sql()?),
                    _ => None,
                };
                learner
                    .reward_in_state(&r.rewarded.state, action, r.reward, next.as_deref(), 1.0)
                    .sql()?;
            }
        }
        touched.insert((r.rewarded.state.clone(), action));
    }
    let m = p.cfg.actions.len();
    let mut rows: std::collections::HashMap<String, Vec<Option<mkt_policy::ArmStats>>> =
        Default::default();
    for (state, action) in &touched {
        if let Some(arm) = learner.table.get(state).and_then(|arms| arms[*action]) {
            rows.entry(state.clone()).or_insert_with(|| vec![None; m])[*action] = Some(arm);
        }
    }
    let linear = Some(learner.linear).filter(|l| !l.is_empty());
    policies::store_rows(p, &(rows, linear))
}

#[pg_extern(volatile, parallel_unsafe)]
fn fold_rewards(
    policy_name: default!(Option<&str>, "NULL"),
) -> Result<TableIterator<'static, (name!(policy_name, String), name!(rewards, i64))>, ErrorReport>
{
    crate::error::require_primary("mkt.fold_rewards")?;
    let only = match policy_name {
        Some(n) => Some(policies::load(n)?.id),
        None => None,
    };
    // Per policy, its rewards in the order they were recorded.
    let mut by_policy: std::collections::BTreeMap<i64, Vec<policies::Pending>> = Default::default();
    for pending in policies::take_pending(only)? {
        by_policy.entry(pending.rewarded.policy_id).or_default().push(pending);
    }
    let mut counts: std::collections::BTreeMap<String, i64> = Default::default();
    for (id, rewards) in by_policy {
        // A dropped policy's decisions go with it; one dropped meanwhile has nothing to learn.
        let Ok(p) = policies::load_by_id(id) else { continue };
        fold_policy(&p, &rewards)?;
        *counts.entry(p.name.clone()).or_default() += rewards.len() as i64;
    }
    Ok(TableIterator::new(counts))
}

#[pg_extern(stable, parallel_safe)]
fn policy_probabilities(
    policy_name: &str,
    context: default!(JsonB, "'{}'"),
) -> Result<TableIterator<'static, (name!(action, String), name!(probability, f64))>, ErrorReport> {
    crate::citus::catalog_reads(|| {
        let p = policies::load(policy_name)?;
        let allowed = vec![true; p.cfg.actions.len()];
        // Seeded by the policy and the state: the same question gets the same answer.
        let (_, probs) = with_knowledge(&p, &context.0, |k| {
            let mut rng = Rng::stream(p.cfg.seed, p.id as u64);
            decide::probabilities(&p.cfg, k, &allowed, &mut rng)
        })?;
        let rows: Vec<(String, f64)> = p.cfg.actions.iter().cloned().zip(probs).collect();
        Ok(TableIterator::new(rows))
    })
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
    crate::citus::catalog_reads(|| {
        let p = policies::load(policy_name)?;
        Ok(TableIterator::new(policies::values(&p)?))
    })
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
    let p = policies::load(policy_name)?;
    if rounds <= 0 {
        return Err(invalid(format!("rounds must be positive, got {rounds}")));
    }
    let curve = simulate::run_with(
        &p.cfg,
        scenario,
        rounds as u64,
        seed as u64,
        &mut parallel::progress(),
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

#[pg_extern(stable, parallel_safe)]
fn policy_heatmap_svg(policy_name: &str) -> Result<String, ErrorReport> {
    crate::citus::catalog_reads(|| {
        let p = policies::load(policy_name)?;
        let cells = policies::values(&p)?;
        let title = format!(
            "{} ({}, version {})",
            p.name,
            p.cfg.algorithm.name(),
            p.version
        );
        Ok(mkt_policy::heatmap::svg(&title, &p.cfg.actions, &cells))
    })
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
    let context_col = required(context_col, "context_col")?;
    let action_col = required(action_col, "action_col")?;
    let reward_col = required(reward_col, "reward_col")?;
    let epochs = required(epochs, "epochs")?;
    use crate::source::{self, Want};
    if !(1..=1000).contains(&epochs) {
        return Err(invalid(format!(
            "epochs must be between 1 and 1000, got {epochs}"
        )));
    }
    let p = policies::load(policy_name)?;
    let src = source::resolve(log_source)?;
    let cols = source::describe(&src)?;
    let mut read: Vec<(String, Want)> = vec![
        (
            source::find(&cols, context_col, "context")?.name.clone(),
            Want::Json,
        ),
        (
            source::find(&cols, action_col, "action")?.name.clone(),
            Want::Text,
        ),
    ];
    let rew = source::find(&cols, reward_col, "reward")?;
    source::check_number(rew, "reward")?;
    read.push((rew.name.clone(), Want::Float));
    let next_at = next_context_col
        .map(|n| -> SqlResult<usize> {
            read.push((
                source::find(&cols, n, "next context")?.name.clone(),
                Want::Json,
            ));
            Ok(read.len() - 1)
        })
        .transpose()?;
    let prop_at = propensity_col
        .map(|n| -> SqlResult<usize> {
            let c = source::find(&cols, n, "propensity")?;
            source::check_number(c, "propensity")?;
            read.push((c.name.clone(), Want::Float));
            Ok(read.len() - 1)
        })
        .transpose()?;
    let spec: Vec<(&str, Want)> = read.iter().map(|(n, w)| (n.as_str(), *w)).collect();
    let data = source::read_columns(&src, &spec)?;
    let (contexts, actions, rewards) = (data[0].jsons(), data[1].texts(), data[2].floats());

    let (table, linear) = policies::lock_and_load_state(&p)?;
    let mut learner = mkt_policy::Learner::with_state(p.cfg.clone(), table, linear);
    let m = p.cfg.actions.len() as f64;
    let (mut used, mut skipped, mut sum) = (0i64, 0i64, 0.0);
    for epoch in 0..epochs {
        for i in 0..rewards.len() {
            let (Some(r), Some(a)) = (rewards[i], actions[i].as_deref()) else {
                skipped += (epoch == 0) as i64;
                continue;
            };
            let Some(ai) = p.cfg.action_index(a) else {
                skipped += (epoch == 0) as i64;
                continue;
            };
            // Inverse propensity, normalised so a uniform logger weighs 1, clipped at 10.
            let weight = match prop_at {
                Some(k) => match data[k].floats()[i] {
                    Some(q) if q > 0.0 && q <= 1.0 => (1.0 / (m * q)).min(10.0),
                    Some(q) => {
                        return Err(invalid(format!(
                            "row {}: a propensity must be in (0, 1], got {q}",
                            i + 1
                        )))
                    }
                    None => {
                        skipped += (epoch == 0) as i64;
                        continue;
                    }
                },
                None => 1.0,
            };
            let ctx = p.context(&contexts[i].clone().unwrap_or(Value::Null))?;
            let next = match next_at.and_then(|k| data[k].jsons()[i].clone()) {
                Some(n) => Some(p.context(&n)?),
                None => None,
            };
            learner
                .reward_weighted(&ctx, ai, r, next.as_ref(), weight)
                .map_err(|e| invalid(format!("row {}: {e}", i + 1)))?;
            if epoch == 0 {
                used += 1;
                sum += r;
            }
            if i % 10_000 == 0 {
                pgrx::check_for_interrupts!();
            }
        }
    }
    if skipped > 0 {
        notice!("skipped {skipped} log rows with a NULL or unknown action, a NULL reward or a NULL propensity");
    }
    if used == 0 {
        return Err(crate::error::report(mkt_core::Error::EmptyData(
            "the log has no usable rows to train on".into(),
        )));
    }
    let states = learner.table.len() as i64;
    let version = policies::store_state(
        &p,
        &(
            learner.table,
            Some(learner.linear).filter(|l| !l.is_empty()),
        ),
    )?;
    Ok(TableIterator::once((
        version,
        used,
        skipped,
        states,
        sum / used as f64,
    )))
}
