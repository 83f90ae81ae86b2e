//! SQL of erasure: deleting one subject's rows everywhere the extension keeps them.

use crate::pg::error::{OrSql, SqlResult};
use pgrx::prelude::*;

/// What a subject leaves behind, and the statement that deletes it ($1: the subject), in the order
/// they go: what points to a row before the row.
pub const PLACES: [(&str, &str); 5] = [
    (
        "attributions",
        "DELETE FROM mkt.attributions WHERE touch_id IN \
         (SELECT touch_id FROM mkt.campaign_touches WHERE subject = $1)",
    ),
    ("outbox", "DELETE FROM mkt.outbox WHERE subject = $1"),
    ("campaign_touches", "DELETE FROM mkt.campaign_touches WHERE subject = $1"),
    // Rewards still waiting for a fold, of the subject's decisions (the log exists only on a
    // single server; it is empty on Citus).
    (
        "reward_log",
        "DELETE FROM mkt.reward_log WHERE decision_id IN \
         (SELECT decision_id FROM mkt.decisions WHERE subject = $1)",
    ),
    ("decisions", "DELETE FROM mkt.decisions WHERE subject = $1"),
];

/// Runs one of `PLACES`' statements for `subject`; returns the rows it deleted.
pub fn delete(statement: &str, subject: &str) -> SqlResult<i64> {
    Spi::connect_mut(|c| {
        let t = c.update(
            &format!("WITH d AS ({statement} RETURNING 1) SELECT count(*) FROM d"),
            None,
            &[subject.into()],
        )?;
        Ok::<_, pgrx::spi::Error>(t.first().get::<i64>(1)?.unwrap_or(0))
    })
    .sql()
}
