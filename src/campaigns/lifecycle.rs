//! Creating, pausing, resuming and dropping campaigns; their reports.

use crate::campaigns::catalog::{self, Campaign, NewCampaign};
use crate::pg::args::no_nulls;
use crate::pg::error::{report, OrSql, SqlResult};
use crate::pg::source;
use mkt_core::names::{quote_literal, quote_shown};
use mkt_core::Error;
use mkt_metrics::rate_chart;
use mkt_metrics::uplift_report::{self, ArmRow};
use mkt_policy::campaign::{self, Settings, Target, TargetModel, TargetRule};
use pgrx::prelude::*;
use pgrx::PgRelation;

fn unknown_campaign(name: &str) -> pgrx::pg_sys::panic::ErrorReport {
    report(Error::UndefinedObject(format!(
        "campaign {} does not exist",
        quote_shown(name)
    )))
}

fn load(name: &str) -> SqlResult<Campaign> {
    catalog::by_name(name)?.ok_or_else(|| unknown_campaign(name))
}

/// What mkt.create_campaign is given.
pub struct Definition<'a> {
    pub name: &'a str,
    pub policy_name: &'a str,
    pub table: PgRelation,
    pub subject_col: &'a str,
    pub context_cols: Vec<Option<String>>,
    pub condition: Option<&'a str>,
    pub params: &'a serde_json::Value,
}

/// The condition a targeted campaign adds: the model's score of the row at least a threshold
/// (given, or the model's held-out percentile that selects the top share), fixed now.
fn target_condition(
    campaign_name: &str,
    t: &Target,
    subject: &str,
    seed: i64,
) -> SqlResult<String> {
    let (kind, percentiles) = match (&t.model, &t.class) {
        (TargetModel::Uplift(m), _) => (
            "predicted uplift",
            crate::models::cache::uplift(m)?.1.score_quantiles.clone(),
        ),
        (TargetModel::Predictor(m), Some(class)) => {
            let p = crate::models::cache::predictor(m)?.1;
            crate::predictors::serve::class_index(m, &p, class)?;
            ("probability", Vec::new())
        }
        (TargetModel::Predictor(m), None) => {
            let p = crate::models::cache::predictor(m)?.1;
            crate::predictors::serve::one_score(
                m,
                &p,
                " to target by: add \"class\" to the target (with min_score, that class's probability; without, the rows the model calls that class)",
            )?;
            ("score", p.score_quantiles.clone())
        }
    };
    let threshold = match t.rule {
        TargetRule::AtLeast(x) => x,
        TargetRule::Called => 0.0,
        TargetRule::TopFraction(f) => {
            let x = mkt_predict::predictor::top_threshold(&percentiles, f).ok_or_else(|| {
                report(Error::InvalidParameter(format!(
                    "model {} kept no held-out scores to place top_fraction by (trained with validation_fraction 0); give a minimum score instead",
                    quote_shown(t.model_name())
                )))
            })?;
            notice!(
                "pg_marketing: campaign {} targets rows with {kind} >= {x:.6} (the top {:.0}% of the model's held-out rows)",
                quote_shown(campaign_name),
                f * 100.0
            );
            x
        }
    };
    Ok(t.condition(threshold, subject, seed))
}

pub fn create(d: Definition) -> SqlResult<()> {
    campaign::check_name(d.name).sql()?;
    crate::policies::cache::load(d.policy_name)?;
    let oid = d.table.oid();
    let (table, kind) = catalog::relation(oid)?;
    if !matches!(kind.as_deref(), Some("r" | "p")) {
        return Err(Error::WrongObjectType(format!(
            "{table} is not a table; campaigns trigger on inserts into tables"
        )))
        .sql();
    }
    drop(d.table);
    let cols = source::describe(&source::Resolved {
        from: table.clone(),
        stored: true,
    })?;
    let subject = source::find_exact(&cols, d.subject_col, "subject")?.name.clone();
    let mut context = Vec::new();
    for c in no_nulls(Some(d.context_cols), "context_cols")? {
        context.push(source::find_exact(&cols, &c, "context")?.name.clone());
    }
    if let Some(cond) = d.condition {
        let probe = campaign::condition_probe(cond, &table).sql()?;
        if catalog::condition_type(&probe)? != pg_sys::BOOLOID {
            return Err(Error::WrongType(format!(
                "condition {} is not a boolean expression",
                quote_literal(cond)
            )))
            .sql();
        }
    }
    let settings = Settings::parse(d.params).sql()?;
    if catalog::exists(d.name)? {
        return Err(Error::DuplicateObject(format!(
            "campaign {} already exists",
            quote_literal(d.name)
        )))
        .sql();
    }
    let id = catalog::insert(&NewCampaign {
        name: d.name,
        policy_name: d.policy_name,
        table: oid,
        subject: &subject,
        context: &context,
        condition: d.condition,
        params: d.params,
        settings: &settings,
    })?;
    let (trigger_name, function_name) = campaign::trigger_names(id);
    let targeted = match &settings.target {
        Some(t) => {
            let tc = target_condition(d.name, t, &subject, settings.seed)?;
            Some(match d.condition {
                Some(c) => format!("({c}) AND ({tc})"),
                None => tc,
            })
        }
        None => d.condition.map(str::to_string),
    };
    let body = campaign::trigger_function(&function_name, id, &subject, &context, targeted.as_deref());
    catalog::install_trigger(id, d.name, &table, &trigger_name, &function_name, &body)
}

pub fn set_paused(name: &str, paused: bool) -> SqlResult<()> {
    if catalog::set_paused(name, paused)? {
        Ok(())
    } else {
        Err(unknown_campaign(name))
    }
}

pub fn drop_campaign(name: &str) -> SqlResult<()> {
    catalog::delete(&load(name)?)
}

pub fn report_rows(
    name: &str,
    from: Option<TimestampWithTimeZone>,
    to: Option<TimestampWithTimeZone>,
) -> SqlResult<Vec<ArmRow>> {
    let c = load(name)?;
    let counts = catalog::arm_counts(&c, from, to)?;
    if c.untargeted_sample <= 0.0 {
        return Ok(uplift_report::rows(counts.into_iter().map(|(_, a)| a).collect()));
    }
    let (sample, targeted): (Vec<_>, Vec<_>) = counts.into_iter().partition(|(s, _)| *s);
    Ok(uplift_report::rows_with_sample(
        targeted.into_iter().map(|(_, a)| a).collect(),
        sample.into_iter().map(|(_, a)| a).collect(),
    ))
}

pub fn report_svg(name: &str) -> SqlResult<String> {
    let c = load(name)?;
    let series = uplift_report::daily_series(catalog::daily(c.id)?);
    Ok(rate_chart::svg(
        &format!("{name}: conversion rate per day (95% intervals)"),
        &series,
    ))
}
