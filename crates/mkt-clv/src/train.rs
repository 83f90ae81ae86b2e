//! One training of a customer-value model: the purchase model on every customer's (x, t_x, T),
//! the spend model on the repeat buyers, and the `parameters` document that reports both.

use crate::fit::{fit_purchases, fit_spend, Fit};
use crate::model::ClvModel;
use crate::options::TrainOptions;
use crate::history::Histories;
use crate::spend::Spend;
use crate::summary::Summary;
use mkt_core::progress::Tick;
use mkt_core::{Error, Result};
use serde_json::{json, Map, Value};

pub struct Trained {
    pub model: ClvModel,
    /// Of the purchase model (the spend model's is in `parameters`).
    pub log_likelihood: f64,
    /// Parameters with their standard errors, log-likelihoods, the spend model's and the
    /// correlation of frequency and spend among repeat buyers.
    pub parameters: Value,
}

/// A number for JSON: NaN and infinities (a singular Hessian's standard errors) become null.
fn number(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

fn named(names: &[&str], fit: &Fit) -> Map<String, Value> {
    let mut out = Map::new();
    let mut errors = Map::new();
    for (k, name) in names.iter().enumerate() {
        out.insert(name.to_string(), number(fit.params[k]));
        errors.insert(name.to_string(), number(fit.std_errors[k]));
    }
    out.insert("std_errors".into(), Value::Object(errors));
    out.insert("log_likelihood".into(), number(fit.log_likelihood));
    out.insert("iterations".into(), json!(fit.iterations));
    out
}

/// Fits on `pool`; `tick` runs on the calling thread between likelihood evaluations.
pub fn train(s: &Summary, o: &TrainOptions, tick: &mut dyn Tick, pool: &rayon::ThreadPool) -> Result<Trained> {
    if s.is_empty() {
        return Err(Error::EmptyData(if o.calibration_end.is_some() {
            "no customer made a purchase by calibration_end".into()
        } else {
            "the source has no customers to fit".into()
        }));
    }
    let histories = Histories::build(&s.frequency, &s.recency, &s.t);
    if histories.distinct.iter().all(|c| c.t == 0.0) {
        return Err(Error::EmptyData(format!(
            "every customer was first seen in the last {}: there is no time to fit on",
            s.period.name()
        )));
    }
    let purchases = fit_purchases(o.model, &histories.groups(), o.penalizer, tick, pool)?;
    let mut parameters = named(&o.model.param_names(), &purchases);
    parameters.insert("model".into(), json!(o.model.name()));
    parameters.insert("period".into(), json!(s.period.name()));
    let spend = if o.spend {
        let buyers: Vec<Spend> = (0..s.len())
            .filter(|&i| s.frequency[i] > 0.0 && s.monetary[i] > 0.0)
            .map(|i| Spend { x: s.frequency[i], m: s.monetary[i] })
            .collect();
        let (fit, correlation) = fit_spend(&buyers, o.penalizer, tick, pool)?;
        let mut doc = named(&["p", "q", "v"], &fit);
        doc.insert("model".into(), json!("gamma_gamma"));
        doc.insert("repeat_buyers".into(), json!(buyers.len()));
        // The model assumes spend and frequency independent; near 0 is what it wants.
        doc.insert("frequency_spend_correlation".into(), number(correlation));
        parameters.insert("spend".into(), Value::Object(doc));
        Some([fit.params[0], fit.params[1], fit.params[2]])
    } else {
        None
    };
    let p = &purchases.params;
    Ok(Trained {
        model: ClvModel::with_histories(o.model, [p[0], p[1], p[2], p[3]], spend, s, histories),
        log_likelihood: purchases.log_likelihood,
        parameters: Value::Object(parameters),
    })
}
