//! L2-regularised logistic and linear regression, solved exactly by Newton's method.
//!
//! Both minimise  sum_i w_i loss(b + x_i . beta, y_i) + l2 / 2 * |beta|^2  with the intercept b
//! unpenalised: the objective of scikit-learn's `LogisticRegression(C = 1 / l2)` and, for half the
//! squared error, of `Ridge(alpha = l2)`. Coefficients are on the scale of the features given, so
//! they read as the change in log-odds (or value) per unit.

use crate::loss::Loss;
use mkt_core::error::{Error, Result};
use mkt_core::progress::{Progress, Tick};
use rayon::prelude::*;
use rayon::ThreadPool;

#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    pub loss: Loss,
    pub intercept: f64,
    pub coef: Vec<f64>,
    /// Newton steps taken.
    pub iterations: usize,
}

impl Linear {
    pub fn raw(&self, x: &[f64]) -> f64 {
        self.intercept + self.coef.iter().zip(x).map(|(c, v)| c * v).sum::<f64>()
    }
}

const CHUNK: usize = 8192;

/// Loss, gradient and Hessian (packed lower triangle of the (d+1) x (d+1) matrix, intercept
/// first) over all rows. Chunks are summed in order, so any thread count gives the same numbers.
fn totals(
    loss: Loss,
    cols: &[Vec<f64>],
    y: &[f64],
    w: &[f64],
    theta: &[f64],
) -> (f64, Vec<f64>, Vec<f64>) {
    let d1 = theta.len();
    let tri = d1 * (d1 + 1) / 2;
    let parts: Vec<(f64, Vec<f64>, Vec<f64>)> = (0..y.len().div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let (lo, hi) = (c * CHUNK, ((c + 1) * CHUNK).min(y.len()));
            let mut l = 0.0;
            let mut g = vec![0.0; d1];
            let mut h = vec![0.0; tri];
            let mut x = vec![0.0; d1];
            for i in lo..hi {
                x[0] = 1.0;
                for (j, col) in cols.iter().enumerate() {
                    x[j + 1] = col[i];
                }
                let raw: f64 = x.iter().zip(theta).map(|(a, b)| a * b).sum();
                l += w[i] * loss.value(raw, y[i]);
                let (gi, hi_) = loss.grad_hess(raw, y[i]);
                let (gi, hi_) = (w[i] * gi, w[i] * hi_);
                let mut k = 0;
                for a in 0..d1 {
                    g[a] += gi * x[a];
                    let s = hi_ * x[a];
                    for xb in &x[..=a] {
                        h[k] += s * xb;
                        k += 1;
                    }
                }
            }
            (l, g, h)
        })
        .collect();
    let mut out = (0.0, vec![0.0; d1], vec![0.0; tri]);
    for (l, g, h) in parts {
        out.0 += l;
        out.1.iter_mut().zip(g).for_each(|(a, b)| *a += b);
        out.2.iter_mut().zip(h).for_each(|(a, b)| *a += b);
    }
    out
}

/// Solves the symmetric positive definite system (packed lower triangle) by Cholesky.
fn solve(packed: &[f64], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let at = |i: usize, j: usize| packed[i * (i + 1) / 2 + j];
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = at(i, j);
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    let mut z = b.to_vec();
    for i in 0..n {
        for k in 0..i {
            z[i] -= l[i * n + k] * z[k];
        }
        z[i] /= l[i * n + i];
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            z[i] -= l[k * n + i] * z[k];
        }
        z[i] /= l[i * n + i];
    }
    Some(z)
}

/// Fits on feature columns `cols` (each of the rows' length, no NaN), labels `y`, row weights `w`.
/// Newton steps run their sums in `pool`; `tick` is called between steps on the caller's thread.
pub fn fit(
    loss: Loss,
    cols: &[Vec<f64>],
    y: &[f64],
    w: &[f64],
    l2: f64,
    pool: &ThreadPool,
    tick: &mut dyn Tick,
) -> Result<Linear> {
    if !(l2.is_finite() && l2 >= 0.0) {
        return Err(Error::InvalidParameter(format!(
            "l2 must be a finite number >= 0, got {l2}"
        )));
    }
    if y.is_empty() {
        return Err(Error::EmptyData("no rows to fit".into()));
    }
    let d1 = cols.len() + 1;
    let mut theta = vec![0.0; d1];
    theta[0] = loss.base_score(y, w);
    let objective = |l: f64, t: &[f64]| l + l2 / 2.0 * t[1..].iter().map(|v| v * v).sum::<f64>();
    let (mut l, mut g, mut h) = pool.install(|| totals(loss, cols, y, w, &theta));
    let scale = w.iter().sum::<f64>().max(1.0);
    let mut iterations = 0;
    for it in 0..100 {
        for j in 1..d1 {
            g[j] += l2 * theta[j];
            h[j * (j + 1) / 2 + j] += l2;
        }
        let gmax = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        tick.tick(&Progress {
            phase: "newton",
            done: it,
            total: 0,
        });
        if gmax <= 1e-10 * scale {
            break;
        }
        // A tiny ridge keeps the solve defined when a feature is constant or collinear.
        let mut hr = h.clone();
        for j in 0..d1 {
            hr[j * (j + 1) / 2 + j] += 1e-12 * scale;
        }
        let step = solve(&hr, &g).ok_or_else(|| {
            Error::InvalidParameter(
                "the features are collinear (a constant or duplicated column): set l2 > 0".into(),
            )
        })?;
        let before = objective(l, &theta);
        let mut t = 1.0;
        loop {
            let cand: Vec<f64> = theta.iter().zip(&step).map(|(a, s)| a - t * s).collect();
            let (cl, cg, ch) = pool.install(|| totals(loss, cols, y, w, &cand));
            if objective(cl, &cand) <= before + 1e-12 * before.abs() || t < 1e-10 {
                theta = cand;
                (l, g, h) = (cl, cg, ch);
                break;
            }
            t /= 2.0;
        }
        iterations = it + 1;
        if (before - objective(l, &theta)).abs() <= 1e-15 * before.abs().max(1.0)
            && gmax <= 1e-6 * scale
        {
            break;
        }
    }
    Ok(Linear {
        loss,
        intercept: theta[0],
        coef: theta[1..].to_vec(),
        iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mkt_core::progress::no_tick;

    fn pool() -> ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
    }

    #[test]
    fn unpenalised_logistic_on_grouped_data_reproduces_the_observed_log_odds() {
        // One binary feature: the maximum-likelihood fit is closed form. Group x=0 has 3 of 10
        // positives, x=1 has 8 of 10: intercept = logit(0.3), slope = logit(0.8) - logit(0.3).
        let mut x = Vec::new();
        let mut y = Vec::new();
        for (xv, pos, n) in [(0.0, 3, 10), (1.0, 8, 10)] {
            for i in 0..n {
                x.push(xv);
                y.push(if i < pos { 1.0 } else { 0.0 });
            }
        }
        let w = vec![1.0; y.len()];
        let m = fit(Loss::Logistic, &[x], &y, &w, 0.0, &pool(), &mut no_tick()).unwrap();
        let logit = |p: f64| (p / (1.0 - p)).ln();
        assert!((m.intercept - logit(0.3)).abs() < 1e-9, "{m:?}");
        assert!(
            (m.coef[0] - (logit(0.8) - logit(0.3))).abs() < 1e-9,
            "{m:?}"
        );
    }

    #[test]
    fn the_penalised_optimum_has_a_zero_gradient_and_ridge_is_closed_form() {
        let x1: Vec<f64> = (0..50).map(|i| (i as f64 * 0.37).sin() * 3.0).collect();
        let x2: Vec<f64> = (0..50).map(|i| (i as f64 * 0.11).cos()).collect();
        let y: Vec<f64> = (0..50)
            .map(|i| {
                if (x1[i] + x2[i] + (i as f64 * 1.7).sin()) > 0.5 {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let w = vec![1.0; 50];
        let cols = vec![x1.clone(), x2.clone()];
        let m = fit(Loss::Logistic, &cols, &y, &w, 2.0, &pool(), &mut no_tick()).unwrap();
        let theta = [m.intercept, m.coef[0], m.coef[1]];
        let (_, g, _) = totals(Loss::Logistic, &cols, &y, &w, &theta);
        assert!(
            g[0].abs() < 1e-8
                && (g[1] + 2.0 * m.coef[0]).abs() < 1e-8
                && (g[2] + 2.0 * m.coef[1]).abs() < 1e-8
        );

        // Ridge with one feature: slope = Sxy / (Sxx + alpha) on centred data.
        let yr: Vec<f64> = (0..50)
            .map(|i| 2.0 * x1[i] + 1.0 + (i as f64).sin())
            .collect();
        let r = fit(
            Loss::Squared,
            std::slice::from_ref(&x1),
            &yr,
            &w,
            3.0,
            &pool(),
            &mut no_tick(),
        )
        .unwrap();
        let (mx, my) = (x1.iter().sum::<f64>() / 50.0, yr.iter().sum::<f64>() / 50.0);
        let sxy: f64 = x1.iter().zip(&yr).map(|(a, b)| (a - mx) * (b - my)).sum();
        let sxx: f64 = x1.iter().map(|a| (a - mx) * (a - mx)).sum();
        let slope = sxy / (sxx + 3.0);
        assert!(
            (r.coef[0] - slope).abs() < 1e-10 && (r.intercept - (my - slope * mx)).abs() < 1e-10
        );
    }

    #[test]
    fn a_constant_feature_gets_no_weight() {
        let y = [0.0, 1.0, 1.0, 0.0, 1.0];
        let m = fit(
            Loss::Logistic,
            &[vec![1.0; 5]],
            &y,
            &[1.0; 5],
            0.0,
            &pool(),
            &mut no_tick(),
        )
        .unwrap();
        assert!(
            m.coef[0].abs() < 1e-9 && (m.intercept - (1.5f64).ln()).abs() < 1e-9,
            "{m:?}"
        );
    }
}
