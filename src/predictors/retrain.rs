//! mkt.retrain of a predictor or uplift model: its stored definition (source, label or treatment
//! and outcome, features, task, algorithm, params) re-run on current data. The challenger is judged
//! against the serving version on the rows the challenger held out: ROC-AUC for classification,
//! RMSE for regression, accuracy for multiclass, the Qini coefficient for uplift.

use crate::models::stored::Stored;
use crate::models::{access, cache, catalog as models};
use crate::pg::error::{report, OrSql, SqlResult};
use crate::predictors::catalog;
use crate::predictors::train::{self, Verdict};
use mkt_core::Error;
use mkt_predict::classification::{regression_errors, roc_auc};
use mkt_predict::features::{recode, Value};
use mkt_predict::predictor::{Predictor, Task};
use mkt_predict::uplift_metrics::{qini_coefficient, Scored};
use mkt_reco::champion::DeployRule;
use serde_json::json;

/// Whether an algorithm name is one of this area's.
pub fn owns(algorithm: &str) -> bool {
    mkt_predict::predictor::Algorithm::parse(algorithm).is_ok()
        || mkt_predict::uplift::Meta::parse(algorithm).is_ok()
}

/// A predictor's ROC-AUC (classification), RMSE (regression) or accuracy (multiclass: the class
/// called is the true one, by name, so a champion with other classes is judged fairly) on
/// held-out rows whose labels are in the challenger's `task` and `classes`.
fn judge(
    task: Task,
    classes: &[String],
    p: &Predictor,
    rows: &[Vec<Value>],
    y: &[f64],
) -> Option<f64> {
    if p.task != task || y.is_empty() {
        return None;
    }
    if task == Task::Multiclass {
        let right = rows
            .iter()
            .zip(y)
            .filter(|(r, &v)| {
                p.predict_class(r)
                    .is_some_and(|(c, _)| classes.get(v as usize) == p.classes.get(c))
            })
            .count();
        return Some(right as f64 / y.len() as f64);
    }
    let scores: Vec<f64> = rows.iter().map(|r| p.predict(r)).collect();
    match task {
        Task::Classification => roc_auc(&scores, &y.iter().map(|&v| v == 1.0).collect::<Vec<_>>()),
        _ => Some(regression_errors(&scores, y).rmse),
    }
}

fn decide(
    rule: DeployRule,
    metric: Option<f64>,
    previous: Option<f64>,
    higher_better: bool,
    what: &str,
    n: usize,
) -> Verdict {
    let better = match (metric, previous) {
        (Some(m), Some(p)) => {
            if higher_better {
                m > p
            } else {
                m < p
            }
        }
        (_, None) => true,
        (None, Some(_)) => false,
    };
    let deploy = match rule {
        DeployRule::Always => true,
        DeployRule::Never => false,
        DeployRule::IfBetter => better,
    };
    let show = |v: Option<f64>| v.map_or("undefined".to_string(), |v| format!("{v:.4}"));
    let reason = match previous {
        Some(_) => format!(
            "retrain: {what} {} vs {} of the serving version on the same {n} held-out rows",
            show(metric),
            show(previous)
        ),
        None => format!("retrain: {what} {}; nothing was serving", show(metric)),
    };
    Verdict { deploy, reason }
}

/// (version, metric, previous metric, deployed), mkt.retrain's row.
pub fn retrain(
    model_name: &str,
    rule: DeployRule,
    id: i64,
) -> SqlResult<(i32, f64, Option<f64>, bool)> {
    let def = catalog::definition(id)?;
    if def.source == "import" {
        return Err(report(Error::NotSupported(format!(
            "model '{model_name}' was imported; it has no source to retrain from"
        ))));
    }
    access::require(model_name, access::Privilege::Manage)?;
    let stored = Stored::decode(&models::load_blob(id)?).sql()?;
    let mut judged = (f64::NAN, None);
    let out = match stored {
        Stored::Predictor(defining) => {
            let champion = cache::predictor(model_name).ok().map(|(_, m)| m);
            let features = defining.features.names.clone();
            train::train_predictor_with(
                model_name,
                &def.source,
                &def.target_col,
                Some(&features),
                defining.task.name(),
                &def.algorithm,
                &def.params,
                |p, vx, vy, _| {
                    let rows: Vec<Vec<Value>> = (0..vx.rows()).map(|i| vx.row(i)).collect();
                    let metric = judge(p.task, &p.classes, p, &rows, vy);
                    let previous = champion.as_ref().and_then(|c| {
                        let theirs: Vec<Vec<Value>> = rows
                            .iter()
                            .map(|r| recode(r, &p.features, &c.features))
                            .collect();
                        judge(p.task, &p.classes, c, &theirs, vy)
                    });
                    judged = (metric.unwrap_or(f64::NAN), previous);
                    let (what, higher) = match p.task {
                        Task::Classification => ("ROC-AUC", true),
                        Task::Regression => ("RMSE", false),
                        Task::Multiclass => ("accuracy", true),
                    };
                    decide(rule, metric, previous, higher, what, vy.len())
                },
            )?
        }
        Stored::Uplift(defining) => {
            let champion = cache::uplift(model_name).ok().map(|(_, m)| m);
            let features = defining.features.names.clone();
            let treatment = def.treatment_col.clone().unwrap_or_default();
            train::train_uplift_with(
                model_name,
                &def.source,
                &treatment,
                &def.target_col,
                Some(&features),
                &def.algorithm,
                &def.params,
                |m, held_out, _| {
                    let scored = |f: &dyn Fn(&[Value]) -> f64| -> Vec<Scored> {
                        held_out
                            .iter()
                            .map(|h| Scored {
                                outcome: h.outcome,
                                treated: h.treated,
                                uplift: f(&h.row),
                            })
                            .collect()
                    };
                    let metric = qini_coefficient(&scored(&|r| m.uplift(r)));
                    let previous = champion.as_ref().and_then(|c| {
                        qini_coefficient(&scored(&|r| {
                            c.uplift(&recode(r, &m.features, &c.features))
                        }))
                    });
                    judged = (metric.unwrap_or(f64::NAN), previous);
                    decide(rule, metric, previous, true, "Qini", held_out.len())
                },
            )?
        }
        _ => {
            return Err(Error::Internal(
                "a predictor retrain of another model kind".into(),
            ))
            .sql()
        }
    };
    models::record_metrics(
        out.model_id,
        json!({"retrain_metric": judged.0, "previous_metric": judged.1}),
    )?;
    pgrx::notice!(
        "pg_marketing: retrain of '{model_name}': version {} {}",
        out.version,
        if out.deployed {
            "deployed"
        } else {
            "not deployed"
        }
    );
    Ok((out.version, judged.0, judged.1, out.deployed))
}
