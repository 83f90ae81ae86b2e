//! Campaigns' SQL functions: mkt.create_campaign, mkt.pause_campaign, mkt.resume_campaign,
//! mkt.drop_campaign, mkt.campaign_report, mkt.campaign_report_svg. The per-row runtime
//! (mkt.campaign_fire and what it calls) is in sql/campaigns.sql.

use crate::campaigns::lifecycle::{self, Definition};
use crate::pg::error::required;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{JsonB, PgRelation};

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
    let params = required(params, "params")?;
    lifecycle::create(Definition {
        name: required(campaign_name, "campaign_name")?,
        policy_name: required(policy_name, "policy_name")?,
        table: required(trigger_source, "trigger_source")?,
        subject_col: required(subject_col, "subject_col")?,
        context_cols: required(context_cols, "context_cols")?,
        condition,
        params: &params.0,
    })
}

#[pg_extern(volatile, parallel_unsafe)]
fn pause_campaign(campaign_name: &str) -> Result<(), ErrorReport> {
    lifecycle::set_paused(campaign_name, true)
}

#[pg_extern(volatile, parallel_unsafe)]
fn resume_campaign(campaign_name: &str) -> Result<(), ErrorReport> {
    lifecycle::set_paused(campaign_name, false)
}

#[pg_extern(volatile, parallel_unsafe)]
fn drop_campaign(campaign_name: &str) -> Result<(), ErrorReport> {
    lifecycle::drop_campaign(campaign_name)
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
    let rows = lifecycle::report_rows(required(campaign_name, "campaign_name")?, from_ts, to_ts)?;
    Ok(TableIterator::new(rows.into_iter().map(|r| {
        (
            r.arm,
            r.subjects,
            r.sends,
            r.conversions,
            r.conversion_rate,
            r.revenue,
            r.revenue_per_subject,
            r.uplift,
            r.uplift_ci_low,
            r.uplift_ci_high,
            r.p_value,
            r.note,
        )
    })))
}

#[pg_extern(stable, parallel_safe)]
fn campaign_report_svg(campaign_name: &str) -> Result<String, ErrorReport> {
    lifecycle::report_svg(campaign_name)
}
