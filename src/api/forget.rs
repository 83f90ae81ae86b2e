//! mkt.forget_subject: erasing one customer (GDPR-style) from everything the extension keeps.

use crate::error::{invalid, OrSql, SqlResult};
use crate::{catalog, invalidation, model_files};
use pgrx::prelude::*;
use pgrx::pg_sys::panic::ErrorReport;

/// Rows of `sql` (a DELETE ... RETURNING 1 wrapped in a count) for `subject`.
fn delete_count(sql: &str, subject: &str) -> SqlResult<i64> {
    Spi::connect_mut(|c| {
        let t = c.update(sql, None, &[subject.into()])?;
        Ok::<_, pgrx::spi::Error>(t.first().get::<i64>(1)?.unwrap_or(0))
    })
    .sql()
}

/// Removes the user from every stored version that knows them; returns how many versions.
fn forget_in_models(subject: &str) -> SqlResult<i64> {
    let ids: Vec<i64> = Spi::connect(|c| {
        // The versions the caller may rewrite (see README "Model ownership and grants").
        c.select(
            "SELECT model_id FROM mkt.model_versions WHERE mkt.model_allowed(model_name, 'manage') \
             ORDER BY model_id",
            None,
            &[],
        )?
            .map(|r| r.get::<i64>(1).map(|v| v.unwrap_or(0)))
            .collect::<Result<Vec<_>, _>>()
    })
    .sql()?;
    let mut changed = Vec::new();
    for id in ids {
        pgrx::check_for_interrupts!();
        // Locked before reading, so two erasures of one version never write over each other.
        Spi::connect_mut(|c| {
            c.update(
                "SELECT 1 FROM mkt.model_versions WHERE model_id = $1 FOR UPDATE",
                None,
                &[id.into()],
            )
            .map(|_| ())
        })
        .sql()?;
        let model = mkt_reco::blob::decode(&catalog::load_blob(id)?).sql()?;
        let Some(u) = model.users.index_of_text(subject) else {
            continue;
        };
        let erased = mkt_reco::forget::without_user(&model, u);
        drop(model);
        let blob = mkt_reco::blob::encode(&erased).sql()?;
        catalog::rewrite_blob(id, &blob, erased.n_users() as i64)?;
        changed.push(id);
    }
    if !changed.is_empty() {
        model_files::forget(&changed);
        invalidation::invalidate_everywhere(invalidation::Watched::Deployments);
    }
    Ok(changed.len() as i64)
}

#[pg_extern(volatile, parallel_unsafe)]
fn forget_subject(
    subject: &str,
) -> Result<TableIterator<'static, (name!(what, String), name!(removed, i64))>, ErrorReport> {
    crate::error::require_primary("mkt.forget_subject")?;
    if subject.is_empty() {
        return Err(invalid("subject must not be empty"));
    }
    let attributions = delete_count(
        "WITH d AS (DELETE FROM mkt.attributions WHERE touch_id IN \
         (SELECT touch_id FROM mkt.campaign_touches WHERE subject = $1) RETURNING 1) SELECT count(*) FROM d",
        subject,
    )?;
    let outbox = delete_count(
        "WITH d AS (DELETE FROM mkt.outbox WHERE subject = $1 RETURNING 1) SELECT count(*) FROM d",
        subject,
    )?;
    let touches = delete_count(
        "WITH d AS (DELETE FROM mkt.campaign_touches WHERE subject = $1 RETURNING 1) SELECT count(*) FROM d",
        subject,
    )?;
    // Rewards still waiting for a fold go first, with the subject's decisions they are for (the
    // log exists only on a single server).
    if !crate::citus::catalog_distributed()? {
        delete_count(
            "WITH d AS (DELETE FROM mkt.reward_log WHERE decision_id IN \
                 (SELECT decision_id FROM mkt.decisions WHERE subject = $1) RETURNING 1) SELECT count(*) FROM d",
            subject,
        )?;
    }
    let decisions = delete_count(
        "WITH d AS (DELETE FROM mkt.decisions WHERE subject = $1 RETURNING 1) SELECT count(*) FROM d",
        subject,
    )?;
    let models = forget_in_models(subject)?;
    Ok(TableIterator::new(vec![
        ("decisions".to_string(), decisions),
        ("campaign_touches".to_string(), touches),
        ("outbox".to_string(), outbox),
        ("attributions".to_string(), attributions),
        ("model_versions".to_string(), models),
    ]))
}
