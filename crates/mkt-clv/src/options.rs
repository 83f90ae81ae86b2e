//! The `params` grammar of mkt.train_clv. Times stay text here: the SQL layer reads them as
//! timestamptz in the session's time zone.

use crate::period::Period;
use crate::purchases::Kind;
use mkt_core::params::Params;
use mkt_core::{Error, Result};
use serde_json::Value;

/// What the source holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// One row per purchase: customer, time, amount.
    Transactions,
    /// One row per customer with frequency, recency and T (in `period`s) already computed, and the
    /// mean repeat amount in the amount column.
    Summary { frequency: String, recency: String, t: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub model: Kind,
    pub period: Period,
    pub input: Input,
    /// Text of a timestamptz; transactions after it are the hold-out (or refused without one).
    pub calibration_end: Option<String>,
    pub holdout: bool,
    pub holdout_end: Option<String>,
    pub penalizer: f64,
    /// Fit Gamma-Gamma on the amounts.
    pub spend: bool,
    pub deploy: bool,
}

pub const KEYS: [&str; 11] = [
    "model",
    "period",
    "input",
    "calibration_end",
    "holdout",
    "holdout_end",
    "penalizer",
    "spend",
    "deploy",
    "frequency_col",
    "recency_col",
];
/// Summary input's third column (kept apart so KEYS reads as the common set).
const T_COL: &str = "t_col";

impl TrainOptions {
    pub fn parse(params: &Value, has_amount: bool) -> Result<Self> {
        let mut keys = KEYS.to_vec();
        keys.push(T_COL);
        let p = Params::new("mkt.train_clv", params, &keys)?;
        let model = Kind::parse(p.choice("model", "bg_nbd", &Kind::NAMES)?)?;
        let period = Period::parse(p.choice("period", "week", &Period::NAMES)?)?;
        let input = match p.choice("input", "transactions", &["transactions", "summary"])? {
            "summary" => Input::Summary {
                frequency: p.text("frequency_col")?.unwrap_or_else(|| "frequency".into()),
                recency: p.text("recency_col")?.unwrap_or_else(|| "recency".into()),
                t: p.text(T_COL)?.unwrap_or_else(|| "t".into()),
            },
            _ => {
                for k in ["frequency_col", "recency_col", T_COL] {
                    if p.value(k).is_some() {
                        return Err(Error::invalid(format!(
                            "parameter \"{k}\" is for \"input\": \"summary\""
                        )));
                    }
                }
                Input::Transactions
            }
        };
        let calibration_end = p.text("calibration_end")?;
        let holdout_end = p.text("holdout_end")?;
        let holdout = p.boolean("holdout", true)?;
        if input != Input::Transactions && (calibration_end.is_some() || holdout_end.is_some()) {
            return Err(Error::invalid(
                "calibration_end and holdout_end split transactions; a summary input has none",
            ));
        }
        if calibration_end.is_none() && (holdout_end.is_some() || p.value("holdout").is_some()) {
            return Err(Error::invalid("a hold-out needs calibration_end"));
        }
        if holdout_end.is_some() && !holdout {
            return Err(Error::invalid("holdout_end contradicts \"holdout\": false"));
        }
        let spend = match p.choice("spend", if has_amount { "gamma_gamma" } else { "none" }, &["gamma_gamma", "none"])? {
            "gamma_gamma" if !has_amount => {
                return Err(Error::invalid(
                    "spend \"gamma_gamma\" needs amount_col, the column of purchase amounts",
                ))
            }
            s => s == "gamma_gamma",
        };
        Ok(TrainOptions {
            model,
            period,
            input,
            calibration_end,
            holdout,
            holdout_end,
            penalizer: p.float("penalizer", 0.0, 0.0, 1e6)?,
            spend,
            deploy: p.boolean("deploy", true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_refusals() {
        let o = TrainOptions::parse(&json!({}), true).unwrap();
        assert_eq!((o.model, o.period, o.spend, o.deploy, o.penalizer), (Kind::BgNbd, Period::Week, true, true, 0.0));
        assert!(!TrainOptions::parse(&json!({}), false).unwrap().spend);
        let o = TrainOptions::parse(&json!({"input": "summary", "t_col": "T", "model": "pareto_nbd"}), false).unwrap();
        assert_eq!(o.input, Input::Summary { frequency: "frequency".into(), recency: "recency".into(), t: "T".into() });
        let err = |v: Value, amount: bool| TrainOptions::parse(&v, amount).unwrap_err().to_string();
        assert!(err(json!({"model": "bg"}), false).contains("valid values are: bg_nbd, pareto_nbd, mbg_nbd"));
        assert!(err(json!({"period": "year"}), false).contains("day, week, month"));
        assert!(err(json!({"spend": "gamma_gamma"}), false).contains("needs amount_col"));
        assert!(err(json!({"holdout_end": "2020-01-01"}), false).contains("needs calibration_end"));
        assert!(err(json!({"penalizer": -1}), false).contains("penalizer"));
        assert!(err(json!({"frequency_col": "f"}), false).contains("\"input\": \"summary\""));
        assert!(err(json!({"alpha": 1}), false).contains("unknown parameter \"alpha\""));
    }
}
