//! mkt.explain_recommendation

use super::check_k;
use crate::cache;
use crate::catalog::select_first;
use crate::error::{invalid, OrSql};
use mkt_core::ids::Id;
use mkt_reco::explain::{explain, AlsWeights};
use mkt_reco::{Algorithm, TrainConfig};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

#[pg_extern(stable, parallel_safe)]
fn explain_recommendation(
    model_name: &str,
    user_id: i64,
    item_id: i64,
    n: default!(i32, 5),
) -> Result<
    TableIterator<'static, (name!(because_item_id, i64), name!(contribution, f32))>,
    ErrorReport,
> {
    let n = check_k(n)?;
    let (model_id, model) = cache::get(model_name)?;
    let u = model
        .users
        .index_of(&Id::Int(user_id))
        .ok_or_else(|| invalid(format!("user {user_id} is not in model '{model_name}'; it has no history to explain")))?;
    let i = model
        .items
        .index_of(&Id::Int(item_id))
        .ok_or_else(|| invalid(format!("item {item_id} is not in model '{model_name}'")))?;
    let weights = if model.algorithm == Algorithm::Als {
        let params = select_first::<pgrx::JsonB>(
            "SELECT params FROM mkt.model_versions WHERE model_id = $1",
            &[model_id.into()],
        )?
        .map_or(serde_json::Value::Null, |j| j.0);
        match TrainConfig::parse(Algorithm::Als, &params).sql()?.0 {
            TrainConfig::Als(p) => AlsWeights {
                regularization: p.regularization,
                alpha: p.alpha,
            },
            _ => unreachable!("parsed as als"),
        }
    } else {
        AlsWeights {
            regularization: 0.0,
            alpha: 0.0,
        }
    };
    let e = explain(&model, u, i, weights).sql()?;
    let rows: Vec<(i64, f32)> = e
        .contributions
        .into_iter()
        .take(n)
        .map(|(j, c)| (model.items.int_id(j).unwrap_or_default(), c))
        .collect();
    Ok(TableIterator::new(rows))
}
