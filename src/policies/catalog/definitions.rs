//! SQL of policy definitions (mkt.policies).

use crate::pg::error::{OrSql, SqlResult};
use crate::pg::plans;
use crate::pg::spi::first;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

/// A definition as stored.
pub struct Row {
    pub id: i64,
    pub algorithm: String,
    pub actions: Vec<String>,
    pub params: Value,
    pub version: i32,
}

/// The definition of `name` (read-only: no transaction id).
pub fn by_name(name: &str) -> SqlResult<Option<Row>> {
    Spi::connect(|c| {
        let t = plans::select(
            c,
            "SELECT policy_id, algorithm, actions, params, version FROM mkt.policies WHERE policy_name = $1",
            &[name.into()],
        )?;
        if t.is_empty() {
            return Ok(None);
        }
        let r = t.first();
        Ok::<_, pgrx::spi::Error>(Some(Row {
            id: r.get::<i64>(1)?.unwrap_or_default(),
            algorithm: r.get::<String>(2)?.unwrap_or_default(),
            actions: r.get::<Vec<String>>(3)?.unwrap_or_default(),
            params: r.get::<JsonB>(4)?.map(|j| j.0).unwrap_or(Value::Null),
            version: r.get::<i32>(5)?.unwrap_or(1),
        }))
    })
    .sql()
}

/// The name of the policy with id `policy_id`, if it still exists.
pub fn name_of(policy_id: i64) -> SqlResult<Option<String>> {
    Spi::connect(|c| {
        first::<String>(plans::select(
            c,
            "SELECT policy_name FROM mkt.policies WHERE policy_id = $1",
            &[policy_id.into()],
        )?)
    })
    .sql()
}

pub fn exists(name: &str) -> SqlResult<bool> {
    crate::pg::spi::select_bool(
        "SELECT EXISTS (SELECT 1 FROM mkt.policies WHERE policy_name = $1)",
        &[name.into()],
    )
}

/// Stores a new definition; false when one of that name exists.
pub fn insert(name: &str, actions: &[String], algorithm: &str, params: &Value) -> SqlResult<bool> {
    crate::pg::spi::update_first::<i64>(
        "INSERT INTO mkt.policies (policy_name, algorithm, actions, params) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (policy_name) DO NOTHING RETURNING policy_id",
        &[
            name.into(),
            algorithm.into(),
            actions.to_vec().into(),
            JsonB(params.clone()).into(),
        ],
    )
    .map(|id| id.is_some())
}

/// Deletes the policy with its state, waiting rewards and decisions; returns (policy id, the
/// number of decisions removed), or None when there is no such policy.
pub fn delete(name: &str) -> SqlResult<Option<(i64, i64)>> {
    Spi::connect_mut(|c| {
        let id = c
            .update(
                "DELETE FROM mkt.policies WHERE policy_name = $1 RETURNING policy_id",
                None,
                &[name.into()],
            )
            .sql()?;
        let Some(id) = first::<i64>(id).sql()? else {
            return Ok(None);
        };
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
        Ok(Some((id, first::<i64>(gone).sql()?.unwrap_or(0))))
    })
}

/// Ids of the policies whose rewards wait for mkt.fold_rewards.
pub fn deferred_ids() -> SqlResult<Vec<i64>> {
    Spi::connect(|c| {
        first::<Vec<i64>>(plans::select(
            c,
            "SELECT coalesce(array_agg(policy_id), '{}') FROM mkt.policies WHERE params ->> 'learning' = 'deferred'",
            &[],
        )?)
    })
    .sql()
    .map(Option::unwrap_or_default)
}

/// Bumps a policy's version (after batch training); returns the new one.
pub fn bump_version(policy_id: i64) -> SqlResult<Option<i32>> {
    crate::pg::spi::update_first::<i32>(
        "UPDATE mkt.policies SET version = version + 1 WHERE policy_id = $1 RETURNING version",
        &[policy_id.into()],
    )
}
