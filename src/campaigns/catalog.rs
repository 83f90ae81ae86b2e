//! SQL of campaigns (mkt.campaigns, their touches, attributions, queue, outbox and budget) and of
//! the triggers they install.

use crate::pg::error::{missing_row, OrSql, SqlResult};
use crate::pg::source::{self, read_only};
use crate::pg::spi::{self, select_first};
use mkt_core::names::quote_literal;
use mkt_metrics::uplift_report::ArmCounts;
use mkt_policy::campaign::Settings;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::JsonB;

/// A campaign as its catalog row names it.
pub struct Campaign {
    pub id: i64,
    pub source: String,
    pub trigger_name: String,
    pub function_name: String,
    pub seed: i64,
    /// The share of rows a targeted campaign takes untargeted (0: none).
    pub untargeted_sample: f64,
}

pub fn by_name(name: &str) -> SqlResult<Option<Campaign>> {
    Spi::connect(|c| {
        let t = spi::select(
            c,
            "SELECT campaign_id, trigger_source::text, trigger_name, function_name, seed,
                    coalesce((params -> 'target' ->> 'untargeted_sample')::float8, 0)
             FROM mkt.campaigns WHERE campaign_name = $1",
            &[name.into()],
        )?;
        if t.is_empty() {
            return Ok(None);
        }
        let r = t.first();
        Ok::<_, pgrx::spi::Error>(Some(Campaign {
            id: r.get::<i64>(1)?.unwrap_or_default(),
            source: r.get::<String>(2)?.unwrap_or_default(),
            trigger_name: r.get::<String>(3)?.unwrap_or_default(),
            function_name: r.get::<String>(4)?.unwrap_or_default(),
            seed: r.get::<i64>(5)?.unwrap_or_default(),
            untargeted_sample: r.get::<f64>(6)?.unwrap_or_default(),
        }))
    })
    .sql()
}

pub fn exists(name: &str) -> SqlResult<bool> {
    spi::select_bool(
        "SELECT EXISTS (SELECT 1 FROM mkt.campaigns WHERE campaign_name = $1)",
        &[name.into()],
    )
}

/// The name (as regclass text) and kind (relkind) of the relation `oid`.
pub fn relation(oid: pg_sys::Oid) -> SqlResult<(String, Option<String>)> {
    let name = select_first::<String>("SELECT $1::regclass::text", &[oid.into()])?.unwrap_or_default();
    let kind = select_first::<String>(
        "SELECT relkind::text FROM pg_catalog.pg_class WHERE oid = $1",
        &[oid.into()],
    )?;
    Ok((name, kind))
}

/// The type of a condition probe's one column (see mkt_policy::campaign::condition_probe),
/// planned with the transaction read-only and run on no row.
pub fn condition_type(probe: &str) -> SqlResult<pg_sys::Oid> {
    source::check_single_select(probe)?;
    read_only(|| {
        Spi::connect(|c| {
            spi::select(c, probe, &[])?
                .column_type_oid(1)
                .map(|o| o.value())
        })
    })
    .sql()
}

/// What a new campaign's catalog row holds.
pub struct NewCampaign<'a> {
    pub name: &'a str,
    pub policy_name: &'a str,
    pub table: pg_sys::Oid,
    pub subject: &'a str,
    pub context: &'a [String],
    pub condition: Option<&'a str>,
    pub params: &'a serde_json::Value,
    pub settings: &'a Settings,
}

/// Inserts the campaign's row; returns its id.
pub fn insert(n: &NewCampaign) -> SqlResult<i64> {
    let s = n.settings;
    let args: Vec<DatumWithOid> = vec![
        n.name.into(),
        n.policy_name.into(),
        n.table.into(),
        n.subject.into(),
        n.context.to_vec().into(),
        n.condition.into(),
        JsonB(n.params.clone()).into(),
        s.control_fraction.into(),
        s.frequency_cap.into(),
        s.frequency_interval.as_str().into(),
        s.daily_budget.into(),
        s.starts_at.as_deref().into(),
        s.ends_at.as_deref().into(),
        s.quiet.map(|q| q.0).into(),
        s.quiet.map(|q| q.1).into(),
        s.claim_timeout.as_str().into(),
        s.reward.into(),
        s.seed.into(),
        s.queued.into(),
    ];
    spi::update_first::<i64>(
        "INSERT INTO mkt.campaigns (campaign_name, policy_name, trigger_source, subject_col, context_cols, \
         condition, params, control_fraction, frequency_cap, frequency_interval, daily_budget, starts_at, \
         ends_at, quiet_from, quiet_to, claim_timeout, reward, seed, queued, trigger_name, function_name) \
         VALUES ($1, $2, $3::oid::regclass, $4, $5, $6, $7, $8, $9, $10::interval, $11, $12::timestamptz, \
         $13::timestamptz, $14, $15, $16::interval, $17, $18, $19, '', '') RETURNING campaign_id",
        &args,
    )?
    .ok_or_else(|| missing_row("INSERT INTO mkt.campaigns"))
}

/// Creates the campaign's trigger function (`body`, from mkt_policy::campaign) and the AFTER
/// INSERT trigger on `table` that runs it, and records their names.
pub fn install_trigger(
    id: i64,
    campaign_name: &str,
    table: &str,
    trigger_name: &str,
    function_name: &str,
    body: &str,
) -> SqlResult<()> {
    Spi::connect_mut(|c| {
        c.update(body, None, &[])?;
        c.update(
            &format!(
                "COMMENT ON FUNCTION {function_name}() IS {}",
                quote_literal(&format!(
                    "Trigger of campaign {campaign_name}: condition and context of each inserted row."
                ))
            ),
            None,
            &[],
        )?;
        c.update(
            &format!(
                "CREATE TRIGGER {trigger_name} AFTER INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {function_name}()"
            ),
            None,
            &[],
        )?;
        c.update(
            "UPDATE mkt.campaigns SET trigger_name = $2, function_name = $3 WHERE campaign_id = $1",
            None,
            &[id.into(), trigger_name.into(), function_name.into()],
        )
        .map(|_| ())
    })
    .sql()
}

/// Pauses or resumes; false when there is no such campaign.
pub fn set_paused(name: &str, paused: bool) -> SqlResult<bool> {
    spi::update_first::<i64>(
        "UPDATE mkt.campaigns SET paused = $2 WHERE campaign_name = $1 RETURNING campaign_id",
        &[name.into(), paused.into()],
    )
    .map(|r| r.is_some())
}

/// Removes the campaign's trigger and function, and its rows everywhere.
pub fn delete(c: &Campaign) -> SqlResult<()> {
    Spi::connect_mut(|s| {
        if !c.trigger_name.is_empty() {
            s.update(
                &format!("DROP TRIGGER IF EXISTS {} ON {}", c.trigger_name, c.source),
                None,
                &[],
            )?;
        }
        if !c.function_name.is_empty() {
            s.update(
                &format!("DROP FUNCTION IF EXISTS {}()", c.function_name),
                None,
                &[],
            )?;
        }
        for table in [
            "campaign_queue",
            "outbox",
            "attributions",
            "campaign_budget",
            "campaign_touches",
            "campaigns",
        ] {
            s.update(
                &format!("DELETE FROM mkt.{table} WHERE campaign_id = $1"),
                None,
                &[c.id.into()],
            )?;
        }
        Ok::<_, pgrx::spi::Error>(())
    })
    .sql()
}

/// Per arm (and the pooled treatment), its counts among touches between `from` and `to`.
pub fn arm_counts(
    campaign: &Campaign,
    from: Option<TimestampWithTimeZone>,
    to: Option<TimestampWithTimeZone>,
) -> SqlResult<Vec<(bool, ArmCounts)>> {
    // A targeted campaign's untargeted sample is told apart by redrawing it (the draw is a fixed
    // function of subject and seed); a fraction of 0 draws nobody.
    let in_sample =
        mkt_policy::campaign::untargeted_sample_sql("t.subject", "$4::int8", "$5::float8");
    Spi::connect(|c| {
        let t = spi::select(
            c,
            &format!(
                "WITH t AS (
                 SELECT t.*, a.value, a.touch_id IS NOT NULL AS converted, {in_sample} AS in_sample
                 FROM mkt.campaign_touches t
                 LEFT JOIN (SELECT touch_id, sum(value) AS value FROM mkt.attributions GROUP BY touch_id) a USING (touch_id)
                 WHERE t.campaign_id = $1 AND ($2::timestamptz IS NULL OR t.touched_at >= $2)
                   AND ($3::timestamptz IS NULL OR t.touched_at < $3))
             SELECT in_sample, arm, count(DISTINCT subject), count(*) FILTER (WHERE arm <> 'control'),
                    count(DISTINCT subject) FILTER (WHERE converted), coalesce(sum(value), 0)::float8
             FROM t GROUP BY in_sample, arm
             UNION ALL
             SELECT in_sample, 'all treated', count(DISTINCT subject), count(*), count(DISTINCT subject) FILTER (WHERE converted),
                    coalesce(sum(value), 0)::float8
             FROM t WHERE arm <> 'control' GROUP BY in_sample"
            ),
            &[
                campaign.id.into(),
                from.into(),
                to.into(),
                campaign.seed.into(),
                campaign.untargeted_sample.into(),
            ],
        )?;
        t.map(|r| {
            Ok((
                r.get::<bool>(1)?.unwrap_or(false),
                ArmCounts {
                    arm: r.get::<String>(2)?.unwrap_or_default(),
                    subjects: r.get::<i64>(3)?.unwrap_or(0),
                    sends: r.get::<i64>(4)?.unwrap_or(0),
                    converted: r.get::<i64>(5)?.unwrap_or(0),
                    revenue: r.get::<f64>(6)?.unwrap_or(0.0),
                },
            ))
        })
        .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .sql()
}

/// (arm, day, subjects, converted subjects) per arm and day, in that order.
pub fn daily(id: i64) -> SqlResult<Vec<(String, String, i64, i64)>> {
    Spi::connect(|s| {
        let t = spi::select(
            s,
            "SELECT t.arm, to_char(t.touched_at, 'YYYY-MM-DD'), count(DISTINCT t.subject),
                    count(DISTINCT t.subject) FILTER (WHERE EXISTS (SELECT 1 FROM mkt.attributions a WHERE a.touch_id = t.touch_id))
             FROM mkt.campaign_touches t WHERE t.campaign_id = $1 GROUP BY 1, 2 ORDER BY 1, 2",
            &[id.into()],
        )?;
        t.map(|r| {
            Ok((
                r.get::<String>(1)?.unwrap_or_default(),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<i64>(3)?.unwrap_or(0),
                r.get::<i64>(4)?.unwrap_or(0),
            ))
        })
        .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .sql()
}

