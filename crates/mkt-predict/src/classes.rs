//! The classes of a multiclass predictor below its training: their order, how the learners'
//! outputs become class probabilities, and the metrics over classes, which follow scikit-learn's
//! definitions (`accuracy_score`, `balanced_accuracy_score`, `f1_score(average='macro')`,
//! `log_loss`).

use crate::base::Base;
use crate::loss::softmax;

/// How a multiclass predictor's learners make probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// The softmax of the learners' raw scores (trees boosted together on the softmax loss, or
    /// the multinomial logistic model's classes).
    Softmax,
    /// Each learner's probability of its class against the rest, scaled to sum to one.
    OneVsRest,
    /// The softmax of one network's outputs, one per class.
    Network,
}

impl Combine {
    pub fn name(self) -> &'static str {
        match self {
            Combine::Softmax => "softmax",
            Combine::OneVsRest => "one_vs_rest",
            Combine::Network => "softmax_network",
        }
    }

    pub fn parse(s: &str) -> Option<Combine> {
        match s {
            "softmax" => Some(Combine::Softmax),
            "one_vs_rest" => Some(Combine::OneVsRest),
            "softmax_network" => Some(Combine::Network),
            _ => None,
        }
    }

    /// How many stored learners, and how many outputs each, a predictor of `k` classes has.
    pub fn learners(self, k: usize) -> (usize, usize) {
        match self {
            Combine::Network => (1, k),
            _ => (k, 1),
        }
    }

    /// Class probabilities from the learners.
    pub fn probabilities(self, models: &[Base], x: &[crate::features::Value]) -> Vec<f64> {
        match self {
            Combine::Softmax => {
                let mut z: Vec<f64> = models.iter().map(|m| m.raw(x)).collect();
                softmax(&mut z);
                z
            }
            Combine::OneVsRest => {
                let mut p: Vec<f64> = models.iter().map(|m| m.predict(x)).collect();
                normalise(&mut p);
                p
            }
            Combine::Network => {
                let mut z = models.first().map_or(Vec::new(), |m| m.raw_all(x));
                softmax(&mut z);
                z
            }
        }
    }
}

/// Each class trains its own learner; past this many the one-against-the-rest models cost more
/// than a label is worth (a high-cardinality label is better a regression or a recommender).
pub const MAX_CLASSES: usize = 100;

/// Class names in their order: numerically when every one is a number, else as text.
pub fn sorted_classes(mut names: Vec<String>) -> Vec<String> {
    names.sort_unstable();
    names.dedup();
    let numbers: Option<Vec<f64>> = names.iter().map(|n| n.trim().parse::<f64>().ok()).collect();
    if let Some(v) = numbers {
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by(|&a, &b| v[a].total_cmp(&v[b]).then_with(|| names[a].cmp(&names[b])));
        names = order.into_iter().map(|i| names[i].clone()).collect();
    }
    names
}

/// The position of `name` among `classes`; unknown names get positions after them, one per
/// distinct name in order of appearance (so a test label the model never saw is its own class,
/// never predicted). `extra` collects those names.
pub fn position(classes: &[String], extra: &mut Vec<String>, name: &str) -> usize {
    if let Some(i) = classes.iter().position(|c| c == name) {
        return i;
    }
    match extra.iter().position(|c| c == name) {
        Some(j) => classes.len() + j,
        None => {
            extra.push(name.to_string());
            classes.len() + extra.len() - 1
        }
    }
}

/// Each learner's probability of its class, scaled to sum to one (all zero: equal shares).
pub fn normalise(p: &mut [f64]) {
    let s: f64 = p.iter().sum();
    if s > 0.0 && s.is_finite() {
        p.iter_mut().for_each(|v| *v /= s);
    } else {
        let k = p.len() as f64;
        p.iter_mut().for_each(|v| *v = 1.0 / k);
    }
}

/// The most probable class; ties go to the first.
pub fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = i;
        }
    }
    best
}

/// Class positions stored as numbers back to positions.
pub fn codes(y: &[f64]) -> Vec<usize> {
    y.iter().map(|&v| v.max(0.0) as usize).collect()
}

/// Metrics of probabilities (`k` per row, row after row) against true class positions (a
/// position of `k` or more is a class the model does not know: always wrong).
pub fn metrics(probs: &[f64], k: usize, y: &[usize]) -> Vec<(String, f64)> {
    let n = y.len();
    let pred: Vec<usize> = (0..n).map(|i| argmax(&probs[i * k..(i + 1) * k])).collect();
    let labels = y.iter().chain(&pred).copied().max().map_or(0, |m| m + 1);
    let (mut tp, mut truth, mut called) = (vec![0.0; labels], vec![0.0; labels], vec![0.0; labels]);
    for (&t, &p) in y.iter().zip(&pred) {
        truth[t] += 1.0;
        called[p] += 1.0;
        if t == p {
            tp[t] += 1.0;
        }
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    // Like scikit-learn: macro averages over the classes that occur in truth or prediction,
    // balanced accuracy over those in truth.
    let present: Vec<usize> = (0..labels)
        .filter(|&c| truth[c] + called[c] > 0.0)
        .collect();
    let in_truth: Vec<usize> = (0..labels).filter(|&c| truth[c] > 0.0).collect();
    let mean = |cs: &[usize], f: &dyn Fn(usize) -> f64| {
        cs.iter().map(|&c| f(c)).sum::<f64>() / cs.len().max(1) as f64
    };
    let precision = |c: usize| ratio(tp[c], called[c]);
    let recall = |c: usize| ratio(tp[c], truth[c]);
    let f1 = |c: usize| ratio(2.0 * tp[c], truth[c] + called[c]);
    let log_loss = y
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let p = if t < k { probs[i * k + t] } else { 0.0 };
            -p.clamp(1e-15, 1.0).ln()
        })
        .sum::<f64>()
        / n.max(1) as f64;
    vec![
        ("accuracy".into(), ratio(tp.iter().sum(), n as f64)),
        ("balanced_accuracy".into(), mean(&in_truth, &recall)),
        ("macro_precision".into(), mean(&present, &precision)),
        ("macro_recall".into(), mean(&present, &recall)),
        ("macro_f1".into(), mean(&present, &f1)),
        ("log_loss".into(), log_loss),
        ("classes".into(), k as f64),
        ("rows".into(), n as f64),
    ]
}

/// Each true class's share predicted as each class (rows: true classes known to the model).
pub fn confusion_shares(pred: &[usize], truth: &[usize], k: usize) -> Vec<Vec<f64>> {
    let mut m = vec![vec![0.0; k]; k];
    for (&p, &t) in pred.iter().zip(truth) {
        if t < k && p < k {
            m[t][p] += 1.0;
        }
    }
    for row in &mut m {
        let s: f64 = row.iter().sum();
        if s > 0.0 {
            row.iter_mut().for_each(|v| *v /= s);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_counts() {
        // Truth 0 0 1 2 (and a class 3 the model never saw); called 0 1 1 1 0.
        let probs = [
            0.8, 0.1, 0.1, //
            0.2, 0.7, 0.1, //
            0.1, 0.6, 0.3, //
            0.3, 0.4, 0.3, //
            0.5, 0.3, 0.2,
        ];
        let m: std::collections::HashMap<String, f64> =
            metrics(&probs, 3, &[0, 0, 1, 2, 3]).into_iter().collect();
        assert_eq!(m["accuracy"], 2.0 / 5.0);
        // Recall: class 0 1/2, class 1 1/1, class 2 0, class 3 0 → 1.5 / 4.
        assert!((m["balanced_accuracy"] - 1.5 / 4.0).abs() < 1e-12);
        // Precision: 0 → 1/2, 1 → 1/3, 2 → 0, 3 → 0.
        assert!((m["macro_precision"] - (0.5 + 1.0 / 3.0) / 4.0).abs() < 1e-12);
        // F1: 0 → 2/(2+2)=0.5, 1 → 2/(1+3)=0.5, others 0.
        assert!((m["macro_f1"] - 0.25).abs() < 1e-12);
        let ll = -(0.8f64.ln() + 0.2f64.ln() + 0.6f64.ln() + 0.3f64.ln() + 1e-15f64.ln()) / 5.0;
        assert!((m["log_loss"] - ll).abs() < 1e-12);
        assert_eq!(
            confusion_shares(&[0, 1, 1, 1, 0], &[0, 0, 1, 2, 3], 3)[0],
            vec![0.5, 0.5, 0.0]
        );
    }

    #[test]
    fn classes_sort_as_numbers_when_they_are_and_unknown_ones_come_after() {
        assert_eq!(
            sorted_classes(vec!["10".into(), "2".into(), "2".into()]),
            ["2", "10"]
        );
        assert_eq!(
            sorted_classes(vec!["b".into(), "a".into(), "10".into()]),
            ["10", "a", "b"]
        );
        let mut extra = Vec::new();
        let cls = ["a".to_string(), "b".to_string()];
        assert_eq!(position(&cls, &mut extra, "b"), 1);
        assert_eq!(position(&cls, &mut extra, "z"), 2);
        assert_eq!(position(&cls, &mut extra, "y"), 3);
        assert_eq!(position(&cls, &mut extra, "z"), 2);
        let mut p = vec![0.0, 0.0];
        normalise(&mut p);
        assert_eq!(p, [0.5, 0.5]);
    }
}
