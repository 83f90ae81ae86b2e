//! Deciding: an action for a context, drawn with the policy's probabilities and logged with them
//! (mkt.decide), and those probabilities without deciding (mkt.policy_probabilities).

use crate::pg::args::{no_nulls, GivenJsonb};
use crate::pg::citus;
use crate::pg::error::{report, require_primary, OrSql, SqlResult};
use crate::policies::cache;
use crate::policies::catalog::decisions::{self, LoggedDecision};
use crate::policies::catalog::state;
use crate::policies::policy::Policy;
use mkt_core::rng::Rng;
use mkt_core::Error;
use mkt_policy::config::Algorithm;
use mkt_policy::decide::{self, Decision, Knowledge};
use serde_json::Value;
use std::cell::RefCell;

thread_local! {
    /// Decisions of this backend draw from one generator, seeded per backend.
    static RNG: RefCell<Option<Rng>> = const { RefCell::new(None) };
}

pub(crate) fn with_backend_rng<T>(f: impl FnOnce(&mut Rng) -> T) -> T {
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
/// context's features; `f` also gets the state.
fn with_knowledge<T>(
    p: &Policy,
    context: &Value,
    f: impl FnOnce(&str, &Knowledge) -> T,
) -> SqlResult<(String, T)> {
    // Without a transform the policy reads the context as given: no copy.
    let transformed;
    let view = match &p.transform {
        None => context,
        Some(_) => {
            transformed = p.context(context)?;
            &transformed
        }
    };
    let state = p.cfg.state.key(view).sql()?;
    let out = match (&p.cfg.algorithm, &p.cfg.linear) {
        (Algorithm::LinUcb, Some(l)) => {
            let x = l.features(view).sql()?;
            let arms = state::linear_arms(p)?;
            f(&state, &Knowledge::Linear(&arms, &x))
        }
        _ => {
            let arms = state::arms(p, &state)?;
            f(&state, &Knowledge::Table(&arms))
        }
    };
    Ok((state, out))
}

/// A decision for `context` (minus `excluded` actions), logged with the context as the caller
/// gave it (`given`): (decision_id, action, probability).
pub fn decide(
    policy_name: &str,
    context: &Value,
    given: GivenJsonb,
    subject: Option<&str>,
    excluded: Option<Vec<Option<String>>>,
) -> SqlResult<(i64, String, f64)> {
    require_primary("mkt.decide")?;
    if subject.is_none() && citus::catalog_distributed()? {
        return Err(report(Error::NullValue(citus::NULL_SUBJECT.to_string())));
    }
    let p = cache::load(policy_name)?;
    let excluded = no_nulls(excluded, "excluded")?;
    let allowed = p.cfg.allowed(&excluded).sql()?;
    let (state, d): (String, Decision) = with_knowledge(&p, context, |state, k| {
        with_backend_rng(|rng| p.draws.borrow_mut().decide(&p.cfg, state, k, &allowed, rng))
    })?;
    let action = p.cfg.actions[d.action].clone();
    let probability = d.probabilities[d.action];
    let id = decisions::log_decision(
        &p,
        &LoggedDecision {
            subject,
            context: given,
            state: &state,
            action: &action,
            probability,
            probabilities: &d.probabilities,
        },
    )?;
    Ok((id, action, probability))
}

/// The policy's probability of each action for `context`, seeded by the policy and the state: the
/// same question gets the same answer.
pub fn probabilities(policy_name: &str, context: &Value) -> SqlResult<Vec<(String, f64)>> {
    citus::catalog_reads(|| {
        let p = cache::load(policy_name)?;
        let allowed = vec![true; p.cfg.actions.len()];
        let (_, probs) = with_knowledge(&p, context, |_, k| {
            let mut rng = Rng::stream(p.cfg.seed, p.id as u64);
            decide::probabilities(&p.cfg, k, &allowed, &mut rng)
        })?;
        Ok(p.cfg.actions.iter().cloned().zip(probs).collect())
    })
}
