//! Campaigns: mkt.create_campaign, mkt.pause_campaign, mkt.resume_campaign, mkt.drop_campaign,
//! mkt.campaign_report, mkt.campaign_report_svg. The per-row work (trigger, outbox, attribution)
//! is PL/pgSQL in sql/finalize.sql, where its plans are cached.

use crate::catalog::first;
use crate::error::{invalid, OrSql, required, SqlResult};
use crate::{policies, source};
use mkt_core::names::{quote_ident, quote_literal, quote_shown};
use mkt_core::params::Params;
use mkt_core::Error;
use mkt_metrics::rate_chart::{self, Point};
use mkt_metrics::uplift;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{JsonB, PgRelation};

/// The dollar-quote tag of generated trigger functions; a condition may not contain it.
const TAG: &str = "$mkt_campaign$";

struct Campaign {
    id: i64,
    source: String,
    trigger_name: String,
    function_name: String,
}

fn unknown_campaign(name: &str) -> ErrorReport {
    crate::error::report(Error::UndefinedObject(format!(
        "campaign {} does not exist",
        quote_shown(name)
    )))
}

fn load(name: &str) -> SqlResult<Campaign> {
    let row = Spi::connect(|c| {
        let t = c.select(
            "SELECT campaign_id, trigger_source::text, trigger_name, function_name FROM mkt.campaigns WHERE campaign_name = $1",
            None,
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
        }))
    })
    .sql()?;
    row.ok_or_else(|| unknown_campaign(name))
}

/// Checks that `condition` is one boolean expression over the table's columns, without running it
/// on any row.
fn check_condition(condition: &str, table: &str) -> SqlResult<()> {
    if condition.contains(TAG) {
        return Err(invalid(format!("a condition may not contain {TAG}")));
    }
    let probe = format!("SELECT ({condition}) AS mkt_condition FROM {table} LIMIT 0");
    source::check_single_select(&probe)?;
    let oid = source::read_only(|| {
        Spi::connect(|c| {
            c.select(&probe, None, &[])?
                .column_type_oid(1)
                .map(|o| o.value())
        })
    })
    .sql()?;
    if oid != pg_sys::BOOLOID {
        return Err(Error::WrongType(format!(
            "condition {} is not a boolean expression",
            quote_literal(condition)
        )))
        .sql();
    }
    Ok(())
}

/// Checked campaign parameters, in the form the catalog row stores them.
struct Settings {
    control_fraction: f64,
    frequency_cap: Option<i32>,
    frequency_interval: String,
    daily_budget: Option<i32>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    quiet: Option<(i32, i32)>,
    claim_timeout: String,
    reward: &'static str,
    seed: i64,
    queued: bool,
}

fn text_param(p: &Params, key: &str, default: Option<&str>) -> SqlResult<Option<String>> {
    match p.value(key) {
        None => Ok(default.map(str::to_string)),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(invalid(format!(
            "parameter \"{key}\" for {} must be a string, got {v}",
            p.owner()
        ))),
    }
}

fn settings(params: &serde_json::Value) -> SqlResult<Settings> {
    let p = Params::new(
        "a campaign",
        params,
        &[
            "control_fraction",
            "frequency_cap",
            "frequency_interval",
            "budget",
            "start",
            "end",
            "quiet_hours",
            "claim_timeout",
            "reward",
            "seed",
            "mode",
        ],
    )
    .sql()?;
    let quiet = match p.value("quiet_hours") {
        None => None,
        Some(v) => {
            let pair: Option<Vec<i64>> = v
                .as_array()
                .and_then(|a| a.iter().map(|x| x.as_i64()).collect());
            match pair.as_deref() {
                Some(&[from, to]) if (0..24).contains(&from) && (0..24).contains(&to) && from != to => {
                    Some((from as i32, to as i32))
                }
                _ => {
                    return Err(invalid(format!(
                        "quiet_hours must be [from_hour, to_hour] with two different hours 0..23, got {v}"
                    )))
                }
            }
        }
    };
    let optional_int = |key: &str| -> SqlResult<Option<i32>> {
        match p.value(key) {
            None => Ok(None),
            Some(_) => Ok(Some(p.int(key, 1, 1, i32::MAX as i64).sql()? as i32)),
        }
    };
    Ok(Settings {
        control_fraction: p.float("control_fraction", 0.1, 0.0, 0.99).sql()?,
        frequency_cap: optional_int("frequency_cap")?,
        frequency_interval: text_param(&p, "frequency_interval", Some("1 day"))?
            .unwrap_or_default(),
        daily_budget: optional_int("budget")?,
        starts_at: text_param(&p, "start", None)?,
        ends_at: text_param(&p, "end", None)?,
        quiet,
        claim_timeout: text_param(&p, "claim_timeout", Some("5 minutes"))?.unwrap_or_default(),
        reward: p
            .choice("reward", "conversion", &["conversion", "value"])
            .sql()?,
        seed: p.int("seed", 42, 0, i64::MAX).sql()?,
        queued: p.choice("mode", "immediate", &["immediate", "queued"]).sql()? == "queued",
    })
}

#[pg_extern(volatile, parallel_unsafe)]
fn create_campaign(
    campaign_name: Option<&str>,
    policy_name: Option<&str>,
    trigger_source: Option<PgRelation>,
    subject_col: Option<&str>,
    context_cols: default!(Option<Vec<Option<String>>>, "'{}'"),
    condition: default!(Option<&str>, "NULL"),
    params: default!(Option<JsonB>, "'{}'"),
) -> Result<(), ErrorReport> {
    let campaign_name = required(campaign_name, "campaign_name")?;
    let policy_name = required(policy_name, "policy_name")?;
    let trigger_source = required(trigger_source, "trigger_source")?;
    let subject_col = required(subject_col, "subject_col")?;
    let context_cols = required(context_cols, "context_cols")?;
    let params = required(params, "params")?;
    policies::check_policy_name(campaign_name)
        .map_err(|_| invalid("campaign name must be 1 to 128 bytes without control characters"))?;
    policies::load(policy_name)?;
    let oid = trigger_source.oid();
    let table = crate::catalog::select_first::<String>("SELECT $1::regclass::text", &[oid.into()])?
        .unwrap_or_default();
    let kind = crate::catalog::select_first::<String>(
        "SELECT relkind::text FROM pg_catalog.pg_class WHERE oid = $1",
        &[oid.into()],
    )?;
    if !matches!(kind.as_deref(), Some("r" | "p")) {
        return Err(Error::NotASelect(format!(
            "{table} is not a table; campaigns trigger on inserts into tables"
        )))
        .sql();
    }
    drop(trigger_source);
    let cols = source::describe(&source::Resolved {
        from: table.clone(),
        stored: true,
    })?;
    let subject = source::find_exact(&cols, subject_col, "subject")?
        .name
        .clone();
    let mut context = Vec::new();
    for c in super::no_nulls(Some(context_cols), "context_cols")? {
        context.push(source::find_exact(&cols, &c, "context")?.name.clone());
    }
    if let Some(cond) = condition {
        check_condition(cond, &table)?;
    }
    let s = settings(&params.0)?;
    let exists = crate::catalog::select_first::<i64>(
        "SELECT campaign_id FROM mkt.campaigns WHERE campaign_name = $1",
        &[campaign_name.into()],
    )?;
    if exists.is_some() {
        return Err(Error::DuplicateObject(format!(
            "campaign {} already exists",
            quote_literal(campaign_name)
        )))
        .sql();
    }
    let id = Spi::connect_mut(|c| {
        let args: Vec<DatumWithOid> = vec![
            campaign_name.into(),
            policy_name.into(),
            oid.into(),
            subject.as_str().into(),
            context.clone().into(),
            condition.into(),
            JsonB(params.0.clone()).into(),
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
        let t = c.update(
            "INSERT INTO mkt.campaigns (campaign_name, policy_name, trigger_source, subject_col, context_cols, \
             condition, params, control_fraction, frequency_cap, frequency_interval, daily_budget, starts_at, \
             ends_at, quiet_from, quiet_to, claim_timeout, reward, seed, queued, trigger_name, function_name) \
             VALUES ($1, $2, $3::oid::regclass, $4, $5, $6, $7, $8, $9, $10::interval, $11, $12::timestamptz, \
             $13::timestamptz, $14, $15, $16::interval, $17, $18, $19, '', '') RETURNING campaign_id",
            None,
            &args,
        )?;
        first::<i64>(t)
    })
    .sql()?
    .expect("RETURNING gives a row");
    let function_name = format!("mkt.campaign_trigger_{id}");
    let trigger_name = format!("mkt_campaign_{id}");
    let check = match condition {
        Some(cond) => format!(
            "    IF NOT coalesce((SELECT ({cond}) FROM (SELECT (NEW).*) AS mkt_row), false) THEN\n        RETURN NULL;\n    END IF;\n"
        ),
        None => String::new(),
    };
    let ctx: Vec<String> = context
        .iter()
        .map(|c| format!("{}, NEW.{}", quote_literal(c), quote_ident(c)))
        .collect();
    let body = format!(
        "CREATE FUNCTION {function_name}() RETURNS trigger LANGUAGE plpgsql AS {TAG}\nBEGIN\n{check}    \
         PERFORM mkt.campaign_fire({id}, (NEW.{subj})::text, jsonb_build_object({ctx}));\n    RETURN NULL;\nEND {TAG}",
        subj = quote_ident(&subject),
        ctx = ctx.join(", ")
    );
    Spi::connect_mut(|c| {
        c.update(&body, None, &[])?;
        c.update(
            &format!(
                "COMMENT ON FUNCTION {function_name}() IS {}",
                quote_literal(&format!("Trigger of campaign {campaign_name}: condition and context of each inserted row."))
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
            &[id.into(), trigger_name.as_str().into(), function_name.as_str().into()],
        )
        .map(|_| ())
    })
    .sql()
}

fn set_paused(name: &str, paused: bool) -> SqlResult<()> {
    let t = Spi::connect_mut(|c| {
        first::<i64>(c.update(
            "UPDATE mkt.campaigns SET paused = $2 WHERE campaign_name = $1 RETURNING campaign_id",
            None,
            &[name.into(), paused.into()],
        )?)
    })
    .sql()?;
    t.map(|_| ()).ok_or_else(|| unknown_campaign(name))
}

#[pg_extern(volatile, parallel_unsafe)]
fn pause_campaign(campaign_name: &str) -> Result<(), ErrorReport> {
    set_paused(campaign_name, true)
}

#[pg_extern(volatile, parallel_unsafe)]
fn resume_campaign(campaign_name: &str) -> Result<(), ErrorReport> {
    set_paused(campaign_name, false)
}

#[pg_extern(volatile, parallel_unsafe)]
fn drop_campaign(campaign_name: &str) -> Result<(), ErrorReport> {
    let c = load(campaign_name)?;
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

/// Per arm: (arm, subjects, sends, converted subjects, revenue).
type ArmRow = (String, i64, i64, i64, f64);

fn arm_rows(
    id: i64,
    from: Option<TimestampWithTimeZone>,
    to: Option<TimestampWithTimeZone>,
) -> SqlResult<Vec<ArmRow>> {
    Spi::connect(|c| {
        let t = c.select(
            "WITH t AS (
                 SELECT t.*, a.value, a.touch_id IS NOT NULL AS converted
                 FROM mkt.campaign_touches t
                 LEFT JOIN (SELECT touch_id, sum(value) AS value FROM mkt.attributions GROUP BY touch_id) a USING (touch_id)
                 WHERE t.campaign_id = $1 AND ($2::timestamptz IS NULL OR t.touched_at >= $2)
                   AND ($3::timestamptz IS NULL OR t.touched_at < $3))
             SELECT arm, count(DISTINCT subject), count(*) FILTER (WHERE arm <> 'control'),
                    count(DISTINCT subject) FILTER (WHERE converted), coalesce(sum(value), 0)::float8
             FROM t GROUP BY arm
             UNION ALL
             SELECT 'all treated', count(DISTINCT subject), count(*), count(DISTINCT subject) FILTER (WHERE converted),
                    coalesce(sum(value), 0)::float8
             FROM t WHERE arm <> 'control' HAVING count(*) > 0",
            None,
            &[id.into(), from.into(), to.into()],
        )?;
        t.map(|r| {
            Ok((
                r.get::<String>(1)?.unwrap_or_default(),
                r.get::<i64>(2)?.unwrap_or(0),
                r.get::<i64>(3)?.unwrap_or(0),
                r.get::<i64>(4)?.unwrap_or(0),
                r.get::<f64>(5)?.unwrap_or(0.0),
            ))
        })
        .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .sql()
}

#[pg_extern(stable, parallel_safe)]
fn campaign_report(
    campaign_name: Option<&str>,
    from_ts: default!(Option<TimestampWithTimeZone>, "NULL"),
    to_ts: default!(Option<TimestampWithTimeZone>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(arm, String),
            name!(subjects, i64),
            name!(sends, i64),
            name!(conversions, i64),
            name!(conversion_rate, Option<f64>),
            name!(revenue, f64),
            name!(revenue_per_subject, Option<f64>),
            name!(uplift, Option<f64>),
            name!(uplift_ci_low, Option<f64>),
            name!(uplift_ci_high, Option<f64>),
            name!(p_value, Option<f64>),
            name!(note, Option<String>),
        ),
    >,
    ErrorReport,
> {
    let campaign_name = required(campaign_name, "campaign_name")?;
    let c = load(campaign_name)?;
    let mut rows = arm_rows(c.id, from_ts, to_ts)?;
    // Control first, then the pooled treatment, then each action.
    rows.sort_by_key(|r| (r.0 != "control", r.0 != "all treated", r.0.clone()));
    let control = rows
        .iter()
        .find(|r| r.0 == "control")
        .map(|r| (r.3 as u64, r.1 as u64));
    let out: Vec<_> = rows
        .into_iter()
        .map(|(arm, subjects, sends, conv, revenue)| {
            let rate = (subjects > 0).then(|| conv as f64 / subjects as f64);
            let per = (subjects > 0).then(|| revenue / subjects as f64);
            let treated = (conv as u64, subjects as u64);
            let (u, note) = match (arm.as_str(), control) {
                ("control", _) => (None, None),
                (_, None) => (None, Some("no control group to compare with".to_string())),
                (_, Some(ctl)) => (
                    uplift::conversion_uplift(treated, ctl),
                    uplift::note(treated, ctl),
                ),
            };
            (
                arm,
                subjects,
                sends,
                conv,
                rate,
                revenue,
                per,
                u.map(|u| u.uplift),
                u.map(|u| u.ci_low),
                u.map(|u| u.ci_high),
                u.map(|u| u.p_value),
                note,
            )
        })
        .collect();
    Ok(TableIterator::new(out))
}

#[pg_extern(stable, parallel_safe)]
fn campaign_report_svg(campaign_name: &str) -> Result<String, ErrorReport> {
    let c = load(campaign_name)?;
    let daily: Vec<(String, String, i64, i64)> = Spi::connect(|s| {
        let t = s.select(
            "SELECT t.arm, to_char(t.touched_at, 'YYYY-MM-DD'), count(DISTINCT t.subject),
                    count(DISTINCT t.subject) FILTER (WHERE EXISTS (SELECT 1 FROM mkt.attributions a WHERE a.touch_id = t.touch_id))
             FROM mkt.campaign_touches t WHERE t.campaign_id = $1 GROUP BY 1, 2 ORDER BY 1, 2",
            None,
            &[c.id.into()],
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
    .sql()?;
    let mut series: Vec<(String, Vec<Point>)> = Vec::new();
    for (arm, day, subjects, conv) in daily {
        let p = Point {
            period: day,
            conversions: conv as u64,
            subjects: subjects as u64,
        };
        match series.iter_mut().find(|(a, _)| *a == arm) {
            Some((_, pts)) => pts.push(p),
            None => series.push((arm, vec![p])),
        }
    }
    series.sort_by_key(|(a, _)| (a != "control", a.clone()));
    Ok(rate_chart::svg(
        &format!("{campaign_name}: conversion rate per day (95% intervals)"),
        &series,
    ))
}
