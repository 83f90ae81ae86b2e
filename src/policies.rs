//! SQL access to the policy catalog (mkt.policies, mkt.policy_state, mkt.decisions).
//!
//! Updates of a (state, action) row follow one pattern: make sure the row exists with the prior
//! (INSERT .. ON CONFLICT DO NOTHING), lock it (SELECT .. FOR UPDATE), compute the new statistics
//! in the pure crate, write them back. Concurrent rewards of the same pair queue on the row lock
//! and each reads the other's committed result, so none is lost.

use crate::catalog::first;
use crate::error::{OrSql, SqlResult};
use crate::invalidation::{self, Watched};
use crate::plans;
use mkt_core::names::quote_shown;
use mkt_core::Error;
use mkt_policy::config::Algorithm;
use mkt_policy::linucb::LinArm;
use mkt_policy::{ArmStats, PolicyConfig};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

pub struct Policy {
    pub id: i64,
    pub name: String,
    pub version: i32,
    pub cfg: PolicyConfig,
    /// The feature transform every context goes through, when the policy names one.
    pub transform: Option<mkt_prep::Fitted>,
}

impl Policy {
    /// The context as the policy reads it: with the transform's outputs added.
    pub fn context(&self, context: &Value) -> SqlResult<Value> {
        match &self.transform {
            Some(t) => mkt_prep::context::apply(t, context).sql(),
            None => Ok(context.clone()),
        }
    }
}

/// The policy's transform, checked to be applicable to contexts.
fn transform_of(cfg: &PolicyConfig) -> SqlResult<Option<mkt_prep::Fitted>> {
    match &cfg.transform {
        None => Ok(None),
        Some(name) => {
            let (_, fitted) = crate::transforms::load(name)?;
            mkt_prep::context::check_applicable(&fitted).sql()?;
            Ok(Some(fitted))
        }
    }
}

pub fn check_policy_name(name: &str) -> SqlResult<()> {
    if name.is_empty() || name.len() > 128 || name.chars().any(|c| c.is_control()) {
        return Err(Error::InvalidParameter(format!(
            "policy name {} must be 1 to 128 bytes without control characters",
            quote_shown(name)
        )))
        .sql();
    }
    Ok(())
}

fn unknown_policy(name: &str) -> pgrx::pg_sys::panic::ErrorReport {
    crate::error::report(Error::UndefinedObject(format!(
        "policy {} does not exist",
        quote_shown(name)
    )))
}

thread_local! {
    /// Policy definitions this backend has parsed, with the epoch of mkt.policies they were read
    /// under (see `invalidation`).
    static CACHE: RefCell<HashMap<String, (u64, Rc<Policy>)>> = RefCell::new(HashMap::new());
}

/// Policies cached per backend beyond which the cache starts over.
const CACHE_ENTRIES: usize = 1000;

/// The policy's definition, parsed once per backend until it changes (read-only: no
/// transaction id).
pub fn load(name: &str) -> SqlResult<Rc<Policy>> {
    let epoch = invalidation::epoch(Watched::Policies)?;
    let hit = CACHE.with(|c| {
        c.borrow()
            .get(name)
            .filter(|(e, _)| *e == epoch)
            .map(|(_, p)| p.clone())
    });
    if let Some(p) = hit {
        return Ok(p);
    }
    let p = Rc::new(load_uncached(name)?);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_ENTRIES {
            c.clear();
        }
        c.insert(name.to_string(), (epoch, p.clone()));
    });
    Ok(p)
}

fn load_uncached(name: &str) -> SqlResult<Policy> {
    let row = Spi::connect(|c| {
        let t = plans::select(
            c,
            "SELECT policy_id, algorithm, actions, params, version FROM mkt.policies WHERE policy_name = $1",
            &[name.into()],
        )?;
        if t.is_empty() {
            return Ok(None);
        }
        let r = t.first();
        Ok::<_, pgrx::spi::Error>(Some((
            r.get::<i64>(1)?.unwrap_or_default(),
            r.get::<String>(2)?.unwrap_or_default(),
            r.get::<Vec<String>>(3)?.unwrap_or_default(),
            r.get::<JsonB>(4)?.map(|j| j.0).unwrap_or(Value::Null),
            r.get::<i32>(5)?.unwrap_or(1),
        )))
    })
    .sql()?;
    let Some((id, algorithm, actions, params, version)) = row else {
        return Err(unknown_policy(name));
    };
    let cfg = PolicyConfig::parse(&actions, &algorithm, &params).sql()?;
    let transform = transform_of(&cfg)?;
    Ok(Policy {
        id,
        name: name.to_string(),
        version,
        cfg,
        transform,
    })
}

pub fn create(name: &str, actions: &[String], algorithm: &str, params: &Value) -> SqlResult<()> {
    check_policy_name(name)?;
    // Parsing first: a bad definition leaves nothing behind.
    let cfg = PolicyConfig::parse(actions, algorithm, params).sql()?;
    transform_of(&cfg)?;
    Spi::connect_mut(|c| {
        let inserted = c
            .update(
                "INSERT INTO mkt.policies (policy_name, algorithm, actions, params) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (policy_name) DO NOTHING RETURNING policy_id",
                None,
                &[
                    name.into(),
                    algorithm.into(),
                    actions.to_vec().into(),
                    JsonB(params.clone()).into(),
                ],
            )
            .sql()?;
        if inserted.is_empty() {
            return Err(Error::DuplicateObject(format!(
                "policy {} already exists",
                quote_shown(name)
            )))
            .sql();
        }
        invalidation::invalidate_everywhere(Watched::Policies);
        Ok(())
    })
}

/// Drops the policy with its state and decisions; returns how many decisions went with it.
pub fn drop(name: &str) -> SqlResult<i64> {
    Spi::connect_mut(|c| {
        let id = c
            .update(
                "DELETE FROM mkt.policies WHERE policy_name = $1 RETURNING policy_id",
                None,
                &[name.into()],
            )
            .sql()?;
        let Some(id) = first::<i64>(id).sql()? else {
            return Err(unknown_policy(name));
        };
        invalidation::invalidate_everywhere(Watched::Policies);
        for table in ["mkt.policy_state", "mkt.reward_log"] {
            c.update(
                &format!("DELETE FROM {table} WHERE policy_id = $1"),
                None,
                &[id.into()],
            )
            .sql()?;
        }
        let gone = c
            .update(
                "WITH d AS (DELETE FROM mkt.decisions WHERE policy_id = $1 RETURNING 1) SELECT count(*) FROM d",
                None,
                &[id.into()],
            )
            .sql()?;
        Ok(first::<i64>(gone).sql()?.unwrap_or(0))
    })
}

fn arm_from(n: i64, value: f64, alpha: f64, beta: f64) -> ArmStats {
    ArmStats {
        n: n.max(0) as u64,
        value,
        alpha,
        beta,
    }
}

/// Per action, the stats of (state, action) if the policy has any (read-only).
pub fn arms(p: &Policy, state: &str) -> SqlResult<Vec<Option<ArmStats>>> {
    let mut out = vec![None; p.cfg.actions.len()];
    Spi::connect(|c| {
        let t = plans::select(
            c,
            "SELECT action, n, value, alpha, beta FROM mkt.policy_state WHERE policy_id = $1 AND state = $2",
            &[p.id.into(), state.into()],
        )?;
        for r in t {
            let action = r.get::<String>(1)?.unwrap_or_default();
            if let Some(i) = p.cfg.action_index(&action) {
                out[i] = Some(arm_from(
                    r.get::<i64>(2)?.unwrap_or(0),
                    r.get::<f64>(3)?.unwrap_or(0.0),
                    r.get::<f64>(4)?.unwrap_or(0.0),
                    r.get::<f64>(5)?.unwrap_or(0.0),
                ));
            }
        }
        Ok::<_, pgrx::spi::Error>(())
    })
    .sql()?;
    Ok(out)
}

fn dim(p: &Policy) -> usize {
    p.cfg.linear.as_ref().map_or(1, |l| l.dim())
}

fn fresh_linear(p: &Policy) -> LinArm {
    let ridge = p.cfg.linear.as_ref().map_or(1.0, |l| l.ridge);
    LinArm::new(dim(p), ridge)
}

/// Per action, its LinUCB regression (fresh ones for actions never rewarded).
pub fn linear_arms(p: &Policy) -> SqlResult<Vec<LinArm>> {
    let mut out: Vec<LinArm> = (0..p.cfg.actions.len()).map(|_| fresh_linear(p)).collect();
    let rows: Vec<(String, Vec<u8>)> = Spi::connect(|c| {
        let t = plans::select(
            c,
            "SELECT action, linear FROM mkt.policy_state WHERE policy_id = $1 AND state = '*' AND linear IS NOT NULL",
            &[p.id.into()],
        )?;
        t.map(|r| {
            Ok((
                r.get::<String>(1)?.unwrap_or_default(),
                r.get::<Vec<u8>>(2)?.unwrap_or_default(),
            ))
        })
        .collect::<Result<_, pgrx::spi::Error>>()
    })
    .sql()?;
    for (action, bytes) in rows {
        if let Some(i) = p.cfg.action_index(&action) {
            out[i] = LinArm::from_bytes(&bytes, dim(p)).sql()?;
        }
    }
    Ok(out)
}

/// A decision as logged.
pub struct LoggedDecision<'a> {
    pub subject: Option<&'a str>,
    pub context: &'a Value,
    pub state: &'a str,
    pub action: &'a str,
    pub probability: f64,
    pub probabilities: Value,
}

pub fn log_decision(p: &Policy, d: &LoggedDecision) -> SqlResult<i64> {
    Spi::connect_mut(|c| {
        let args: Vec<DatumWithOid> = vec![
            p.id.into(),
            p.version.into(),
            d.subject.into(),
            JsonB(d.context.clone()).into(),
            d.state.into(),
            d.action.into(),
            d.probability.into(),
            JsonB(d.probabilities.clone()).into(),
        ];
        let t = plans::update(
            c,
            "INSERT INTO mkt.decisions (policy_id, policy_version, subject, context, state, action, probability, probabilities) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING decision_id",
            &args,
        )
        .sql()?;
        Ok(first::<i64>(t).sql()?.expect("RETURNING gives a row"))
    })
}

/// The decision a reward is for.
pub struct Rewarded {
    pub policy_id: i64,
    /// Read only when the reward is applied at once (Null otherwise).
    pub context: Value,
    pub state: String,
    pub action: String,
    /// The caller applies the reward now; otherwise it waits for mkt.fold_rewards.
    pub applied: bool,
}

thread_local! {
    /// Ids of the policies with deferred learning, with the epoch of mkt.policies they were read
    /// under.
    static DEFERRED: RefCell<Option<(u64, Vec<i64>)>> = const { RefCell::new(None) };
}

/// The policies whose rewards wait for mkt.fold_rewards (read once per change of mkt.policies).
fn deferred_ids() -> SqlResult<Vec<i64>> {
    let epoch = invalidation::epoch(Watched::Policies)?;
    if let Some(ids) = DEFERRED.with(|d| {
        d.borrow()
            .as_ref()
            .filter(|(e, _)| *e == epoch)
            .map(|(_, ids)| ids.clone())
    }) {
        return Ok(ids);
    }
    let ids = Spi::connect(|c| {
        first::<Vec<i64>>(plans::select(
            c,
            "SELECT coalesce(array_agg(policy_id), '{}') FROM mkt.policies WHERE params ->> 'learning' = 'deferred'",
            &[],
        )?)
    })
    .sql()?
    .unwrap_or_default();
    DEFERRED.with(|d| *d.borrow_mut() = Some((epoch, ids.clone())));
    Ok(ids)
}

/// Records the reward: in mkt.reward_log for a policy that learns deferred (on a single server),
/// otherwise on the decision; a second reward or an unknown id is an error. It is marked applied
/// when `now` and the policy learns immediately: the caller then applies it. With
/// `subject`, the statement names the decision's distribution value, so on Citus it runs on that
/// subject's worker alone.
pub fn record_reward(
    decision_id: i64,
    reward: f64,
    next: Option<&Value>,
    subject: Option<&str>,
    now: bool,
) -> SqlResult<Rewarded> {
    let deferred = if now { deferred_ids()? } else { Vec::new() };
    let args = [
        decision_id.into(),
        reward.into(),
        next.map(|v| JsonB(v.clone())).into(),
        now.into(),
        subject.into(),
        deferred.clone().into(),
    ];
    if !deferred.is_empty() {
        // A reward for a policy that learns deferred is one insert into the reward log, whose key
        // refuses a second reward of the decision (waiting for a concurrent one to commit first).
        let logged = Spi::connect_mut(|c| {
            first::<i64>(plans::update(
                c,
                "INSERT INTO mkt.reward_log (decision_id, policy_id, reward, next_context) \
                 SELECT decision_id, policy_id, $2, $3 FROM mkt.decisions \
                 WHERE decision_id = $1 AND reward IS NULL AND policy_id = ANY ($6) \
                   AND ($5::text IS NULL OR subject = $5) \
                 ON CONFLICT (decision_id) DO NOTHING RETURNING policy_id",
                &args,
            )?)
        })
        .sql()?;
        if let Some(policy_id) = logged {
            return Ok(Rewarded {
                policy_id,
                context: Value::Null,
                state: String::new(),
                action: String::new(),
                applied: false,
            });
        }
    }
    let row = Spi::connect_mut(|c| {
        let t = if !deferred.is_empty() {
            plans::update(
                c,
                "UPDATE mkt.decisions SET reward = $2, next_context = $3, rewarded_at = now(), applied = $4 \
                 WHERE decision_id = $1 AND reward IS NULL AND NOT (policy_id = ANY ($6)) \
                   AND ($5::text IS NULL OR subject = $5) \
                 RETURNING policy_id, applied, state, action, context",
                &args,
            )
        } else if subject.is_some() {
            plans::update(
                c,
                "UPDATE mkt.decisions SET reward = $2, next_context = $3, rewarded_at = now(), applied = $4 \
                 WHERE decision_id = $1 AND subject = $5 AND reward IS NULL \
                 RETURNING policy_id, applied, state, action, context",
                &args,
            )
        } else {
            plans::update(
                c,
                "UPDATE mkt.decisions SET reward = $2, next_context = $3, rewarded_at = now(), applied = $4 \
                 WHERE decision_id = $1 AND reward IS NULL AND $5::text IS NULL \
                 RETURNING policy_id, applied, state, action, context",
                &args,
            )
        }
        .sql()?;
        if t.is_empty() {
            return Ok(None);
        }
        let r = t.first();
        let applied = r.get::<bool>(2).sql()?.unwrap_or(false);
        Ok(Some(Rewarded {
            policy_id: r.get::<i64>(1).sql()?.unwrap_or_default(),
            applied,
            state: r.get::<String>(3).sql()?.unwrap_or_default(),
            action: r.get::<String>(4).sql()?.unwrap_or_default(),
            context: if applied {
                r.get::<JsonB>(5).sql()?.map(|j| j.0).unwrap_or(Value::Null)
            } else {
                Value::Null
            },
        }))
    })?;
    if let Some(r) = row {
        return Ok(r);
    }
    let found = crate::catalog::select_first::<String>(
        "SELECT coalesce(subject, '') FROM mkt.decisions WHERE decision_id = $1",
        &[decision_id.into()],
    )?;
    Err(match (found, subject) {
        (Some(s), Some(given)) if s != given => Error::UndefinedObject(format!(
            "decision {decision_id} is not for subject {}",
            quote_shown(given)
        )),
        (Some(_), _) => Error::InvalidState(format!("decision {decision_id} already has a reward")),
        (None, _) => Error::UndefinedObject(format!("decision {decision_id} does not exist")),
    })
    .sql()
}

/// A reward recorded on a Citus catalog and not yet applied to the policy state.
pub struct Pending {
    pub rewarded: Rewarded,
    pub reward: f64,
    pub next: Option<Value>,
}

/// Takes every pending reward (of one policy, or all) and returns them in the order they were
/// recorded: the reward log's, moved onto their decisions (on a single server), and those stored
/// on decisions but not applied (on Citus), marked applied. Row locks make a concurrent fold skip
/// what this one took.
pub fn take_pending(policy_id: Option<i64>) -> SqlResult<Vec<Pending>> {
    let single_server = !crate::citus::catalog_distributed()?;
    Spi::connect_mut(|c| {
        let mut rows = Vec::new();
        let mut take = |sql: &str| -> SqlResult<()> {
            for r in c.update(sql, None, &[policy_id.into()]).sql()? {
                let at = r
                    .get::<pgrx::datum::TimestampWithTimeZone>(7)
                    .sql()?
                    .map_or(0, pgrx::pg_sys::TimestampTz::from);
                let id = r.get::<i64>(8).sql()?.unwrap_or_default();
                rows.push((
                    at,
                    id,
                    Pending {
                        rewarded: Rewarded {
                            policy_id: r.get::<i64>(1).sql()?.unwrap_or_default(),
                            context: r.get::<JsonB>(2).sql()?.map(|j| j.0).unwrap_or(Value::Null),
                            state: r.get::<String>(3).sql()?.unwrap_or_default(),
                            action: r.get::<String>(4).sql()?.unwrap_or_default(),
                            applied: true,
                        },
                        reward: r.get::<f64>(5).sql()?.unwrap_or_default(),
                        next: r.get::<JsonB>(6).sql()?.map(|j| j.0),
                    },
                ));
            }
            Ok(())
        };
        if single_server {
            // A logged reward whose decision is gone (forgotten, dropped) goes with the log row.
            take(
                "WITH taken AS (DELETE FROM mkt.reward_log WHERE $1::bigint IS NULL OR policy_id = $1 RETURNING *) \
                 UPDATE mkt.decisions d SET reward = t.reward, next_context = t.next_context, \
                     rewarded_at = t.rewarded_at, applied = true \
                 FROM taken t WHERE d.decision_id = t.decision_id \
                 RETURNING d.policy_id, d.context, d.state, d.action, d.reward, d.next_context, d.rewarded_at, d.decision_id",
            )?;
        }
        take(
            "UPDATE mkt.decisions SET applied = true \
             WHERE reward IS NOT NULL AND NOT applied AND ($1::bigint IS NULL OR policy_id = $1) \
             RETURNING policy_id, context, state, action, reward, next_context, rewarded_at, decision_id",
        )?;
        rows.sort_by_key(|(at, id, _)| (*at, *id));
        Ok(rows.into_iter().map(|(_, _, p)| p).collect())
    })
}

pub fn load_by_id(policy_id: i64) -> SqlResult<Rc<Policy>> {
    let epoch = invalidation::epoch(Watched::Policies)?;
    let hit = CACHE.with(|c| {
        c.borrow()
            .values()
            .find(|(e, p)| *e == epoch && p.id == policy_id)
            .map(|(_, p)| p.clone())
    });
    if let Some(p) = hit {
        return Ok(p);
    }
    let name = Spi::connect(|c| {
        first::<String>(plans::select(
            c,
            "SELECT policy_name FROM mkt.policies WHERE policy_id = $1",
            &[policy_id.into()],
        )?)
    })
    .sql()?
    .ok_or_else(|| {
        crate::error::report(Error::UndefinedObject(format!(
            "the policy of this decision (id {policy_id}) was dropped"
        )))
    })?;
    load(&name)
}

/// The advisory-lock key of policy $1, spliced into the statements that take the lock.
macro_rules! policy_lock_key {
    () => {
        "pg_catalog.hashtextextended('pg_marketing.policy:' || $1, 0)"
    };
}

/// Online rewards take the policy's lock shared, batch training exclusive: a reward never lands
/// between the state a training run read and the state it writes back.
fn policy_lock(c: &mut pgrx::spi::SpiClient, p: &Policy, exclusive: bool) -> SqlResult<()> {
    let f = if exclusive {
        "pg_advisory_xact_lock"
    } else {
        "pg_advisory_xact_lock_shared"
    };
    c.update(
        &format!(
            "SELECT pg_catalog.{f}(pg_catalog.hashtextextended('pg_marketing.policy:' || $1, 0))"
        ),
        None,
        &[p.id.into()],
    )
    .sql()
    .map(|_| ())
}

/// Locks the (state, action) row, creating it with the prior first, and returns its stats; takes
/// the policy's lock shared on the way (see `policy_lock`; the lookup takes it when it finds the
/// row, the upsert always). An existing row (the usual case) is locked by SELECT .. FOR UPDATE,
/// which writes no new row version; a missing one is created by an upsert whose no-op DO UPDATE
/// locks the row a concurrent session may have created meanwhile.
fn lock_arm(
    c: &mut pgrx::spi::SpiClient,
    p: &Policy,
    state: &str,
    action: &str,
) -> SqlResult<ArmStats> {
    let stats = |t: pgrx::spi::SpiTupleTable| -> SqlResult<Option<ArmStats>> {
        if t.is_empty() {
            return Ok(None);
        }
        let r = t.first();
        Ok(Some(arm_from(
            r.get::<i64>(1).sql()?.unwrap_or(0),
            r.get::<f64>(2).sql()?.unwrap_or(0.0),
            r.get::<f64>(3).sql()?.unwrap_or(0.0),
            r.get::<f64>(4).sql()?.unwrap_or(0.0),
        )))
    };
    let existing = plans::update(
        c,
        concat!(
            "SELECT s.n, s.value, s.alpha, s.beta FROM mkt.policy_state s, ",
            "(SELECT pg_catalog.pg_advisory_xact_lock_shared(",
            policy_lock_key!(),
            ")) l WHERE s.policy_id = $1 AND s.state = $2 AND s.action = $3 FOR UPDATE OF s"
        ),
        &[p.id.into(), state.into(), action.into()],
    )
    .sql()?;
    if let Some(s) = stats(existing)? {
        return Ok(s);
    }
    let (value, alpha, beta) = match p.cfg.algorithm {
        Algorithm::Thompson => {
            let (a, b) = p.cfg.prior;
            (a / (a + b), a, b)
        }
        _ => (p.cfg.q_init, 0.0, 0.0),
    };
    let t = plans::update(
        c,
        concat!(
            "INSERT INTO mkt.policy_state AS s (policy_id, state, action, n, value, alpha, beta) ",
            "SELECT $1, $2, $3, 0, $4, $5, $6 FROM (SELECT pg_catalog.pg_advisory_xact_lock_shared(",
            policy_lock_key!(),
            ")) l ON CONFLICT (policy_id, state, action) DO UPDATE SET n = s.n ",
            "RETURNING n, value, alpha, beta"
        ),
        &[p.id.into(), state.into(), action.into(), value.into(), alpha.into(), beta.into()],
    )
    .sql()?;
    Ok(stats(t)?.expect("RETURNING gives a row"))
}

/// Applies `update` to the locked stats of (state, action) and stores the result.
pub fn update_arm(
    p: &Policy,
    state: &str,
    action: &str,
    update: impl FnOnce(ArmStats) -> SqlResult<ArmStats>,
) -> SqlResult<ArmStats> {
    Spi::connect_mut(|c| {
        let current = lock_arm(c, p, state, action)?;
        let s = update(current)?;
        plans::update(
            c,
            "UPDATE mkt.policy_state SET n = $4, value = $5, alpha = $6, beta = $7 \
             WHERE policy_id = $1 AND state = $2 AND action = $3",
            &[
                p.id.into(),
                state.into(),
                action.into(),
                (s.n as i64).into(),
                s.value.into(),
                s.alpha.into(),
                s.beta.into(),
            ],
        )
        .sql()?;
        Ok(s)
    })
}

/// Applies `update` to the locked LinUCB regression of `action` and stores the result.
pub fn update_linear(p: &Policy, action: &str, update: impl FnOnce(&mut LinArm)) -> SqlResult<()> {
    Spi::connect_mut(|c| {
        lock_arm(c, p, "*", action)?;
        let t = c
            .update(
                "SELECT linear FROM mkt.policy_state WHERE policy_id = $1 AND state = '*' AND action = $2",
                None,
                &[p.id.into(), action.into()],
            )
            .sql()?;
        let mut arm = match first::<Vec<u8>>(t).sql()? {
            Some(bytes) => LinArm::from_bytes(&bytes, dim(p)).sql()?,
            None => fresh_linear(p),
        };
        update(&mut arm);
        // value: the intercept, what reports show for a LinUCB action.
        let intercept = arm.theta()[0];
        c.update(
            "UPDATE mkt.policy_state SET n = $3, linear = $4, value = $5 WHERE policy_id = $1 AND state = '*' AND action = $2",
            None,
            &[
                p.id.into(),
                action.into(),
                (arm.n as i64).into(),
                arm.to_bytes().into(),
                intercept.into(),
            ],
        )
        .sql()?;
        Ok(())
    })
}

/// Every (state, action) row of a policy, for reports: (state, action, value, visits).
pub fn values(p: &Policy) -> SqlResult<Vec<(String, String, f64, i64)>> {
    Spi::connect(|c| {
        let t = c.select(
            "SELECT state, action, value, n FROM mkt.policy_state WHERE policy_id = $1 ORDER BY state, action",
            None,
            &[p.id.into()],
        )?;
        t.map(|r| {
            Ok((
                r.get::<String>(1)?.unwrap_or_default(),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<f64>(3)?.unwrap_or(0.0),
                r.get::<i64>(4)?.unwrap_or(0),
            ))
        })
        .collect::<Result<_, pgrx::spi::Error>>()
    })
    .sql()
}

/// Everything a policy has learned: its table rows and, for LinUCB, its regressions.
pub type State = (
    std::collections::HashMap<String, Vec<Option<ArmStats>>>,
    Option<Vec<LinArm>>,
);

/// Takes the policy's training lock and reads its whole state.
pub fn lock_and_load_state(p: &Policy) -> SqlResult<State> {
    Spi::connect_mut(|c| policy_lock(c, p, true))?;
    let mut table: std::collections::HashMap<String, Vec<Option<ArmStats>>> = Default::default();
    let m = p.cfg.actions.len();
    Spi::connect(|c| {
        let t = c.select(
            "SELECT state, action, n, value, alpha, beta FROM mkt.policy_state WHERE policy_id = $1 AND linear IS NULL",
            None,
            &[p.id.into()],
        )?;
        for r in t {
            let state = r.get::<String>(1)?.unwrap_or_default();
            let action = r.get::<String>(2)?.unwrap_or_default();
            if let Some(i) = p.cfg.action_index(&action) {
                table.entry(state).or_insert_with(|| vec![None; m])[i] = Some(arm_from(
                    r.get::<i64>(3)?.unwrap_or(0),
                    r.get::<f64>(4)?.unwrap_or(0.0),
                    r.get::<f64>(5)?.unwrap_or(0.0),
                    r.get::<f64>(6)?.unwrap_or(0.0),
                ));
            }
        }
        Ok::<_, pgrx::spi::Error>(())
    })
    .sql()?;
    let linear = match p.cfg.algorithm {
        Algorithm::LinUcb => Some(linear_arms(p)?),
        _ => None,
    };
    Ok((table, linear))
}

/// Writes a trained state back (upserting every row) and bumps the policy's version.
pub fn store_state(p: &Policy, state: &State) -> SqlResult<i32> {
    store_rows(p, state)?;
    Spi::connect_mut(|c| {
        let v = c
            .update(
                "UPDATE mkt.policies SET version = version + 1 WHERE policy_id = $1 RETURNING version",
                None,
                &[p.id.into()],
            )
            .sql()?;
        invalidation::invalidate_everywhere(Watched::Policies);
        Ok(first::<i32>(v).sql()?.unwrap_or(p.version + 1))
    })
}

/// Upserts the rows of `state` (LinUCB regressions of actions with rewards).
pub fn store_rows(p: &Policy, state: &State) -> SqlResult<()> {
    Spi::connect_mut(|c| {
        for (s, arms) in &state.0 {
            for (i, arm) in arms.iter().enumerate() {
                let Some(a) = arm else { continue };
                c.update(
                    "INSERT INTO mkt.policy_state (policy_id, state, action, n, value, alpha, beta) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (policy_id, state, action) DO UPDATE \
                     SET n = EXCLUDED.n, value = EXCLUDED.value, alpha = EXCLUDED.alpha, beta = EXCLUDED.beta",
                    None,
                    &[
                        p.id.into(),
                        s.as_str().into(),
                        p.cfg.actions[i].as_str().into(),
                        (a.n as i64).into(),
                        a.value.into(),
                        a.alpha.into(),
                        a.beta.into(),
                    ],
                )
                .sql()?;
            }
        }
        if let Some(linear) = &state.1 {
            for (i, arm) in linear.iter().enumerate().filter(|(_, a)| a.n > 0) {
                c.update(
                    "INSERT INTO mkt.policy_state (policy_id, state, action, n, value, linear) \
                     VALUES ($1, '*', $2, $3, $4, $5) ON CONFLICT (policy_id, state, action) DO UPDATE \
                     SET n = EXCLUDED.n, value = EXCLUDED.value, linear = EXCLUDED.linear",
                    None,
                    &[
                        p.id.into(),
                        p.cfg.actions[i].as_str().into(),
                        (arm.n as i64).into(),
                        arm.theta()[0].into(),
                        arm.to_bytes().into(),
                    ],
                )
                .sql()?;
            }
        }
        Ok(())
    })
}
