//! mkt.forget_subject: erasing one customer (GDPR-style) from everything the extension keeps.

use crate::erasure::catalog::{self, PLACES};
use crate::models::stored::Stored;
use crate::models::{catalog as models, lifecycle};
use crate::pg::citus;
use crate::pg::error::{invalid, require_primary, OrSql, SqlResult};

/// (what, rows removed) for each place the subject was removed from.
pub fn forget(subject: &str) -> SqlResult<Vec<(String, i64)>> {
    require_primary("mkt.forget_subject")?;
    if subject.is_empty() {
        return Err(invalid("subject must not be empty"));
    }
    let single_server = !citus::catalog_distributed()?;
    let mut removed = Vec::new();
    for (what, statement) in PLACES {
        if what == "reward_log" && !single_server {
            continue;
        }
        removed.push((what, catalog::delete(statement, subject)?));
    }
    // The versions the caller may rewrite (see README "Model ownership and grants").
    let models = lifecycle::rewrite_each(&models::manageable_ids()?, |stored| match stored {
        Stored::Recommender(model) => {
            let Some(u) = model.users.index_of_text(subject) else {
                return Ok(None);
            };
            let erased = mkt_reco::forget::without_user(&model, u);
            drop(model);
            let blob = mkt_reco::blob::encode(&erased).sql()?;
            Ok(Some((blob, erased.n_users() as i64)))
        }
        Stored::CustomerValue(model) => {
            let Some(c) = model.customers.index_of_text(subject) else {
                return Ok(None);
            };
            let erased = model.without(c as usize);
            let blob = mkt_clv::model::encode(&erased).sql()?;
            Ok(Some((blob, erased.len() as i64)))
        }
        // They keep no row of any customer: nothing to erase.
        Stored::Predictor(_) | Stored::Uplift(_) => Ok(None),
    })?;
    let count = |what: &str| removed.iter().find(|r| r.0 == what).map_or(0, |r| r.1);
    Ok(vec![
        ("decisions".to_string(), count("decisions")),
        ("campaign_touches".to_string(), count("campaign_touches")),
        ("outbox".to_string(), count("outbox")),
        ("attributions".to_string(), count("attributions")),
        ("model_versions".to_string(), models),
    ])
}
