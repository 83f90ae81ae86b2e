//! Policy definitions parsed once per backend, and the ids of the policies that learn deferred,
//! both trusted until mkt.policies changes (see `invalidation`).

use crate::pg::citus::cache_epoch;
use crate::pg::epoch_cache::EpochCache;
use crate::pg::error::{report, OrSql, SqlResult};
use crate::pg::invalidation::Watched;
use crate::policies::catalog::definitions;
use crate::policies::policy::{transform_of, Policy};
use mkt_core::names::quote_shown;
use mkt_core::Error;
use mkt_policy::PolicyConfig;
use std::rc::Rc;

thread_local! {
    static POLICIES: EpochCache<Rc<Policy>> = EpochCache::new(1000);
    static DEFERRED: EpochCache<Rc<Vec<i64>>> = EpochCache::new(1);
}

/// The policy's definition (read-only: no transaction id).
pub fn load(name: &str) -> SqlResult<Rc<Policy>> {
    let epoch = cache_epoch(Watched::Policies)?;
    POLICIES.with(|c| c.get_or_load(name, epoch, || load_uncached(name).map(Rc::new)))
}

fn load_uncached(name: &str) -> SqlResult<Policy> {
    let Some(row) = definitions::by_name(name)? else {
        return Err(report(Error::UndefinedObject(format!(
            "policy {} does not exist",
            quote_shown(name)
        ))));
    };
    let cfg = PolicyConfig::parse(&row.actions, &row.algorithm, &row.params).sql()?;
    let transform = transform_of(&cfg)?;
    Ok(Policy {
        id: row.id,
        name: name.to_string(),
        version: row.version,
        cfg,
        transform,
        draws: Default::default(),
        distributions: Default::default(),
    })
}

/// The policy with id `policy_id` (a decision's).
pub fn load_by_id(policy_id: i64) -> SqlResult<Rc<Policy>> {
    let epoch = cache_epoch(Watched::Policies)?;
    if let Some(p) = POLICIES.with(|c| c.find(epoch, |p| p.id == policy_id)) {
        return Ok(p);
    }
    let name = definitions::name_of(policy_id)?.ok_or_else(|| {
        report(Error::UndefinedObject(format!(
            "the policy of this decision (id {policy_id}) was dropped"
        )))
    })?;
    load(&name)
}

/// The policies whose rewards wait for mkt.fold_rewards (read once per change of mkt.policies).
pub fn deferred_ids() -> SqlResult<Rc<Vec<i64>>> {
    let epoch = cache_epoch(Watched::Policies)?;
    DEFERRED.with(|c| c.get_or_load("", epoch, || definitions::deferred_ids().map(Rc::new)))
}
