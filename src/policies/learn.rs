//! Learning from rewards: one at a time as they come (mkt.reward, the reward trigger), the waiting
//! ones in order (mkt.fold_rewards), or from a historical log (mkt.train_policy). The algorithm
//! behind each is mkt-policy's; this file moves rows between the catalog and it.

use crate::pg::citus;
use crate::pg::error::{invalid, report, require_primary, OrSql, SqlResult};
use crate::pg::invalidation::{invalidate_everywhere, Watched};
use crate::pg::source::{self, Want};
use crate::policies::cache;
use crate::policies::catalog::decisions::{self, Pending, Rewarded};
use crate::policies::catalog::{definitions, state};
use crate::policies::policy::Policy;
use mkt_core::Error;
use mkt_policy::learner::{online, propensity_weight, Online};
use mkt_policy::reward_route::{refusal, route};
use mkt_policy::Learner;
use pgrx::datum::DatumWithOid;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// mkt.reward, also what mkt.reward_trigger does for each inserted row: records a reward and
/// learns from it; `next` is the next context as learning reads it, and
/// `next_stored` the same value as stored with the decision (the caller's own jsonb where there
/// is one).
pub fn reward(
    decision_id: i64,
    reward: f64,
    next: Option<Value>,
    next_stored: DatumWithOid,
    subject: Option<&str>,
) -> SqlResult<()> {
    require_primary("mkt.reward")?;
    if !reward.is_finite() {
        return Err(invalid(format!(
            "a reward must be a finite number, got {reward}"
        )));
    }
    let single_server = !citus::catalog_distributed()?;
    let deferred = if single_server {
        cache::deferred_ids()?
    } else {
        Default::default()
    };
    let r = route(single_server, !deferred.is_empty(), subject.is_some());
    let Some(rewarded) =
        decisions::record_reward(r, decision_id, reward, next_stored, subject, &deferred)?
    else {
        let found = decisions::subject_of(decision_id)?;
        return Err(report(refusal(decision_id, found.as_deref(), subject)));
    };
    if rewarded.applied {
        apply(&*cache::load_by_id(rewarded.policy_id)?, &rewarded, reward, next.as_ref())?;
    }
    Ok(())
}

/// Learns from one reward of policy `p` at once: the online update of the decision's (state,
/// action) row, or of its action's regression.
fn apply(p: &Policy, r: &Rewarded, reward: f64, next: Option<&Value>) -> SqlResult<()> {
    match online(&p.cfg, &r.context, next, |c| p.view(c)).sql()? {
        Online::Linear { features } => {
            state::update_linear(p, &r.action, |arm| arm.update(&features, reward))
        }
        Online::Table { next_state } => {
            let next_arms = next_state.map(|s| state::arms(p, &s)).transpose()?;
            state::update_arm(p, &r.state, &r.action, |current| {
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
fn fold_policy(p: &Policy, rewards: &[Pending]) -> SqlResult<()> {
    let mut learner = Learner::with_state(p.cfg.clone(), state::lock_and_load(p)?);
    let mut touched: HashSet<(String, usize)> = HashSet::new();
    for (i, r) in rewards.iter().enumerate() {
        if i % 1000 == 0 {
            pgrx::check_for_interrupts!();
        }
        let Some(action) = p.cfg.action_index(&r.rewarded.action) else {
            continue;
        };
        learner
            .reward_logged(
                &r.rewarded.context,
                &r.rewarded.state,
                action,
                r.reward,
                r.next.as_ref(),
                |c| p.view(c),
            )
            .sql()?;
        touched.insert((r.rewarded.state.clone(), action));
    }
    state::store(p, &learner.touched(&touched))
}

/// mkt.fold_rewards: (policy name, rewards learned) for every policy with waiting rewards.
pub fn fold(policy_name: Option<&str>) -> SqlResult<Vec<(String, i64)>> {
    require_primary("mkt.fold_rewards")?;
    let only = match policy_name {
        Some(n) => Some(cache::load(n)?.id),
        None => None,
    };
    // Per policy, its rewards in the order they were recorded.
    let mut by_policy: BTreeMap<i64, Vec<Pending>> = BTreeMap::new();
    for pending in decisions::take_pending(only, !citus::catalog_distributed()?)? {
        by_policy.entry(pending.rewarded.policy_id).or_default().push(pending);
    }
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for (id, rewards) in by_policy {
        // A dropped policy's decisions go with it; one dropped meanwhile has nothing to learn.
        let Ok(p) = cache::load_by_id(id) else { continue };
        fold_policy(&p, &rewards)?;
        *counts.entry(p.name.clone()).or_default() += rewards.len() as i64;
    }
    Ok(counts.into_iter().collect())
}

/// The columns of a decision log mkt.train_policy reads.
pub struct LogColumns<'a> {
    pub context: &'a str,
    pub action: &'a str,
    pub reward: &'a str,
    pub next_context: Option<&'a str>,
    pub propensity: Option<&'a str>,
}

/// What mkt.train_policy returns: (version, rows, skipped, states, mean reward).
pub type Trained = (i32, i64, i64, i64, f64);

/// mkt.train_policy: `epochs` passes over a historical log on top of what the policy knows.
pub fn train(policy_name: &str, log_source: &str, c: &LogColumns, epochs: i32) -> SqlResult<Trained> {
    if !(1..=1000).contains(&epochs) {
        return Err(invalid(format!(
            "epochs must be between 1 and 1000, got {epochs}"
        )));
    }
    let p = cache::load(policy_name)?;
    let src = source::resolve(log_source)?;
    let cols = source::describe(&src)?;
    let mut read: Vec<(String, Want)> = vec![
        (source::find(&cols, c.context, "context")?.name.clone(), Want::Json),
        (source::find(&cols, c.action, "action")?.name.clone(), Want::Text),
    ];
    let rew = source::find(&cols, c.reward, "reward")?;
    source::check_number(rew, "reward")?;
    read.push((rew.name.clone(), Want::Float));
    let next_at = c
        .next_context
        .map(|n| -> SqlResult<usize> {
            read.push((source::find(&cols, n, "next context")?.name.clone(), Want::Json));
            Ok(read.len() - 1)
        })
        .transpose()?;
    let prop_at = c
        .propensity
        .map(|n| -> SqlResult<usize> {
            let col = source::find(&cols, n, "propensity")?;
            source::check_number(col, "propensity")?;
            read.push((col.name.clone(), Want::Float));
            Ok(read.len() - 1)
        })
        .transpose()?;
    let spec: Vec<(&str, Want)> = read.iter().map(|(n, w)| (n.as_str(), *w)).collect();
    let data = source::read_columns(&src, &spec)?;
    let (contexts, actions, rewards) = (data[0].jsons()?, data[1].texts()?, data[2].floats()?);
    let nexts = next_at.map(|k| data[k].jsons()).transpose()?;
    let propensities = prop_at.map(|k| data[k].floats()).transpose()?;

    let mut learner = Learner::with_state(p.cfg.clone(), state::lock_and_load(&p)?);
    let m = p.cfg.actions.len();
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
            let weight = match propensities.map(|q| q[i]) {
                Some(Some(q)) => {
                    propensity_weight(q, m).map_err(|e| e.with_prefix(&format!("row {}: ", i + 1))).sql()?
                }
                Some(None) => {
                    skipped += (epoch == 0) as i64;
                    continue;
                }
                None => 1.0,
            };
            let ctx = p.context(&contexts[i].clone().unwrap_or(Value::Null))?;
            let next = match nexts.and_then(|n| n[i].clone()) {
                Some(n) => Some(p.context(&n)?),
                None => None,
            };
            learner
                .reward_weighted(&ctx, ai, r, next.as_ref(), weight)
                .map_err(|e| e.with_prefix(&format!("row {}: ", i + 1)))
                .sql()?;
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
        pgrx::notice!("skipped {skipped} log rows with a NULL or unknown action, a NULL reward or a NULL propensity");
    }
    if used == 0 {
        return Err(report(Error::EmptyData(
            "the log has no usable rows to train on".into(),
        )));
    }
    let states = learner.table.len() as i64;
    state::store(&p, &learner.into_learned())?;
    let version = definitions::bump_version(p.id)?.unwrap_or(p.version + 1);
    invalidate_everywhere(Watched::Policies);
    Ok((version, used, skipped, states, sum / used as f64))
}
