//! A policy as the SQL layer holds it: its catalog identity, parsed definition and the feature
//! transform its contexts go through.

use crate::pg::error::{OrSql, SqlResult};
use mkt_core::names::quote_shown;
use mkt_core::Error;
use mkt_policy::draw_memo::DrawMemo;
use mkt_policy::PolicyConfig;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;

pub struct Policy {
    pub id: i64,
    pub name: String,
    pub version: i32,
    pub cfg: PolicyConfig,
    /// The feature transform every context goes through, when the policy names one.
    pub transform: Option<mkt_prep::Fitted>,
    /// Thompson draws of this backend's decisions, per state; a new definition or version of the
    /// policy is loaded as a new `Policy`, and with it an empty memo.
    pub draws: RefCell<DrawMemo>,
    /// The jsonb of distributions this backend logged, by their probabilities' bits: a policy's
    /// decisions repeat few distributions (one per state until it learns), and copying one costs
    /// less than writing it as text and parsing that into jsonb.
    pub distributions: RefCell<HashMap<Vec<u64>, Vec<u8>>>,
}

impl Policy {
    /// The context as the policy reads it: with the transform's outputs added.
    pub fn view(&self, context: &Value) -> mkt_core::Result<Value> {
        match &self.transform {
            Some(t) => mkt_prep::context::apply(t, context),
            None => Ok(context.clone()),
        }
    }

    pub fn context(&self, context: &Value) -> SqlResult<Value> {
        self.view(context).sql()
    }

    /// A distribution over the policy's actions as logged: {action: probability}.
    pub fn distribution_json(&self, probabilities: &[f64]) -> Value {
        let mut m = Map::new();
        for (a, q) in self.cfg.actions.iter().zip(probabilities) {
            m.insert(a.clone(), serde_json::json!(q));
        }
        Value::Object(m)
    }
}

/// The policy's transform, checked to be applicable to contexts.
pub fn transform_of(cfg: &PolicyConfig) -> SqlResult<Option<mkt_prep::Fitted>> {
    match &cfg.transform {
        None => Ok(None),
        Some(name) => {
            let (_, fitted) = crate::prep::transforms::load(name)?;
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
