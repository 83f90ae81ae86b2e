//! Classification into more than two classes, with one learner per class. Trees boost all classes
//! together on the softmax loss (one tree per class each round, as LightGBM and scikit-learn do),
//! and the logistic model is the multinomial one solved exactly (as scikit-learn's): a row's
//! probabilities are the softmax of the classes' raw scores. The network has one output per
//! class, trained on the softmax cross-entropy. A logistic model with more than
//! `linear::MULTINOMIAL_MAX_PARAMETERS` parameters trains one binary learner per class, that class
//! against the rest, and scales their probabilities to sum to one. Explanations are of the called
//! class's raw score.

use crate::base::{Base, BaseParams};
use crate::classes::{argmax, metrics, Combine, MAX_CLASSES};
use crate::features::Features;
use crate::gbdt::{self, Rows, TrainLog};
use crate::holdout::{sample_indices, split};
use crate::loss::Loss;
use crate::predictor::{schema_of, Algorithm, Options, Predictor, Task};
use mkt_core::progress::Tick;
use mkt_core::{Error, Result};
use rayon::ThreadPool;

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
    // Rows with their class positions (as learners read labels), training and held out.
    let positions = |ys: &[usize]| -> Vec<f64> { ys.iter().map(|&c| c as f64).collect() };
    let (typ, vyp) = (positions(&ty), positions(&vy));
    let mut models = Vec::with_capacity(k);
    let mut curves = Vec::with_capacity(k);
    let mut combine = Combine::Softmax;
    match &o.base {
        BaseParams::Gbdt(gp) => {
            let (trees, log) = gbdt::train_softmax(
                k,
                Rows {
                    x: &tx,
                    y: &typ,
                    w: &tw,
                },
                held_out(&vx, &vyp, &vw),
                gp,
                pool,
                tick,
            )?;
            models.extend(trees.into_iter().map(Base::Gbdt));
            curves.push(log.valid_loss);
        }
        BaseParams::Mlp(mp) => {
            let (net, log) = crate::mlp::train_classes(
                k,
                mp,
                Rows {
                    x: &tx,
                    y: &typ,
                    w: &tw,
                },
                held_out(&vx, &vyp, &vw),
                pool,
                tick,
            )?;
            models.push(Base::Mlp(net));
            curves.push(log.valid_loss);
            combine = Combine::Network;
        }
        // The logistic model's exact multinomial fit, where its Newton system is small enough.
        BaseParams::Linear { l2 } => {
            let design = crate::design::Design::fit(&tx);
            let cols = design.columns(&tx);
            match crate::linear::fit_multinomial(&cols, &typ, &tw, k, *l2, pool, tick)? {
                Some(fitted) => models.extend(fitted.into_iter().map(|model| Base::Linear {
                    design: design.clone(),
                    model,
                })),
                None => combine = Combine::OneVsRest,
            }
        }
    }
    for c in (0..k).filter(|_| combine == Combine::OneVsRest) {
        let one = |ys: &[usize]| -> Vec<f64> { ys.iter().map(|&v| f64::from(v == c)).collect() };
        let (tyc, vyc) = (one(&ty), one(&vy));
        let (m, log) = Base::fit(
            Loss::Logistic,
            &o.base,
            Rows {
                x: &tx,
                y: &tyc,
                w: &tw,
            },
            held_out(&vx, &vyc, &vw),
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

/// The held-out rows, when there are any.
fn held_out<'a>(x: &'a Features, y: &'a [f64], w: &'a [f64]) -> Option<Rows<'a>> {
    (!y.is_empty()).then_some(Rows { x, y, w })
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
            let learners = if algorithm == Algorithm::Mlp { 1 } else { 3 };
            assert_eq!(p.models.len(), learners);
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
                // The explanation adds up to the called class's raw score.
                let (start, phi) = back.explain(&r);
                let raw = if learners == 1 {
                    back.models[0].raw_all(&r)[c]
                } else {
                    back.models[c].raw(&r)
                };
                assert!((start + phi.iter().sum::<f64>() - raw).abs() < 1e-9);
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
    fn a_single_class_and_too_many_classes_are_refused() {
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
    }
}
