//! Where a reward goes (mkt.reward and mkt.reward_trigger).
//!
//! - On a single server, a reward of a policy that learns immediately is written onto its
//!   decision and applied to the policy state in the same transaction.
//! - A reward of a policy with deferred learning is one insert into mkt.reward_log; the fold
//!   (mkt.fold_rewards) moves it onto its decision and learns from it later.
//! - On a Citus catalog every reward is written onto its decision, on the subject's worker, and
//!   waits for the fold.
//!
//! A decision takes one reward; a second one, an unknown decision or a decision of another
//! subject is refused.

use mkt_core::names::quote_shown;
use mkt_core::Error;

/// Which statement records the reward on the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionUpdate {
    /// Any decision of a policy that learns immediately (some policies learn deferred).
    ExceptDeferred,
    /// The decision of the given subject: on Citus a single-shard write on its worker.
    OfSubject,
    /// A decision by id alone.
    ById,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Try the reward log first (only where some policy learns deferred).
    pub log_deferred: bool,
    pub update: DecisionUpdate,
    /// The reward is learned in this transaction when it lands on its decision.
    pub apply_now: bool,
}

/// The route of a reward: `single_server` (rewards are learned at once there), whether any policy
/// learns deferred (only asked on a single server), whether a subject was given.
pub fn route(single_server: bool, any_deferred: bool, subject: bool) -> Route {
    let log_deferred = single_server && any_deferred;
    Route {
        log_deferred,
        update: if log_deferred {
            DecisionUpdate::ExceptDeferred
        } else if subject {
            DecisionUpdate::OfSubject
        } else {
            DecisionUpdate::ById
        },
        apply_now: single_server,
    }
}

/// Why a reward found no decision to land on: `found` is the subject of the decision with that id
/// ("" for none), if there is one.
pub fn refusal(decision_id: i64, found: Option<&str>, given: Option<&str>) -> Error {
    match (found, given) {
        (Some(s), Some(g)) if s != g => Error::UndefinedObject(format!(
            "decision {decision_id} is not for subject {}",
            quote_shown(g)
        )),
        (Some(_), _) => Error::InvalidState(format!("decision {decision_id} already has a reward")),
        (None, _) => Error::UndefinedObject(format!("decision {decision_id} does not exist")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewards_route_by_server_learning_and_subject() {
        let r = route(true, true, true);
        assert!(r.log_deferred && r.apply_now);
        assert_eq!(r.update, DecisionUpdate::ExceptDeferred);
        let r = route(true, false, true);
        assert_eq!((r.log_deferred, r.update), (false, DecisionUpdate::OfSubject));
        let r = route(false, true, false);
        assert!(!r.log_deferred && !r.apply_now, "Citus: no reward log, learned at the fold");
        assert_eq!(r.update, DecisionUpdate::ById);
    }

    #[test]
    fn refusals_say_why() {
        assert!(matches!(refusal(7, None, None), Error::UndefinedObject(m) if m == "decision 7 does not exist"));
        assert!(matches!(refusal(7, Some("a"), Some("b")), Error::UndefinedObject(m) if m.contains("not for subject")));
        assert!(matches!(refusal(7, Some("a"), Some("a")), Error::InvalidState(_)));
        assert!(matches!(refusal(7, Some(""), None), Error::InvalidState(_)));
    }
}
