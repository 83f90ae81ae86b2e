//! SQL of what policies learned (mkt.policy_state).
//!
//! An online update of a (state, action) row makes sure the row exists with the prior, locks it,
//! computes the new statistics in mkt-policy and writes them back. Concurrent rewards of the same
//! pair queue on the row lock and each reads the other's committed result, so none is lost.
//! Online rewards take the policy's advisory lock shared, batch training exclusive: a reward never
//! lands between the state a training run read and the state it writes back.

use crate::pg::error::{missing_row, OrSql, SqlResult};
use crate::pg::plans;
use crate::pg::spi::{self, first};
use crate::pg::table_rows::{self, Key};
use crate::policies::policy::Policy;
use mkt_policy::linucb::LinArm;
use mkt_policy::{ArmStats, Learned};
use pgrx::prelude::*;

fn arm_from(n: i64, value: f64, alpha: f64, beta: f64) -> ArmStats {
    ArmStats {
        n: n.max(0) as u64,
        value,
        alpha,
        beta,
    }
}

fn dim(p: &Policy) -> usize {
    p.cfg.linear.as_ref().map_or(1, |l| l.dim())
}

fn fresh_linear(p: &Policy) -> LinArm {
    let ridge = p.cfg.linear.as_ref().map_or(1.0, |l| l.ridge);
    LinArm::new(dim(p), ridge)
}

/// Per action, the stats of (state, action) if the policy has any (read-only).
pub fn arms(p: &Policy, state: &str) -> SqlResult<Vec<Option<ArmStats>>> {
    let mut out = vec![None; p.cfg.actions.len()];
    let found = table_rows::lookup(
        c"policy_state",
        c"policy_state_pkey",
        &[(c"policy_id", Key::Int8(p.id)), (c"state", Key::Text(state))],
        &[c"action", c"n", c"value", c"alpha", c"beta"],
        |r| {
            // SAFETY: datums of the columns named, of their types (text, int8, float8 x3), valid
            // during this call.
            let (action, n, value, alpha, beta) = unsafe {
                (
                    table_rows::value::<&str>(r[0]),
                    table_rows::value::<i64>(r[1]),
                    table_rows::value::<f64>(r[2]),
                    table_rows::value::<f64>(r[3]),
                    table_rows::value::<f64>(r[4]),
                )
            };
            if let Some(i) = action.and_then(|a| p.cfg.action_index(a)) {
                out[i] = Some(arm_from(
                    n.unwrap_or(0),
                    value.unwrap_or(0.0),
                    alpha.unwrap_or(0.0),
                    beta.unwrap_or(0.0),
                ));
            }
        },
    );
    if found {
        return Ok(out);
    }
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

/// The advisory-lock key of policy $1, spliced into the statements that take the lock.
macro_rules! policy_lock_key {
    () => {
        "pg_catalog.hashtextextended('pg_marketing.policy:' || $1, 0)"
    };
}

/// Locks the (state, action) row, creating it with the prior first, and returns its stats; takes
/// the policy's lock shared on the way (the lookup takes it when it finds the row, the upsert
/// always). An existing row (the usual case) is locked by SELECT .. FOR UPDATE, which writes no
/// new row version; a missing one is created by an upsert whose no-op DO UPDATE locks the row a
/// concurrent session may have created meanwhile.
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
    let prior = mkt_policy::update::prior(&p.cfg);
    let t = plans::update(
        c,
        concat!(
            "INSERT INTO mkt.policy_state AS s (policy_id, state, action, n, value, alpha, beta) ",
            "SELECT $1, $2, $3, 0, $4, $5, $6 FROM (SELECT pg_catalog.pg_advisory_xact_lock_shared(",
            policy_lock_key!(),
            ")) l ON CONFLICT (policy_id, state, action) DO UPDATE SET n = s.n ",
            "RETURNING n, value, alpha, beta"
        ),
        &[
            p.id.into(),
            state.into(),
            action.into(),
            prior.value.into(),
            prior.alpha.into(),
            prior.beta.into(),
        ],
    )
    .sql()?;
    stats(t)?.ok_or_else(|| missing_row("the upsert of a policy state row"))
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
        let t = spi::select(
            c,
            "SELECT state, action, value, n FROM mkt.policy_state WHERE policy_id = $1 ORDER BY state, action",
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

/// Takes the policy's exclusive (training) lock and reads its whole state.
pub fn lock_and_load(p: &Policy) -> SqlResult<Learned> {
    crate::pg::spi::execute(
        concat!("SELECT pg_catalog.pg_advisory_xact_lock(", policy_lock_key!(), ")"),
        &[p.id.into()],
    )?;
    let mut table: std::collections::HashMap<String, Vec<Option<ArmStats>>> = Default::default();
    let m = p.cfg.actions.len();
    Spi::connect(|c| {
        let t = spi::select(
            c,
            "SELECT state, action, n, value, alpha, beta FROM mkt.policy_state WHERE policy_id = $1 AND linear IS NULL",
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
        mkt_policy::Algorithm::LinUcb => Some(linear_arms(p)?),
        _ => None,
    };
    Ok(Learned { table, linear })
}

/// Upserts the rows of `learned` (LinUCB regressions of actions with rewards).
pub fn store(p: &Policy, learned: &Learned) -> SqlResult<()> {
    Spi::connect_mut(|c| {
        for (s, arms) in &learned.table {
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
        if let Some(linear) = &learned.linear {
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
