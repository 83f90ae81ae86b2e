//! The pictures of predictors and uplift models: in their model report (from the held-out rows
//! each version keeps a sample of) and for mkt.uplift_curve_svg.

use crate::classification::roc_curve;
use crate::predictor::{Predictor, Task};
use crate::uplift_metrics::{perfect_qini_curve, qini_curve, Scored};
use mkt_metrics::line_chart;

/// A bar per feature, most important first (at most 20).
pub fn importance_svg(name: &str, p: &Predictor) -> String {
    let mut imp: Vec<(String, f64)> = p
        .features
        .names
        .iter()
        .cloned()
        .zip(p.importance())
        .collect();
    imp.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    imp.truncate(20);
    let what = match p.model() {
        crate::base::Base::Gbdt(_) => "share of split gain",
        crate::base::Base::Linear { .. } => "absolute coefficient",
        crate::base::Base::Mlp(_) => "held-out loss increase when shuffled",
    };
    let (names, values): (Vec<String>, Vec<f64>) = imp.into_iter().unzip();
    mkt_metrics::bar_chart::svg(
        &format!("Feature importance of {name}"),
        "feature",
        &names,
        &[(what.to_string(), values)],
    )
}

fn thin(c: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let step = (c.len() / 400).max(1);
    let last = c.last().copied();
    let mut v: Vec<(f64, f64)> = c.into_iter().step_by(step).collect();
    if v.last().copied() != last {
        v.extend(last);
    }
    v
}

/// The report's pictures of a predictor: ROC and calibration curves of the held-out rows it kept
/// (classification), predicted against actual (regression), and the held-out loss as training
/// went on (per tree or epoch), each where the version has the data.
pub fn predictor_charts(name: &str, p: &Predictor) -> Vec<(String, String)> {
    let mut out = vec![("Feature importance".to_string(), importance_svg(name, p))];
    let (scores, labels) = (&p.holdout.0, &p.holdout.1);
    if !scores.is_empty() {
        match p.task {
            Task::Classification => {
                let pos: Vec<bool> = labels.iter().map(|&v| v == 1.0).collect();
                let roc: Vec<(f64, f64)> = roc_curve(scores, &pos)
                    .iter()
                    .map(|r| (r.fpr, r.tpr))
                    .collect();
                out.push((
                    "ROC curve (held-out rows)".into(),
                    line_chart::svg(
                        &format!("ROC curve of {name} on its held-out rows"),
                        "false positive rate",
                        &[
                            ("true positive rate".into(), thin(roc)),
                            ("random".into(), vec![(0.0, 0.0), (1.0, 1.0)]),
                        ],
                    ),
                ));
                out.push((
                    "Calibration (held-out rows)".into(),
                    line_chart::svg(
                        &format!("Calibration of {name}: observed rate by predicted probability"),
                        "predicted probability (mean of each tenth of the rows)",
                        &[
                            ("observed rate".into(), calibration(scores, labels)),
                            ("perfect".into(), vec![(0.0, 0.0), (1.0, 1.0)]),
                        ],
                    ),
                ));
            }
            Task::Multiclass => {
                out.push(("Confusion (held-out rows)".into(), confusion_svg(name, p)))
            }
            Task::Regression => {
                out.push((
                    "Predicted and actual (held-out rows)".into(),
                    line_chart::svg(
                        &format!("{name}: mean actual value by predicted value"),
                        "predicted (mean of each tenth of the rows)",
                        &[
                            ("actual".into(), calibration(scores, labels)),
                            ("perfect".into(), diagonal(scores)),
                        ],
                    ),
                ));
            }
        }
    }
    if p.valid_loss.len() > 1 {
        let unit = match p.model() {
            crate::base::Base::Mlp(_) => "epoch",
            _ => "tree",
        };
        out.push((
            "Training curve".into(),
            line_chart::svg(
                &format!("Held-out loss of {name} as training went on"),
                unit,
                &[(
                    "held-out loss".into(),
                    p.valid_loss
                        .iter()
                        .enumerate()
                        .map(|(i, &l)| ((i + 1) as f64, l))
                        .collect(),
                )],
            ),
        ));
    }
    out
}

/// A multiclass predictor's held-out rows: for each true class, the share called each class.
fn confusion_svg(name: &str, p: &Predictor) -> String {
    let k = p.classes.len();
    let codes = crate::classes::codes;
    let shares = crate::classes::confusion_shares(&codes(&p.holdout.0), &codes(&p.holdout.1), k);
    let series: Vec<(String, Vec<f64>)> = p
        .classes
        .iter()
        .enumerate()
        .map(|(c, class)| {
            (
                format!("called {class}"),
                shares.iter().map(|row| row[c]).collect(),
            )
        })
        .collect();
    mkt_metrics::bar_chart::svg(
        &format!("Confusion of {name}: share of each true class called each class"),
        "true class",
        &p.classes,
        &series,
    )
}

/// (mean prediction, mean outcome) of each tenth of the rows by prediction.
pub fn calibration(scores: &[f64], outcomes: &[f64]) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let n = order.len();
    (0..10)
        .filter_map(|k| {
            let part = &order[k * n / 10..(k + 1) * n / 10];
            (!part.is_empty()).then(|| {
                let m = part.len() as f64;
                (
                    part.iter().map(|&i| scores[i]).sum::<f64>() / m,
                    part.iter().map(|&i| outcomes[i]).sum::<f64>() / m,
                )
            })
        })
        .collect()
}

fn diagonal(scores: &[f64]) -> Vec<(f64, f64)> {
    let lo = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    vec![(lo, lo), (hi, hi)]
}

/// The report's picture of an uplift model: the Qini curve of the held-out rows it kept.
pub fn uplift_charts(name: &str, u: &crate::uplift_stored::Uplift) -> Vec<(String, String)> {
    if u.holdout.is_empty() {
        return Vec::new();
    }
    vec![(
        "Qini curve (held-out rows)".into(),
        qini_svg(
            &format!(
                "Qini curve of {name} on its held-out rows: extra outcomes by customers targeted"
            ),
            &u.holdout,
        ),
    )]
}

/// The Qini curve of a ranking beside random targeting and the best possible ranking.
pub fn qini_svg(title: &str, rows: &[Scored]) -> String {
    let model = qini_curve(rows);
    let perfect = perfect_qini_curve(rows);
    let end = *model.last().unwrap_or(&(0.0, 0.0));
    line_chart::svg(
        title,
        "customers targeted, best predicted uplift first",
        &[
            ("model".to_string(), thin(model)),
            ("random".to_string(), vec![(0.0, 0.0), end]),
            ("best possible".to_string(), thin(perfect)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_takes_tenths_by_prediction() {
        let s: Vec<f64> = (0..100).map(|i| i as f64 / 100.0).collect();
        let y: Vec<f64> = (0..100).map(|i| (i >= 50) as u8 as f64).collect();
        let c = calibration(&s, &y);
        assert_eq!(c.len(), 10);
        assert!((c[0].0 - 0.045).abs() < 1e-12 && c[0].1 == 0.0);
        assert!(c[9].1 == 1.0);
    }
}
