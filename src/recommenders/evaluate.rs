//! mkt.evaluate_recommender: ranking metrics of the deployed version on a test source, stored
//! with that version.

use crate::models::{cache, catalog};
use crate::pg::error::{OrSql, SqlResult};
use crate::pg::{pool, source};
use pgrx::prelude::*;
use serde_json::{json, Map, Value};

pub fn evaluate(
    model_name: &str,
    test_source: &str,
    k: usize,
    user_col: &str,
    item_col: &str,
) -> SqlResult<Vec<(String, f64)>> {
    let (model_id, model) = cache::get(model_name)?;
    let src = source::resolve(test_source)?;
    let cols = source::describe(&src)?;
    let ucol = source::find(&cols, user_col, "user")?;
    let icol = source::find(&cols, item_col, "item")?;
    // Read ids in the model's own kinds, so text test ids match text model ids and vice versa.
    source::id_kind(ucol, "user")?;
    source::id_kind(icol, "item")?;
    let pairs = source::read_pairs(
        &src,
        &source::PairSpec {
            user: (&ucol.name, model.users.kind()),
            item: (&icol.name, model.items.kind()),
            weight: None,
            time: None,
        },
    )?;
    if pairs.skipped_nulls > 0 {
        notice!(
            "skipped {} test rows with a NULL user or item",
            pairs.skipped_nulls
        );
    }
    let pool = pool::pool()?;
    let eval = mkt_reco::evaluate::evaluate(&model, &pairs.users, &pairs.items, k, &pool).sql()?;
    let named = eval.named();
    let mut m = Map::new();
    for (name, v) in &named {
        m.insert(name.clone(), json!(v));
    }
    m.insert(
        "evaluated_on".into(),
        Value::String(test_source.to_string()),
    );
    catalog::record_metrics(model_id, Value::Object(m))?;
    Ok(named)
}
