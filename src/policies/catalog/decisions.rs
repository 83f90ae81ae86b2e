//! SQL of the decision log (mkt.decisions) and of rewards waiting to be learned
//! (mkt.reward_log).

use crate::pg::args::GivenJsonb;
use crate::pg::error::{missing_row, OrSql, SqlResult};
use crate::pg::plans;
use crate::pg::spi::{first, select_first};
use crate::pg::table_rows;
use pgrx::pg_sys::{self, Datum};
use crate::policies::policy::Policy;
use mkt_policy::reward_route::{DecisionUpdate, Route};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

/// A decision as logged.
pub struct LoggedDecision<'a> {
    pub subject: Option<&'a str>,
    pub context: GivenJsonb,
    pub state: &'a str,
    pub action: &'a str,
    pub probability: f64,
    pub probabilities: &'a [f64],
}

pub fn log_decision(p: &Policy, d: &LoggedDecision) -> SqlResult<i64> {
    if let Some(id) = insert_decision(p, d) {
        return Ok(id);
    }
    Spi::connect_mut(|c| {
        let args: Vec<DatumWithOid> = vec![
            p.id.into(),
            p.version.into(),
            d.subject.into(),
            d.context.param(),
            d.state.into(),
            d.action.into(),
            d.probability.into(),
            distribution(p, d.probabilities),
        ];
        let t = plans::update(
            c,
            "INSERT INTO mkt.decisions (policy_id, policy_version, subject, context, state, action, probability, probabilities) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING decision_id",
            &args,
        )
        .sql()?;
        first::<i64>(t)
            .sql()?
            .ok_or_else(|| missing_row("INSERT INTO mkt.decisions"))
    })
}

/// Above this many distributions a policy's memo starts again empty.
const MAX_DISTRIBUTIONS: usize = 1024;

/// The jsonb of `p`'s distribution `probabilities`, copied from the policy's memo.
fn distribution(p: &Policy, probabilities: &[f64]) -> DatumWithOid<'static> {
    let key: Vec<u64> = probabilities.iter().map(|q| q.to_bits()).collect();
    let mut memo = p.distributions.borrow_mut();
    if let Some(bytes) = memo.get(&key) {
        return jsonb_copy(bytes);
    }
    if memo.len() >= MAX_DISTRIBUTIONS {
        memo.clear();
    }
    let built = JsonB(p.distribution_json(probabilities)).into_datum();
    // SAFETY: a jsonb datum just built in the current memory context: an untoasted varlena.
    let bytes = built.map_or_else(Vec::new, |d| unsafe {
        let ptr = d.cast_mut_ptr::<pg_sys::varlena>();
        std::slice::from_raw_parts(ptr.cast::<u8>(), pgrx::varsize_any(ptr)).to_vec()
    });
    jsonb_copy(memo.entry(key).or_insert(bytes))
}

/// A palloc'd copy of a whole jsonb varlena (NULL for none).
fn jsonb_copy(bytes: &[u8]) -> DatumWithOid<'static> {
    if bytes.is_empty() {
        return DatumWithOid::null_oid(pg_sys::JSONBOID);
    }
    // SAFETY: a copy of a whole jsonb varlena, in the current memory context.
    unsafe {
        let copy = pg_sys::palloc(bytes.len()).cast::<u8>();
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), copy, bytes.len());
        DatumWithOid::new(Datum::from(copy), pg_sys::JSONBOID)
    }
}

/// `d` written without a statement where `table_rows` can (None otherwise, having written
/// nothing), with the values the table's defaults give the columns the INSERT above leaves out.
fn insert_decision(p: &Policy, d: &LoggedDecision) -> Option<i64> {
    let mut id = None;
    let written = table_rows::insert(c"decisions", || {
        let taken = table_rows::next_value(c"decisions_decision_id_seq")?;
        id = Some(taken);
        // SAFETY: the transaction's start time, which now() returns, as the int64 datum a
        // timestamptz is.
        let decided_at = unsafe {
            DatumWithOid::new(
                Datum::from(pg_sys::GetCurrentTransactionStartTimestamp()),
                pg_sys::TIMESTAMPTZOID,
            )
        };
        Some(vec![
            (c"decision_id", taken.into()),
            (c"policy_id", p.id.into()),
            (c"policy_version", p.version.into()),
            (c"subject", d.subject.into()),
            (c"context", d.context.param()),
            (c"state", d.state.into()),
            (c"action", d.action.into()),
            (c"probability", d.probability.into()),
            (c"probabilities", distribution(p, d.probabilities)),
            (c"decided_at", decided_at),
            (c"reward", DatumWithOid::null::<f64>()),
            (c"next_context", DatumWithOid::null::<JsonB>()),
            (c"rewarded_at", DatumWithOid::null_oid(pg_sys::TIMESTAMPTZOID)),
            (c"applied", false.into()),
        ])
    });
    // An id taken but not written (a column this code does not know) is a gap in the sequence,
    // as a failed INSERT leaves.
    id.filter(|_| written)
}

/// Decisions of one policy logged together (mkt.decide_all), column by column: the context and
/// distribution as jsonb text. The text columns borrow the caller's strings: the INSERT's arrays
/// are built from them directly.
pub struct Logged<'a> {
    pub subjects: Vec<&'a str>,
    pub contexts: Vec<&'a str>,
    pub states: Vec<&'a str>,
    pub actions: Vec<&'a str>,
    pub probabilities: Vec<f64>,
    pub distributions: Vec<&'a str>,
}

/// Logs `d` in one INSERT; returns the decision ids in the order of the rows. The ids are taken
/// from the log's sequence first, so that each row's id is known without relying on the order of
/// RETURNING.
pub fn log_decisions(p: &Policy, d: Logged) -> SqlResult<Vec<i64>> {
    let n = d.subjects.len();
    let mut ids: Vec<i64> = Spi::connect_mut(|c| {
        let t = plans::update(
            c,
            "SELECT nextval('mkt.decisions_decision_id_seq') FROM generate_series(1, $1)",
            &[(n as i64).into()],
        )?;
        let mut ids = Vec::with_capacity(n);
        for r in t {
            ids.push(r.get::<i64>(1)?.unwrap_or_default());
        }
        Ok::<_, pgrx::spi::Error>(ids)
    })
    .sql()?;
    ids.sort_unstable();
    let args: Vec<DatumWithOid> = vec![
        p.id.into(),
        p.version.into(),
        ids.clone().into(),
        d.subjects.into(),
        d.contexts.into(),
        d.states.into(),
        d.actions.into(),
        d.probabilities.into(),
        d.distributions.into(),
    ];
    Spi::connect_mut(|c| {
        plans::update(
            c,
            "INSERT INTO mkt.decisions (decision_id, policy_id, policy_version, subject, context, state, action, probability, probabilities) \
             SELECT id, $1, $2, s, c::jsonb, st, a, pr, ps::jsonb \
             FROM unnest($3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::float8[], $9::text[]) AS u(id, s, c, st, a, pr, ps)",
            &args,
        )
        .map(|_| ())
    })
    .sql()?;
    Ok(ids)
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

/// Records a reward where `route` says. Returns the decision it landed on, or None when no
/// decision took it (unknown, already rewarded, or of another subject).
pub fn record_reward(
    route: Route,
    decision_id: i64,
    reward: f64,
    next: DatumWithOid,
    subject: Option<&str>,
    deferred: &[i64],
) -> SqlResult<Option<Rewarded>> {
    let args = [
        decision_id.into(),
        reward.into(),
        next,
        route.apply_now.into(),
        subject.into(),
        deferred.to_vec().into(),
    ];
    if route.log_deferred {
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
            return Ok(Some(Rewarded {
                policy_id,
                context: Value::Null,
                state: String::new(),
                action: String::new(),
                applied: false,
            }));
        }
    }
    Spi::connect_mut(|c| {
        let t = match route.update {
            DecisionUpdate::ExceptDeferred => plans::update(
                c,
                "UPDATE mkt.decisions SET reward = $2, next_context = $3, rewarded_at = now(), applied = $4 \
                 WHERE decision_id = $1 AND reward IS NULL AND NOT (policy_id = ANY ($6)) \
                   AND ($5::text IS NULL OR subject = $5) \
                 RETURNING policy_id, applied, state, action, context",
                &args,
            ),
            DecisionUpdate::OfSubject => plans::update(
                c,
                "UPDATE mkt.decisions SET reward = $2, next_context = $3, rewarded_at = now(), applied = $4 \
                 WHERE decision_id = $1 AND subject = $5 AND reward IS NULL \
                 RETURNING policy_id, applied, state, action, context",
                &args,
            ),
            DecisionUpdate::ById => plans::update(
                c,
                "UPDATE mkt.decisions SET reward = $2, next_context = $3, rewarded_at = now(), applied = $4 \
                 WHERE decision_id = $1 AND reward IS NULL AND $5::text IS NULL \
                 RETURNING policy_id, applied, state, action, context",
                &args,
            ),
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
    })
}

/// The subject of a decision ("" when it has none), if the decision exists.
pub fn subject_of(decision_id: i64) -> SqlResult<Option<String>> {
    select_first::<String>(
        "SELECT coalesce(subject, '') FROM mkt.decisions WHERE decision_id = $1",
        &[decision_id.into()],
    )
}

/// A reward recorded and not yet applied to the policy state.
pub struct Pending {
    pub rewarded: Rewarded,
    pub reward: f64,
    pub next: Option<Value>,
}

/// Takes every pending reward (of one policy, or all) and returns them in the order they were
/// recorded: the reward log's, moved onto their decisions (`single_server`), and those stored on
/// decisions but not applied (on Citus), marked applied. Row locks make a concurrent fold skip
/// what this one took.
pub fn take_pending(policy_id: Option<i64>, single_server: bool) -> SqlResult<Vec<Pending>> {
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
