//! mkt.explain_recommendation: which items of a user's history weigh most in an item's score.

use crate::models::cache;
use crate::pg::error::{invalid, report, OrSql, SqlResult};
use crate::recommenders::catalog;
use mkt_core::ids::Id;
use mkt_core::Error;
use mkt_reco::explain::{explain, AlsWeights};
use mkt_reco::{Algorithm, TrainConfig};

pub fn explain_recommendation(
    model_name: &str,
    user_id: i64,
    item_id: i64,
    n: usize,
) -> SqlResult<Vec<(i64, f32)>> {
    let (model_id, model) = cache::get(model_name)?;
    let u = model.users.index_of(&Id::Int(user_id)).ok_or_else(|| {
        invalid(format!(
            "user {user_id} is not in model '{model_name}'; it has no history to explain"
        ))
    })?;
    let i = model
        .items
        .index_of(&Id::Int(item_id))
        .ok_or_else(|| invalid(format!("item {item_id} is not in model '{model_name}'")))?;
    let weights = if model.algorithm == Algorithm::Als {
        match TrainConfig::parse(Algorithm::Als, &catalog::params(model_id)?).sql()?.0 {
            TrainConfig::Als(p) => AlsWeights {
                regularization: p.regularization,
                alpha: p.alpha,
            },
            _ => return Err(report(Error::Internal("als params parsed as another algorithm".into()))),
        }
    } else {
        AlsWeights {
            regularization: 0.0,
            alpha: 0.0,
        }
    };
    let e = explain(&model, u, i, weights).sql()?;
    Ok(e.contributions
        .into_iter()
        .take(n)
        .map(|(j, c)| (model.items.int_id(j).unwrap_or_default(), c))
        .collect())
}
