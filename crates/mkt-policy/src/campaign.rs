//! Campaigns: their parameters and the trigger that fires them.
//!
//! A campaign decides with a policy for each row inserted into a table that meets its condition.
//! Its per-row work (schedule, quiet hours, frequency cap, control group, budget, decide, outbox)
//! runs in the database; this module checks what a campaign is created with and writes the
//! trigger function that hands each qualifying row to it.

use mkt_core::names::{quote_ident, quote_literal};
use mkt_core::params::Params;
use mkt_core::{Error, Result};
use serde_json::Value;

/// The dollar-quote tag of generated trigger functions; a condition may not contain it.
pub const TAG: &str = "$mkt_campaign$";

pub const KEYS: [&str; 12] = [
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
    "target",
];

/// Which model a targeted campaign scores each row with.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetModel {
    /// mkt.predict_uplift: message those the campaign moves.
    Uplift(String),
    /// mkt.predict: message those likely to act (or to leave).
    Predictor(String),
}

/// Which rows a targeted campaign acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetRule {
    /// The top share by score, judged by the model's held-out scores (their quantile fixes the
    /// threshold when the campaign is created).
    TopFraction(f64),
    /// A score at least this (with a class: the class's probability).
    AtLeast(f64),
    /// The class the model calls (argmax of a multiclass model, the threshold of a binary one).
    Called,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub model: TargetModel,
    /// A classifier's class that the rule is about, instead of the model's single score.
    pub class: Option<String>,
    pub rule: TargetRule,
    /// The share of all qualifying rows, drawn by subject and whatever the model says, that the
    /// campaign takes as well: an untargeted campaign in miniature (control group included), which
    /// measures what sending to everyone would have done. 0 draws none.
    pub untargeted_sample: f64,
}

/// Whether a subject falls in a targeted campaign's untargeted sample: a fixed function of the
/// subject and the campaign's seed, independent of its control-group draw (which hashes the bare
/// subject). `subject` is an SQL text expression; the report recomputes the same draw.
pub fn untargeted_sample_sql(subject: &str, seed: &str, fraction: &str) -> String {
    format!(
        "((pg_catalog.hashtextextended('mkt.untargeted:' || {subject}, {seed}) & 4294967295)::float8 / 4294967296.0 < {fraction})"
    )
}

impl Target {
    pub fn parse(v: &Value) -> Result<Target> {
        let keys = [
            "uplift_model",
            "predictor",
            "top_fraction",
            "min_uplift",
            "min_score",
            "class",
            "untargeted_sample",
        ];
        let p = Params::new("a campaign's target", v, &keys)?;
        let model = match (p.text("uplift_model")?, p.text("predictor")?) {
            (Some(m), None) => TargetModel::Uplift(m),
            (None, Some(m)) => TargetModel::Predictor(m),
            _ => {
                return Err(Error::invalid(
                    "target names one model: {\"uplift_model\": ...} or {\"predictor\": ...}",
                ))
            }
        };
        let (min_key, other) = match model {
            TargetModel::Uplift(_) => ("min_uplift", "min_score"),
            TargetModel::Predictor(_) => ("min_score", "min_uplift"),
        };
        if p.value(other).is_some() {
            return Err(Error::invalid(format!("target {other} is for the other kind of model; use {min_key}")));
        }
        let class = p.text("class")?;
        if class.is_some() && matches!(model, TargetModel::Uplift(_)) {
            return Err(Error::invalid(
                "target class is for a classifier named by predictor, not for an uplift model",
            ));
        }
        let rule = match (p.value("top_fraction").is_some(), p.value(min_key).is_some(), &class) {
            (true, _, Some(_)) => {
                return Err(Error::invalid(
                    "target top_fraction ranks a single score; with class give min_score (the class's probability), or neither to take the rows the model calls that class",
                ))
            }
            (false, true, Some(_)) => TargetRule::AtLeast(p.float(min_key, 0.0, 0.0, 1.0)?),
            (false, false, Some(_)) => TargetRule::Called,
            (true, false, None) => TargetRule::TopFraction(p.float("top_fraction", 1.0, 1e-6, 1.0)?),
            (false, true, None) => TargetRule::AtLeast(p.float(min_key, 0.0, -1e300, 1e300)?),
            _ => {
                return Err(Error::invalid(format!("target needs one of top_fraction and {min_key}")))
            }
        };
        let untargeted_sample = p.float("untargeted_sample", 0.0, 0.0, 0.5)?;
        Ok(Target {
            model,
            class,
            rule,
            untargeted_sample,
        })
    }

    pub fn model_name(&self) -> &str {
        match &self.model {
            TargetModel::Uplift(m) | TargetModel::Predictor(m) => m,
        }
    }

    /// The condition a row the campaign takes meets, over the trigger's row `mkt_row` (see
    /// `trigger_function`): the model reads its features from the row's columns by name; a
    /// subject in the untargeted sample qualifies without being scored.
    /// With a class and `TargetRule::Called`, `threshold` is not used.
    pub fn condition(&self, threshold: f64, subject: &str, seed: i64) -> String {
        let model = quote_literal(self.model_name());
        let picked = match (&self.model, &self.class, &self.rule) {
            (_, Some(c), TargetRule::Called) => {
                format!(
                    "mkt.predict_class({model}, to_jsonb(mkt_row)) = {}",
                    quote_literal(c)
                )
            }
            (_, Some(c), _) => format!(
                "mkt.predict_probability({model}, to_jsonb(mkt_row), {}) >= {threshold:?}",
                quote_literal(c)
            ),
            (TargetModel::Uplift(_), None, _) => {
                format!("mkt.predict_uplift({model}, to_jsonb(mkt_row)) >= {threshold:?}")
            }
            (TargetModel::Predictor(_), None, _) => {
                format!("mkt.predict({model}, to_jsonb(mkt_row)) >= {threshold:?}")
            }
        };
        if self.untargeted_sample > 0.0 {
            let sample = untargeted_sample_sql(
                &format!("(mkt_row.{})::text", quote_ident(subject)),
                &seed.to_string(),
                &format!("{:?}", self.untargeted_sample),
            );
            format!("{sample} OR {picked}")
        } else {
            picked
        }
    }
}

/// Checked campaign parameters, in the form the catalog row stores them.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub control_fraction: f64,
    pub frequency_cap: Option<i32>,
    pub frequency_interval: String,
    pub daily_budget: Option<i32>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    /// [from, to) hours of the day in which nothing is sent.
    pub quiet: Option<(i32, i32)>,
    pub claim_timeout: String,
    /// What a decision's reward is: "conversion" (0/1) or "value" (summed).
    pub reward: &'static str,
    pub seed: i64,
    /// Queued: the insert only queues the event, mkt.process_campaign decides later.
    pub queued: bool,
    pub target: Option<Target>,
}

fn text_param(p: &Params, key: &str, default: Option<&str>) -> Result<Option<String>> {
    match p.value(key) {
        None => Ok(default.map(str::to_string)),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(Error::invalid(format!(
            "parameter \"{key}\" for {} must be a string, got {v}",
            p.owner()
        ))),
    }
}

impl Settings {
    pub fn parse(params: &Value) -> Result<Settings> {
        let p = Params::new("a campaign", params, &KEYS)?;
        let quiet = match p.value("quiet_hours") {
            None => None,
            Some(v) => {
                let pair: Option<Vec<i64>> = v
                    .as_array()
                    .and_then(|a| a.iter().map(|x| x.as_i64()).collect());
                match pair.as_deref() {
                    Some(&[from, to])
                        if (0..24).contains(&from) && (0..24).contains(&to) && from != to =>
                    {
                        Some((from as i32, to as i32))
                    }
                    _ => {
                        return Err(Error::invalid(format!(
                            "quiet_hours must be [from_hour, to_hour] with two different hours 0..23, got {v}"
                        )))
                    }
                }
            }
        };
        let optional_int = |key: &str| -> Result<Option<i32>> {
            match p.value(key) {
                None => Ok(None),
                Some(_) => Ok(Some(p.int(key, 1, 1, i32::MAX as i64)? as i32)),
            }
        };
        Ok(Settings {
            control_fraction: p.float("control_fraction", 0.1, 0.0, 0.99)?,
            frequency_cap: optional_int("frequency_cap")?,
            frequency_interval: text_param(&p, "frequency_interval", Some("1 day"))?
                .unwrap_or_default(),
            daily_budget: optional_int("budget")?,
            starts_at: text_param(&p, "start", None)?,
            ends_at: text_param(&p, "end", None)?,
            quiet,
            claim_timeout: text_param(&p, "claim_timeout", Some("5 minutes"))?.unwrap_or_default(),
            reward: p.choice("reward", "conversion", &["conversion", "value"])?,
            seed: p.int("seed", 42, 0, i64::MAX)?,
            queued: p.choice("mode", "immediate", &["immediate", "queued"])? == "queued",
            target: p.value("target").map(Target::parse).transpose()?,
        })
    }
}

/// A campaign name is held to the rules of policy names.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 128 || name.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(
            "campaign name must be 1 to 128 bytes without control characters",
        ));
    }
    Ok(())
}

/// What `condition` is checked with before it is spliced into a trigger: one SELECT of it over
/// the table's columns (run with LIMIT 0, its type must be boolean).
pub fn condition_probe(condition: &str, table: &str) -> Result<String> {
    if condition.contains(TAG) {
        return Err(Error::invalid(format!("a condition may not contain {TAG}")));
    }
    Ok(format!(
        "SELECT ({condition}) AS mkt_condition FROM {table} LIMIT 0"
    ))
}

/// The names a campaign's trigger and its function get.
pub fn trigger_names(campaign_id: i64) -> (String, String) {
    (
        format!("mkt_campaign_{campaign_id}"),
        format!("mkt.campaign_trigger_{campaign_id}"),
    )
}

/// The trigger function of a campaign: it checks the condition against the new row (as `mkt_row`)
/// and hands the row's subject and context columns to mkt.campaign_fire.
pub fn trigger_function(
    function_name: &str,
    campaign_id: i64,
    subject: &str,
    context: &[String],
    condition: Option<&str>,
) -> String {
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
    format!(
        "CREATE FUNCTION {function_name}() RETURNS trigger LANGUAGE plpgsql AS {TAG}\nBEGIN\n{check}    \
         PERFORM mkt.campaign_fire({campaign_id}, (NEW.{subj})::text, jsonb_build_object({ctx}));\n    RETURN NULL;\nEND {TAG}",
        subj = quote_ident(subject),
        ctx = ctx.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_have_defaults_and_checked_ranges() {
        let s = Settings::parse(&json!({})).unwrap();
        assert_eq!(s.control_fraction, 0.1);
        assert_eq!((s.frequency_cap, s.daily_budget, s.quiet), (None, None, None));
        assert_eq!(s.frequency_interval, "1 day");
        assert_eq!((s.reward, s.seed, s.queued), ("conversion", 42, false));
        let s = Settings::parse(&json!({"quiet_hours": [22, 7], "mode": "queued", "budget": 5})).unwrap();
        assert_eq!((s.quiet, s.queued, s.daily_budget), (Some((22, 7)), true, Some(5)));
        let e = |v: Value| Settings::parse(&v).unwrap_err().to_string();
        assert!(e(json!({"quiet_hours": [7, 7]})).starts_with("quiet_hours must be"));
        assert!(e(json!({"start": 5})).contains("\"start\" for a campaign must be a string"));
        assert!(e(json!({"mode": "later"})).contains("later"));
        assert!(e(json!({"control_fraction": 1.0})).contains("control_fraction"));
        assert!(e(json!({"cap": 1})).contains("cap"));
    }

    fn e_sample(v: Value) -> bool {
        Target::parse(&v).unwrap_err().to_string().contains("untargeted_sample")
    }

    #[test]
    fn targets_name_one_model_and_one_rule() {
        let t = Target::parse(&json!({"uplift_model": "coupon", "top_fraction": 0.3})).unwrap();
        assert_eq!(
            t,
            Target {
                model: TargetModel::Uplift("coupon".into()),
                class: None,
                rule: TargetRule::TopFraction(0.3),
                untargeted_sample: 0.0
            }
        );
        assert_eq!(t.condition(0.0125, "id", 42), "mkt.predict_uplift('coupon', to_jsonb(mkt_row)) >= 0.0125");
        let t = Target::parse(&json!({"predictor": "it's churn", "min_score": 0.6})).unwrap();
        assert_eq!(t.condition(0.6, "id", 42), "mkt.predict('it''s churn', to_jsonb(mkt_row)) >= 0.6");
        // an untargeted sample qualifies by its subject's draw, before any scoring
        let t = Target::parse(&json!({"predictor": "p", "min_score": 0.6, "untargeted_sample": 0.1})).unwrap();
        assert_eq!(
            t.condition(0.6, "User Id", 7),
            "((pg_catalog.hashtextextended('mkt.untargeted:' || (mkt_row.\"User Id\")::text, 7) & 4294967295)::float8 \
             / 4294967296.0 < 0.1) OR mkt.predict('p', to_jsonb(mkt_row)) >= 0.6"
        );
        assert!(e_sample(json!({"predictor": "p", "min_score": 0.6, "untargeted_sample": 0.9})));
        let e = |v| Target::parse(&v).unwrap_err().to_string();
        assert!(e(json!({"top_fraction": 0.3})).contains("names one model"));
        assert!(e(json!({"uplift_model": "a", "predictor": "b", "top_fraction": 0.3})).contains("names one model"));
        assert!(e(json!({"uplift_model": "a"})).contains("one of top_fraction and min_uplift"));
        assert!(e(json!({"uplift_model": "a", "min_score": 0.5})).contains("min_uplift"));
        assert!(e(json!({"predictor": "a", "top_fraction": 1.5})).contains("top_fraction"));
        assert!(
            e(json!({"predictor": "a", "min_score": 0.5, "top": 1})).contains("unknown parameter")
        );
        assert!(
            Settings::parse(&json!({"target": {"predictor": "p", "min_score": 0.5}}))
                .unwrap()
                .target
                .is_some()
        );
    }

    #[test]
    fn a_class_target_takes_its_probability_or_the_called_class() {
        let t =
            Target::parse(&json!({"predictor": "segment", "class": "lapsing", "min_score": 0.4}))
                .unwrap();
        assert_eq!(
            (t.class.as_deref(), &t.rule),
            (Some("lapsing"), &TargetRule::AtLeast(0.4))
        );
        assert_eq!(
            t.condition(0.4, "id", 42),
            "mkt.predict_probability('segment', to_jsonb(mkt_row), 'lapsing') >= 0.4"
        );
        let t = Target::parse(&json!({"predictor": "segment", "class": "it's new"})).unwrap();
        assert_eq!(t.rule, TargetRule::Called);
        assert_eq!(
            t.condition(0.0, "id", 42),
            "mkt.predict_class('segment', to_jsonb(mkt_row)) = 'it''s new'"
        );
        let e = |v| Target::parse(&v).unwrap_err().to_string();
        assert!(
            e(json!({"predictor": "s", "class": "a", "top_fraction": 0.3}))
                .contains("with class give min_score")
        );
        assert!(e(json!({"predictor": "s", "class": "a", "min_score": 1.5})).contains("min_score"));
        assert!(
            e(json!({"uplift_model": "u", "class": "a", "min_uplift": 0.1}))
                .contains("not for an uplift model")
        );
        assert!(e(json!({"predictor": "s", "class": 3})).contains("class"));
    }

    #[test]
    fn the_trigger_checks_the_condition_and_passes_subject_and_context() {
        let f = trigger_function(
            "mkt.campaign_trigger_3",
            3,
            "User Id",
            &["event_type".into()],
            Some("event_type = 'cart'"),
        );
        assert!(f.starts_with("CREATE FUNCTION mkt.campaign_trigger_3() RETURNS trigger"));
        assert!(f.contains("IF NOT coalesce((SELECT (event_type = 'cart') FROM (SELECT (NEW).*) AS mkt_row), false)"));
        assert!(f.contains("PERFORM mkt.campaign_fire(3, (NEW.\"User Id\")::text, jsonb_build_object('event_type', NEW.\"event_type\"));"));
        assert_eq!(trigger_names(3), ("mkt_campaign_3".into(), "mkt.campaign_trigger_3".into()));
        assert!(condition_probe("x $mkt_campaign$", "t").is_err());
        assert!(check_name("").is_err() && check_name("spring").is_ok());
    }
}
