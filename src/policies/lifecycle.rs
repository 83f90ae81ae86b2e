//! Creating and dropping policies; every backend re-reads definitions after either commits.

use crate::pg::error::{report, OrSql, SqlResult};
use crate::pg::invalidation::{invalidate_everywhere, Watched};
use crate::policies::catalog::definitions;
use crate::policies::policy::{check_policy_name, transform_of};
use mkt_core::names::quote_shown;
use mkt_core::Error;
use mkt_policy::PolicyConfig;
use serde_json::Value;

pub fn create(name: &str, actions: &[String], algorithm: &str, params: &Value) -> SqlResult<()> {
    check_policy_name(name)?;
    // Parsing first: a bad definition leaves nothing behind.
    let cfg = PolicyConfig::parse(actions, algorithm, params).sql()?;
    transform_of(&cfg)?;
    if !definitions::insert(name, actions, algorithm, params)? {
        return Err(Error::DuplicateObject(format!(
            "policy {} already exists",
            quote_shown(name)
        )))
        .sql();
    }
    invalidate_everywhere(Watched::Policies);
    Ok(())
}

/// Drops the policy with its state and decisions; returns how many decisions went with it.
pub fn drop(name: &str) -> SqlResult<i64> {
    let Some((_, decisions)) = definitions::delete(name)? else {
        return Err(report(Error::UndefinedObject(format!(
            "policy {} does not exist",
            quote_shown(name)
        ))));
    };
    invalidate_everywhere(Watched::Policies);
    Ok(decisions)
}
