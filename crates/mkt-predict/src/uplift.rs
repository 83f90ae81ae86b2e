//! Uplift models: the difference a treatment makes to each customer's outcome, learnt from a
//! test where some customers were treated and others not. Four meta-learners over any base
//! learner:
//! - **S-learner**: one model of the outcome with the treatment as a feature; uplift is its
//!   prediction treated minus untreated.
//! - **T-learner**: one outcome model per arm; uplift is their difference.
//! - **X-learner** (Künzel et al. 2019): the T-learner's models impute each customer's effect
//!   (treated: outcome minus the control model; control: the treated model minus outcome), one
//!   regression per arm learns those effects, and they are blended by the propensity e:
//!   e * tau_control(x) + (1 - e) * tau_treated(x).
//! - **Class transformation** (Jaskowski and Jaroszewicz 2012), binary outcomes: a classifier of
//!   z = 1 when (treated and responded) or (control and did not); with the arms weighted to equal
//!   size, uplift = 2 P(z = 1 | x) - 1.

use crate::base::{Base, BaseParams};
use crate::features::{Column, Features, Value};
use crate::gbdt::Rows;
use crate::loss::Loss;
use mkt_core::error::{Error, Result};
use mkt_core::progress::Tick;
use rayon::ThreadPool;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meta {
    S,
    T,
    X,
    ClassTransformation,
}

impl Meta {
    pub const NAMES: [&'static str; 4] = [
        "s_learner",
        "t_learner",
        "x_learner",
        "class_transformation",
    ];

    pub fn parse(s: &str) -> Result<Meta> {
        match s {
            "s_learner" => Ok(Meta::S),
            "t_learner" => Ok(Meta::T),
            "x_learner" => Ok(Meta::X),
            "class_transformation" => Ok(Meta::ClassTransformation),
            _ => Err(Error::UnknownName {
                what: "uplift algorithm",
                given: s.into(),
                valid: Meta::NAMES.join(", "),
            }),
        }
    }

    pub fn name(self) -> &'static str {
        Meta::NAMES[self as usize]
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpliftModel {
    S {
        model: Base,
    },
    T {
        treated: Base,
        control: Base,
    },
    X {
        tau_treated: Base,
        tau_control: Base,
        propensity: f64,
    },
    ClassTransformation {
        model: Base,
    },
}

/// A randomised (or logged) test: features, who was treated, and the outcome.
#[derive(Clone, Copy)]
pub struct Test<'a> {
    pub x: &'a Features,
    pub treated: &'a [bool],
    pub outcome: &'a [f64],
}

fn with_treatment(x: &Features, treated: impl Iterator<Item = f64>) -> Features {
    let mut f = x.clone();
    f.names.push("treatment".into());
    f.columns.push(Column::Numeric(treated.collect()));
    f
}

fn arm(x: &Features, idx: &[usize], y: &[f64]) -> (Features, Vec<f64>) {
    (x.take(idx), idx.iter().map(|&i| y[i]).collect())
}

/// Fits an uplift model. A binary (0/1) outcome gets probability models, any other a regression.
/// `propensity` is the chance of treatment when the design fixed it; else the treated share.
pub fn fit(
    meta: Meta,
    base: &BaseParams,
    test: Test<'_>,
    propensity: Option<f64>,
    pool: &ThreadPool,
    tick: &mut dyn Tick,
) -> Result<UpliftModel> {
    let n = test.outcome.len();
    let treated_idx: Vec<usize> = (0..n).filter(|&i| test.treated[i]).collect();
    let control_idx: Vec<usize> = (0..n).filter(|&i| !test.treated[i]).collect();
    if treated_idx.is_empty() || control_idx.is_empty() {
        return Err(Error::EmptyData(format!(
            "an uplift model needs both arms: {} treated and {} control rows",
            treated_idx.len(),
            control_idx.len()
        )));
    }
    let binary = test.outcome.iter().all(|&y| y == 0.0 || y == 1.0);
    let loss = if binary {
        Loss::Logistic
    } else {
        Loss::Squared
    };
    let e = match propensity {
        Some(p) if p > 0.0 && p < 1.0 => p,
        Some(p) => {
            return Err(Error::InvalidParameter(format!(
                "propensity must be in (0, 1), got {p}"
            )))
        }
        None => treated_idx.len() as f64 / n as f64,
    };
    let mut fit_base = |loss: Loss, x: &Features, y: &[f64], w: &[f64]| {
        Base::fit(loss, base, Rows { x, y, w }, None, pool, &mut *tick).map(|(m, _)| m)
    };
    Ok(match meta {
        Meta::S => {
            let x = with_treatment(
                test.x,
                test.treated.iter().map(|&t| if t { 1.0 } else { 0.0 }),
            );
            UpliftModel::S {
                model: fit_base(loss, &x, test.outcome, &vec![1.0; n])?,
            }
        }
        Meta::T | Meta::X => {
            let (xt, yt) = arm(test.x, &treated_idx, test.outcome);
            let (xc, yc) = arm(test.x, &control_idx, test.outcome);
            let treated = fit_base(loss, &xt, &yt, &vec![1.0; yt.len()])?;
            let control = fit_base(loss, &xc, &yc, &vec![1.0; yc.len()])?;
            if meta == Meta::T {
                UpliftModel::T { treated, control }
            } else {
                let d1: Vec<f64> = (0..xt.rows())
                    .map(|i| yt[i] - control.predict(&xt.row(i)))
                    .collect();
                let d0: Vec<f64> = (0..xc.rows())
                    .map(|i| treated.predict(&xc.row(i)) - yc[i])
                    .collect();
                let tau_treated = fit_base(Loss::Squared, &xt, &d1, &vec![1.0; d1.len()])?;
                let tau_control = fit_base(Loss::Squared, &xc, &d0, &vec![1.0; d0.len()])?;
                UpliftModel::X {
                    tau_treated,
                    tau_control,
                    propensity: e,
                }
            }
        }
        Meta::ClassTransformation => {
            if !binary {
                return Err(Error::InvalidParameter(
                    "class_transformation needs a 0/1 outcome; use s_learner, t_learner or x_learner for a numeric one".into(),
                ));
            }
            let z: Vec<f64> = (0..n)
                .map(|i| {
                    if (test.outcome[i] == 1.0) == test.treated[i] {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let w: Vec<f64> = test
                .treated
                .iter()
                .map(|&t| if t { 0.5 / e } else { 0.5 / (1.0 - e) })
                .collect();
            UpliftModel::ClassTransformation {
                model: fit_base(Loss::Logistic, test.x, &z, &w)?,
            }
        }
    })
}

impl UpliftModel {
    pub fn uplift(&self, x: &[Value]) -> f64 {
        match self {
            UpliftModel::S { model } => {
                let mut row = x.to_vec();
                row.push(Value::Number(1.0));
                let treated = model.predict(&row);
                *row.last_mut().expect("pushed") = Value::Number(0.0);
                treated - model.predict(&row)
            }
            UpliftModel::T { treated, control } => treated.predict(x) - control.predict(x),
            UpliftModel::X {
                tau_treated,
                tau_control,
                propensity,
            } => propensity * tau_control.predict(x) + (1.0 - propensity) * tau_treated.predict(x),
            UpliftModel::ClassTransformation { model } => 2.0 * model.predict(x) - 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gbdt::GbdtParams;
    use crate::loss::sigmoid;
    use crate::uplift_metrics::{qini_coefficient, Scored};
    use mkt_core::progress::no_tick;
    use mkt_core::rng::Rng;

    /// Customers with x0 > 0 respond to the treatment (+0.25), the others are put off (-0.1).
    fn test_data(n: usize, seed: u64) -> (Features, Vec<bool>, Vec<f64>, Vec<f64>) {
        let mut rng = Rng::new(seed);
        let (mut a, mut b, mut t, mut y, mut effect) = (vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..n {
            let (x0, x1) = (rng.normal(), rng.normal());
            let treated = rng.uniform() < 0.5;
            let base = sigmoid(-1.0 + 0.5 * x1);
            let lift = if x0 > 0.0 { 0.25 } else { -0.1 };
            let p = (base + if treated { lift } else { 0.0 }).clamp(0.0, 1.0);
            a.push(x0);
            b.push(x1);
            t.push(treated);
            y.push(if rng.uniform() < p { 1.0 } else { 0.0 });
            effect.push(lift);
        }
        let f = Features {
            names: vec!["x0".into(), "x1".into()],
            columns: vec![Column::Numeric(a), Column::Numeric(b)],
        };
        (f, t, y, effect)
    }

    #[test]
    fn every_meta_learner_ranks_the_persuadable_first() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let (x, t, y, _) = test_data(8000, 5);
        let (vx, vt, vy, effect) = test_data(4000, 6);
        let base = BaseParams::Gbdt(GbdtParams {
            trees: 40,
            ..Default::default()
        });
        let oracle: Vec<Scored> = (0..vx.rows())
            .map(|i| Scored {
                outcome: vy[i],
                treated: vt[i],
                uplift: effect[i],
            })
            .collect();
        let best = qini_coefficient(&oracle).unwrap();
        for meta in [Meta::S, Meta::T, Meta::X, Meta::ClassTransformation] {
            let m = fit(
                meta,
                &base,
                Test {
                    x: &x,
                    treated: &t,
                    outcome: &y,
                },
                None,
                &pool,
                &mut no_tick(),
            )
            .unwrap();
            let scores: Vec<f64> = (0..vx.rows()).map(|i| m.uplift(&vx.row(i))).collect();
            // Mean predicted uplift in each true group, near the truth.
            let mean = |want: f64| {
                let v: Vec<f64> = scores
                    .iter()
                    .zip(&effect)
                    .filter(|(_, &e)| e == want)
                    .map(|(s, _)| *s)
                    .collect();
                v.iter().sum::<f64>() / v.len() as f64
            };
            assert!(
                mean(0.25) > 0.12 && mean(-0.1) < 0.0,
                "{meta:?}: {} {}",
                mean(0.25),
                mean(-0.1)
            );
            let rows: Vec<Scored> = (0..vx.rows())
                .map(|i| Scored {
                    outcome: vy[i],
                    treated: vt[i],
                    uplift: scores[i],
                })
                .collect();
            let q = qini_coefficient(&rows).unwrap();
            // Ranking by the true effect sets the bar: each learner gets most of its Qini.
            eprintln!("{meta:?} qini {q:.4} (true effects {best:.4})");
            assert!(
                q > 0.6 * best,
                "{meta:?} qini {q} vs the true effects' {best}"
            );
        }
    }

    #[test]
    fn one_arm_and_a_numeric_class_transformation_are_refused() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (x, _, y, _) = test_data(100, 1);
        let base = BaseParams::Linear { l2: 1.0 };
        let all = vec![true; 100];
        let e = fit(
            Meta::T,
            &base,
            Test {
                x: &x,
                treated: &all,
                outcome: &y,
            },
            None,
            &pool,
            &mut no_tick(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("100 treated and 0 control"), "{e}");
        let t: Vec<bool> = (0..100).map(|i| i % 2 == 0).collect();
        let spend: Vec<f64> = (0..100).map(|i| i as f64 * 1.5).collect();
        let e = fit(
            Meta::ClassTransformation,
            &base,
            Test {
                x: &x,
                treated: &t,
                outcome: &spend,
            },
            None,
            &pool,
            &mut no_tick(),
        );
        assert!(e.unwrap_err().to_string().contains("0/1 outcome"));
        assert!(fit(
            Meta::T,
            &base,
            Test {
                x: &x,
                treated: &t,
                outcome: &spend
            },
            None,
            &pool,
            &mut no_tick()
        )
        .is_ok());
    }
}
