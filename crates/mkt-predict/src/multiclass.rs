//! Classification into more than two classes, with one learner per class. Trees boost all classes
//! together on the softmax loss (one tree per class each round, as LightGBM and scikit-learn do),
//! and a row's probabilities are the softmax of the classes' raw scores. The logistic model and
//! the network train one binary learner per class, that class against the rest, and their
//! probabilities are scaled to sum to one: each learner is exactly the binary one, with its exact
//! solution, early stopping and stored form. Either way every class's learner is a stored binary
//! learner, so explanations (of a class's raw score) carry over. Metrics follow scikit-learn's
//! definitions (`accuracy_score`, `balanced_accuracy_score`, `f1_score(average='macro')`,
//! `log_loss`).

use crate::base::Base;
use crate::base::BaseParams;
use crate::features::Features;
use crate::gbdt::{self, Rows, TrainLog};
use crate::holdout::{sample_indices, split};
use crate::loss::Loss;
use crate::predictor::{schema_of, Algorithm, Options, Predictor, Task};
use mkt_core::progress::Tick;
use mkt_core::{Error, Result};
use rayon::ThreadPool;

/// How a multiclass predictor's learners make probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// The softmax of the learners' raw scores (trees boosted together on the softmax loss).
    Softmax,
    /// Each learner's probability of its class against the rest, scaled to sum to one.
    OneVsRest,
}

impl Combine {
    pub fn name(self) -> &'static str {
        match self {
            Combine::Softmax => "softmax",
            Combine::OneVsRest => "one_vs_rest",
        }
    }

    pub fn parse(s: &str) -> Option<Combine> {
        match s {
            "softmax" => Some(Combine::Softmax),
            "one_vs_rest" => Some(Combine::OneVsRest),
            _ => None,
        }
    }

    /// Class probabilities from the learners.
    pub fn probabilities(self, models: &[Base], x: &[crate::features::Value]) -> Vec<f64> {
        match self {
            Combine::Softmax => {
                let mut z: Vec<f64> = models.iter().map(|m| m.raw(x)).collect();
                gbdt::softmax(&mut z);
                z
            }
            Combine::OneVsRest => {
                let mut p: Vec<f64> = models.iter().map(|m| m.predict(x)).collect();
                normalise(&mut p);
                p
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

/// Probabilities of every row, row after row.
pub fn probabilities_all(p: &Predictor, x: &Features) -> Vec<f64> {
    (0..x.rows())
        .flat_map(|i| p.probabilities(&x.row(i)))
        .collect()
}

/// Trains a multiclass predictor; `y` holds each row's class position in `classes`.
#[allow(clippy::too_many_arguments)]
pub fn train(
    algorithm: Algorithm,
    o: &Options,
    label: &str,
    classes: Vec<String>,
    x: &Features,
    y: &[f64],
    pool: &ThreadPool,
    tick: &mut dyn Tick,
) -> Result<(Predictor, TrainLog)> {
    let k = classes.len();
    if y.is_empty() {
        return Err(Error::EmptyData(format!("no row has a label in {label}")));
    }
    if k < 2 {
        return Err(Error::EmptyData(format!(
            "the label {label} has a single class ({} rows, all {})",
            y.len(),
            classes.first().map_or("", String::as_str)
        )));
    }
    if k > MAX_CLASSES {
        return Err(Error::InvalidParameter(format!(
            "the label {label} has {k} classes; multiclass takes at most {MAX_CLASSES}"
        )));
    }
    if x.columns.is_empty() {
        return Err(Error::invalid(
            "a predictor needs at least one feature column",
        ));
    }
    let (train_idx, valid_idx) = split(y.len(), o.validation_fraction, o.seed);
    let tx = x.take(&train_idx);
    let ty: Vec<usize> = train_idx.iter().map(|&i| y[i] as usize).collect();
    let vx = x.take(&valid_idx);
    let vy: Vec<usize> = valid_idx.iter().map(|&i| y[i] as usize).collect();
    let mut counts = vec![0usize; k];
    ty.iter().for_each(|&c| counts[c] += 1);
    if let Some(c) = counts.iter().position(|&n| n == 0) {
        return Err(Error::EmptyData(format!(
            "class {} of {label} has no training rows; lower validation_fraction",
            classes[c]
        )));
    }
    // scikit-learn's 'balanced': each row weighs n / (k * rows of its class).
    let class_weight: Vec<f64> = counts
        .iter()
        .map(|&c| {
            if o.balanced {
                ty.len() as f64 / (k as f64 * c as f64)
            } else {
                1.0
            }
        })
        .collect();
    let (tw, vw): (Vec<f64>, Vec<f64>) = (
        ty.iter().map(|&c| class_weight[c]).collect(),
        vy.iter().map(|&c| class_weight[c.min(k - 1)]).collect(),
    );
    let mut models = Vec::with_capacity(k);
    let mut curves = Vec::with_capacity(k);
    let combine = match &o.base {
        BaseParams::Gbdt(_) => Combine::Softmax,
        _ => Combine::OneVsRest,
    };
    if let BaseParams::Gbdt(gp) = &o.base {
        let ty: Vec<f64> = ty.iter().map(|&c| c as f64).collect();
        let vy: Vec<f64> = vy.iter().map(|&c| c as f64).collect();
        let valid = (!vy.is_empty()).then_some(Rows {
            x: &vx,
            y: &vy,
            w: &vw,
        });
        let (trees, log) = gbdt::train_softmax(
            k,
            Rows {
                x: &tx,
                y: &ty,
                w: &tw,
            },
            valid,
            gp,
            pool,
            tick,
        )?;
        models.extend(trees.into_iter().map(Base::Gbdt));
        curves.push(log.valid_loss);
    }
    for c in (0..k).filter(|_| combine == Combine::OneVsRest) {
        let one = |ys: &[usize]| -> Vec<f64> { ys.iter().map(|&v| f64::from(v == c)).collect() };
        let (tyc, vyc) = (one(&ty), one(&vy));
        let valid = (!vy.is_empty()).then_some(Rows {
            x: &vx,
            y: &vyc,
            w: &vw,
        });
        let (m, log) = Base::fit(
            Loss::Logistic,
            &o.base,
            Rows {
                x: &tx,
                y: &tyc,
                w: &tw,
            },
            valid,
            pool,
            tick,
        )?;
        models.push(m);
        curves.push(log.valid_loss);
    }
    let mut p = Predictor {
        task: Task::Multiclass,
        algorithm,
        label: label.into(),
        key: o.key.clone(),
        features: schema_of(x),
        models,
        classes,
        combine,
        threshold: 0.5,
        validation: Vec::new(),
        score_quantiles: Vec::new(),
        rows: y.len() as u64,
        transform: None,
        holdout: (Vec::new(), Vec::new()),
        valid_loss: mean_curve(&curves),
    };
    if !vy.is_empty() {
        let probs = probabilities_all(&p, &vx);
        p.validation = metrics(&probs, k, &vy);
        let kept = sample_indices(vy.len());
        p.holdout = (
            kept.iter()
                .map(|&i| argmax(&probs[i * k..(i + 1) * k]) as f64)
                .collect(),
            kept.iter().map(|&i| vy[i] as f64).collect(),
        );
    }
    let log = TrainLog {
        valid_loss: p.valid_loss.clone(),
    };
    Ok((p, log))
}

/// The classes' held-out losses averaged round by round (one curve: the softmax loss itself); a
/// learner that stopped early keeps its last loss.
fn mean_curve(curves: &[Vec<f64>]) -> Vec<f64> {
    let len = curves.iter().map(Vec::len).max().unwrap_or(0);
    if curves.iter().any(Vec::is_empty) {
        return Vec::new();
    }
    (0..len)
        .map(|i| curves.iter().map(|c| c[i.min(c.len() - 1)]).sum::<f64>() / curves.len() as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Column;
    use mkt_core::progress::no_tick;
    use mkt_core::rng::Rng;
    use serde_json::json;

    /// Three segments a customer falls in by two numbers and a channel.
    fn data() -> (Features, Vec<f64>, Vec<String>) {
        let mut rng = Rng::new(4);
        let (mut a, mut b, mut ch, mut y) = (vec![], vec![], vec![], vec![]);
        for i in 0..3000 {
            let (u, v) = (rng.normal(), rng.normal());
            let c = (i % 2) as u32;
            a.push(u);
            b.push(v);
            ch.push(c);
            let z = [
                u + 0.3 * rng.normal(),
                v + 0.3 * rng.normal(),
                -u - v + if c == 1 { 0.8 } else { 0.0 },
            ];
            y.push(argmax(&z) as f64);
        }
        let x = Features {
            names: vec!["recency".into(), "spend".into(), "channel".into()],
            columns: vec![
                Column::Numeric(a),
                Column::Numeric(b),
                Column::Categorical {
                    codes: ch,
                    levels: vec!["email".into(), "sms".into()],
                },
            ],
        };
        (x, y, vec!["bargain".into(), "loyal".into(), "new".into()])
    }

    #[test]
    fn every_algorithm_learns_three_classes_and_round_trips() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let (x, y, classes) = data();
        for algorithm in [Algorithm::Gbdt, Algorithm::Logistic, Algorithm::Mlp] {
            let o = Options::parse(
                "t",
                Task::Multiclass,
                algorithm,
                &json!({"class_weight": "balanced"}),
            )
            .unwrap();
            let (p, _) = train(
                algorithm,
                &o,
                "segment",
                classes.clone(),
                &x,
                &y,
                &pool,
                &mut no_tick(),
            )
            .unwrap();
            let acc = p
                .validation
                .iter()
                .find(|(k, _)| k == "accuracy")
                .unwrap()
                .1;
            assert!(acc > 0.8, "{algorithm:?} {acc}");
            assert_eq!(p.models.len(), 3);
            let back = Predictor::decode(&p.encode().unwrap()).unwrap();
            assert_eq!(back.classes, classes);
            assert_eq!(back.task, Task::Multiclass);
            for i in 0..100 {
                let r = x.row(i);
                let probs = back.probabilities(&r);
                assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                assert_eq!(probs, p.probabilities(&r));
                let (c, pc) = back.predict_class(&r).unwrap();
                assert_eq!(pc, probs.iter().copied().fold(0.0, f64::max));
                // The explanation adds up to the called class's log-odds against the rest.
                let (start, phi) = back.explain(&r);
                assert!((start + phi.iter().sum::<f64>() - back.models[c].raw(&r)).abs() < 1e-9);
            }
            let imp = p.importance();
            assert_eq!(imp.len(), 3);
            assert!(imp.iter().all(|v| v.is_finite() && *v >= 0.0));
            let charts = crate::report::predictor_charts("m", &p);
            assert!(charts
                .iter()
                .any(|(t, svg)| t.starts_with("Confusion") && svg.starts_with("<svg")));
        }
    }

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
    fn classes_sort_as_numbers_when_they_are_and_bad_labels_are_refused() {
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
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (x, _, _) = data();
        let o = Options::parse("t", Task::Multiclass, Algorithm::Logistic, &json!({})).unwrap();
        let one = vec![0.0; x.rows()];
        let e = train(
            Algorithm::Logistic,
            &o,
            "s",
            vec!["a".into()],
            &x,
            &one,
            &pool,
            &mut no_tick(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("single class"), "{e}");
        let many: Vec<String> = (0..=MAX_CLASSES).map(|i| i.to_string()).collect();
        let e = train(
            Algorithm::Logistic,
            &o,
            "s",
            many,
            &x,
            &one,
            &pool,
            &mut no_tick(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("at most 100"), "{e}");
        let mut p = vec![0.0, 0.0];
        normalise(&mut p);
        assert_eq!(p, [0.5, 0.5]);
    }
}
