//! Metrics of scores against outcomes: ranking quality (ROC and precision-recall), probability
//! quality (log loss, Brier), decisions at a threshold, and regression errors. Definitions follow
//! scikit-learn's (`roc_auc_score`, `average_precision_score`, `log_loss`, `brier_score_loss`), so
//! numbers read the same as an analyst's notebook.

/// One point of the ROC curve: everything scored at or above `threshold` is called positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RocPoint {
    pub threshold: f64,
    pub tpr: f64,
    pub fpr: f64,
    pub precision: f64,
}

/// Cumulative (true positives, false positives) at each distinct score, highest score first.
fn cumulative(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64, f64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut out = Vec::new();
    let (mut tp, mut fp) = (0.0, 0.0);
    for (i, &r) in order.iter().enumerate() {
        if labels[r] {
            tp += 1.0
        } else {
            fp += 1.0
        }
        let last_of_tie = i + 1 == order.len() || scores[order[i + 1]] != scores[r];
        if last_of_tie {
            out.push((scores[r], tp, fp));
        }
    }
    out
}

/// The ROC curve from (+inf, 0, 0) to the lowest score, one point per distinct score.
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Vec<RocPoint> {
    let cum = cumulative(scores, labels);
    let (p, n) = cum
        .last()
        .map(|&(_, tp, fp)| (tp, fp))
        .unwrap_or((0.0, 0.0));
    let mut out = vec![RocPoint {
        threshold: f64::INFINITY,
        tpr: 0.0,
        fpr: 0.0,
        precision: 1.0,
    }];
    out.extend(cum.iter().map(|&(t, tp, fp)| RocPoint {
        threshold: t,
        tpr: if p > 0.0 { tp / p } else { 0.0 },
        fpr: if n > 0.0 { fp / n } else { 0.0 },
        precision: tp / (tp + fp),
    }));
    out
}

/// Area under the ROC curve (trapezoids, so tied scores count half); None without both classes.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let curve = roc_curve(scores, labels);
    let last = curve.last()?;
    if last.tpr == 0.0 || last.fpr == 0.0 {
        return None;
    }
    Some(
        curve
            .windows(2)
            .map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) / 2.0)
            .sum(),
    )
}

/// Average precision: the precision at each threshold weighted by the recall it adds
/// (scikit-learn's `average_precision_score`, the step-wise area under the PR curve).
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let cum = cumulative(scores, labels);
    let p = cum.last()?.1;
    if p == 0.0 {
        return None;
    }
    let mut prev_recall = 0.0;
    let mut ap = 0.0;
    for &(_, tp, fp) in &cum {
        let recall = tp / p;
        ap += (recall - prev_recall) * tp / (tp + fp);
        prev_recall = recall;
    }
    Some(ap)
}

/// Mean binary cross-entropy, probabilities clipped to [1e-15, 1 - 1e-15].
pub fn log_loss(probs: &[f64], labels: &[bool]) -> f64 {
    let n = probs.len().max(1) as f64;
    probs
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            if y {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum::<f64>()
        / n
}

/// Mean squared difference between probability and outcome.
pub fn brier(probs: &[f64], labels: &[bool]) -> f64 {
    let n = probs.len().max(1) as f64;
    probs
        .iter()
        .zip(labels)
        .map(|(&p, &y)| (p - if y { 1.0 } else { 0.0 }).powi(2))
        .sum::<f64>()
        / n
}

/// Decisions at a threshold (score >= threshold is called positive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AtThreshold {
    pub threshold: f64,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

pub fn at_threshold(scores: &[f64], labels: &[bool], threshold: f64) -> AtThreshold {
    let (mut tp, mut fp, mut tn, mut fneg) = (0.0, 0.0, 0.0, 0.0);
    for (&s, &y) in scores.iter().zip(labels) {
        match (s >= threshold, y) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, false) => tn += 1.0,
            (false, true) => fneg += 1.0,
        }
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fneg);
    AtThreshold {
        threshold,
        accuracy: ratio(tp + tn, tp + fp + tn + fneg),
        precision,
        recall,
        f1: ratio(2.0 * precision * recall, precision + recall),
    }
}

/// The threshold with the highest F1 (the lowest such score on ties), for decisions on rare
/// outcomes where 0.5 calls almost nobody positive.
pub fn best_f1_threshold(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let cum = cumulative(scores, labels);
    let p = cum.last()?.1;
    if p == 0.0 {
        return None;
    }
    let mut best = (f64::NEG_INFINITY, 0.5);
    for &(t, tp, fp) in &cum {
        let f1 = 2.0 * tp / (tp + fp + p);
        if f1 > best.0 {
            best = (f1, t);
        }
    }
    Some(best.1)
}

/// Regression errors: root mean squared error, mean absolute error, coefficient of determination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegressionErrors {
    pub rmse: f64,
    pub mae: f64,
    pub r2: f64,
}

pub fn regression_errors(pred: &[f64], y: &[f64]) -> RegressionErrors {
    let n = y.len().max(1) as f64;
    let mean = y.iter().sum::<f64>() / n;
    let sse: f64 = pred.iter().zip(y).map(|(p, y)| (p - y) * (p - y)).sum();
    let sst: f64 = y.iter().map(|y| (y - mean) * (y - mean)).sum();
    RegressionErrors {
        rmse: (sse / n).sqrt(),
        mae: pred.iter().zip(y).map(|(p, y)| (p - y).abs()).sum::<f64>() / n,
        r2: if sst > 0.0 { 1.0 - sse / sst } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_pairs_and_half_of_ties() {
        // Positives at 0.9, 0.5, 0.3; negatives at 0.5, 0.2. Pairs won: (0.9>0.5, 0.9>0.2, 0.5=0.5
        // half, 0.5>0.2, 0.3<0.5 lost, 0.3>0.2) = 4.5 of 6.
        let s = [0.9, 0.5, 0.3, 0.5, 0.2];
        let y = [true, true, true, false, false];
        assert!((roc_auc(&s, &y).unwrap() - 4.5 / 6.0).abs() < 1e-12);
        assert_eq!(roc_auc(&s, &[true; 5]), None);
    }

    #[test]
    fn average_precision_matches_a_hand_computation() {
        // Ranked: 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg): AP = 0.5*1 + 0.5*(2/3).
        let s = [0.1, 0.4, 0.35, 0.8];
        let y = [false, false, true, true];
        assert!((average_precision(&s, &y).unwrap() - (0.5 + 1.0 / 3.0)).abs() < 1e-12);
    }

    #[test]
    fn threshold_metrics_and_probability_scores() {
        let s = [0.9, 0.6, 0.4, 0.2];
        let y = [true, false, true, false];
        let m = at_threshold(&s, &y, 0.5);
        assert_eq!((m.accuracy, m.precision, m.recall), (0.5, 0.5, 0.5));
        assert_eq!(best_f1_threshold(&s, &y), Some(0.4));
        assert!((brier(&s, &y) - (0.01 + 0.36 + 0.36 + 0.04) / 4.0).abs() < 1e-12);
        let expect = -(0.9f64.ln() + 0.4f64.ln() + 0.4f64.ln() + 0.8f64.ln()) / 4.0;
        assert!((log_loss(&s, &y) - expect).abs() < 1e-12);
        let e = regression_errors(&[1.0, 2.0, 3.0], &[1.0, 2.0, 5.0]);
        assert!(
            (e.rmse - (4.0f64 / 3.0).sqrt()).abs() < 1e-12 && (e.mae - 2.0 / 3.0).abs() < 1e-12
        );
    }
}
