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
/// first) over all rows, in the order `chunked` sums them.
fn totals(loss: Loss, cols: &[Vec<f64>], y: &[f64], w: &[f64], theta: &[f64]) -> Sums {
    let d1 = theta.len();
    chunked(y.len(), d1, d1 * (d1 + 1) / 2, |lo, hi, (l, g, h)| {
        let mut x = vec![0.0; d1];
        for i in lo..hi {
            design_row(cols, i, &mut x);
            let raw: f64 = x.iter().zip(theta).map(|(a, b)| a * b).sum();
            *l += w[i] * loss.value(raw, y[i]);
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
    })
}

/// Row `i` of the design with the intercept's 1 first.
fn design_row(cols: &[Vec<f64>], i: usize, x: &mut [f64]) {
    x[0] = 1.0;
    for (j, col) in cols.iter().enumerate() {
        x[j + 1] = col[i];
    }
}

type Sums = (f64, Vec<f64>, Vec<f64>);

/// A loss, a gradient of `d` and a packed Hessian of `tri` summed over `n` rows: `add` adds rows
/// `lo..hi` to one chunk's sums, chunks run in parallel and are summed in order, so any thread
/// count gives the same numbers.
fn chunked(
    n: usize,
    d: usize,
    tri: usize,
    add: impl Fn(usize, usize, (&mut f64, &mut [f64], &mut [f64])) + Sync,
) -> Sums {
    let parts: Vec<Sums> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let (mut l, mut g, mut h) = (0.0, vec![0.0; d], vec![0.0; tri]);
            add(
                c * CHUNK,
                ((c + 1) * CHUNK).min(n),
                (&mut l, &mut g, &mut h),
            );
            (l, g, h)
        })
        .collect();
    let mut out = (0.0, vec![0.0; d], vec![0.0; tri]);
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
    check_l2(l2)?;
    if y.is_empty() {
        return Err(Error::EmptyData("no rows to fit".into()));
    }
    let d1 = cols.len() + 1;
    let mut theta = vec![0.0; d1];
    theta[0] = loss.base_score(y, w);
    // The penalised objective, gradient and Hessian.
    let eval = |t: &[f64]| {
        let (l, mut g, mut h) = pool.install(|| totals(loss, cols, y, w, t));
        for j in 1..d1 {
            g[j] += l2 * t[j];
            h[j * (j + 1) / 2 + j] += l2;
        }
        (
            l + l2 / 2.0 * t[1..].iter().map(|v| v * v).sum::<f64>(),
            g,
            h,
        )
    };
    let scale = w.iter().sum::<f64>().max(1.0);
    let (theta, iterations) = newton(theta, scale, eval, tick)?;
    Ok(Linear {
        loss,
        intercept: theta[0],
        coef: theta[1..].to_vec(),
        iterations,
    })
}

/// Newton's method with a halving line search on a convex objective from `theta`: `eval` gives
/// the objective, its gradient and its packed Hessian at a point. Stops when the gradient
/// vanishes relative to `scale` (the rows' total weight) or the objective stops moving; returns
/// the point and the steps taken.
fn newton(
    mut theta: Vec<f64>,
    scale: f64,
    eval: impl Fn(&[f64]) -> Sums,
    tick: &mut dyn Tick,
) -> Result<(Vec<f64>, usize)> {
    let n = theta.len();
    let (mut objective, mut g, mut h) = eval(&theta);
    let mut iterations = 0;
    for it in 0..100 {
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
        for j in 0..n {
            h[j * (j + 1) / 2 + j] += 1e-12 * scale;
        }
        let step = solve(&h, &g).ok_or_else(|| {
            Error::InvalidParameter(
                "the features are collinear (a constant or duplicated column): set l2 > 0".into(),
            )
        })?;
        let before = objective;
        let mut t = 1.0;
        loop {
            let cand: Vec<f64> = theta.iter().zip(&step).map(|(a, s)| a - t * s).collect();
            let (cobj, cg, ch) = eval(&cand);
            if cobj <= before + 1e-12 * before.abs() || t < 1e-10 {
                (theta, objective, g, h) = (cand, cobj, cg, ch);
                break;
            }
            t /= 2.0;
        }
        iterations = it + 1;
        if (before - objective).abs() <= 1e-15 * before.abs().max(1.0) && gmax <= 1e-6 * scale {
            break;
        }
    }
    Ok((theta, iterations))
}

fn check_l2(l2: f64) -> Result<()> {
    if l2.is_finite() && l2 >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter(format!(
            "l2 must be a finite number >= 0, got {l2}"
        )))
    }
}

/// The multinomial model's parameters at most: its Newton step solves a system of this size,
/// and every row adds to a Hessian of its square (as a binary fit of as many columns would).
pub const MULTINOMIAL_MAX_PARAMETERS: usize = 512;

/// Multinomial logistic regression for `k` classes (`y` holds class positions): minimises
/// `sum_i w_i (-log softmax(b + B x_i)_{y_i}) + l2 / 2 * |B|^2` with the intercepts unpenalised,
/// scikit-learn's `LogisticRegression(C = 1 / l2)` with more than two classes, by Newton's method
/// on all `k (d + 1)` parameters at once. The softmax does not change when the same vector is added
/// to every class's parameters, so the objective is flat along those directions; the penalty
/// `rho / 2 * |sum_c theta_c|^2`, zero at the optimum the L2 penalty picks (whose coefficients sum
/// to zero across classes) and at the intercepts' mean-zero choice, makes the Newton system
/// definite without moving the optimum. None when there would be more than
/// `MULTINOMIAL_MAX_PARAMETERS` parameters.
pub fn fit_multinomial(
    cols: &[Vec<f64>],
    y: &[f64],
    w: &[f64],
    k: usize,
    l2: f64,
    pool: &ThreadPool,
    tick: &mut dyn Tick,
) -> Result<Option<Vec<Linear>>> {
    check_l2(l2)?;
    let n = y.len();
    if n == 0 || k < 2 {
        return Err(Error::EmptyData("no rows or classes to fit".into()));
    }
    let d1 = cols.len() + 1;
    let np = k * d1;
    if np > MULTINOMIAL_MAX_PARAMETERS {
        return Ok(None);
    }
    let scale = w.iter().sum::<f64>().max(1.0);
    let rho = scale / k as f64;
    // Start from the classes' log priors, centred.
    let mut prior = vec![0.0; k];
    y.iter()
        .zip(w)
        .for_each(|(&c, &wi)| prior[c as usize] += wi);
    let total: f64 = prior.iter().sum();
    let logs: Vec<f64> = prior.iter().map(|p| (p / total).max(1e-12).ln()).collect();
    let mean = logs.iter().sum::<f64>() / k as f64;
    let mut theta = vec![0.0; np];
    for c in 0..k {
        theta[c * d1] = logs[c] - mean;
    }
    // Data loss, gradient and packed Hessian of all classes' parameters (class by class, the
    // intercept first in each).
    let data_terms = |theta: &[f64]| -> Sums {
        chunked(n, np, np * (np + 1) / 2, |lo, hi, (l, g, h)| {
            let (mut x, mut p) = (vec![0.0; d1], vec![0.0; k]);
            for i in lo..hi {
                design_row(cols, i, &mut x);
                for (c, pc) in p.iter_mut().enumerate() {
                    *pc = x
                        .iter()
                        .zip(&theta[c * d1..(c + 1) * d1])
                        .map(|(a, b)| a * b)
                        .sum();
                }
                let yi = y[i] as usize;
                let m = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + p.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                *l += w[i] * (lse - p[yi]);
                p.iter_mut().for_each(|v| *v = (*v - lse).exp());
                let mut t = 0;
                for c in 0..k {
                    let r = w[i] * (p[c] - f64::from(c == yi));
                    for a in 0..d1 {
                        g[c * d1 + a] += r * x[a];
                        for c2 in 0..=c {
                            let s = w[i] * (f64::from(c == c2) * p[c] - p[c] * p[c2]) * x[a];
                            let end = if c2 == c { a + 1 } else { d1 };
                            for xb in &x[..end] {
                                h[t] += s * xb;
                                t += 1;
                            }
                        }
                    }
                }
            }
        })
    };
    // The penalties: L2 on the coefficients, rho on the classes' common shift.
    let penalised = |theta: &[f64], l: f64, g: &mut [f64], h: &mut [f64]| -> f64 {
        let mut obj = l;
        for a in 0..d1 {
            let sum: f64 = (0..k).map(|c| theta[c * d1 + a]).sum();
            obj += rho / 2.0 * sum * sum;
            for c in 0..k {
                let u = c * d1 + a;
                g[u] += rho * sum;
                if a > 0 {
                    obj += l2 / 2.0 * theta[u] * theta[u];
                    g[u] += l2 * theta[u];
                    h[u * (u + 1) / 2 + u] += l2;
                }
                for c2 in 0..=c {
                    let v = c2 * d1 + a;
                    h[u * (u + 1) / 2 + v] += rho;
                }
            }
        }
        obj
    };
    let eval = |t: &[f64]| {
        let (l, mut g, mut h) = pool.install(|| data_terms(t));
        let obj = penalised(t, l, &mut g, &mut h);
        (obj, g, h)
    };
    let (theta, iterations) = newton(theta, scale, eval, tick)?;
    // The shift penalty leaves the intercepts' common shift near zero; make it exactly zero.
    let shift = (0..k).map(|c| theta[c * d1]).sum::<f64>() / k as f64;
    Ok(Some(
        (0..k)
            .map(|c| Linear {
                loss: Loss::Logistic,
                intercept: theta[c * d1] - shift,
                coef: theta[c * d1 + 1..(c + 1) * d1].to_vec(),
                iterations,
            })
            .collect(),
    ))
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
    fn the_multinomial_optimum_has_a_zero_gradient_and_two_classes_are_the_binary_fit() {
        let n = 300;
        let x1: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 3.0).collect();
        let x2: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
        let y: Vec<f64> = (0..n)
            .map(|i| {
                let z = [x1[i], x2[i] * 2.0, (i as f64 * 1.7).sin() * 2.0];
                (0..3).max_by(|&a, &b| z[a].total_cmp(&z[b])).unwrap() as f64
            })
            .collect();
        let w: Vec<f64> = (0..n).map(|i| 1.0 + (i % 3) as f64).collect();
        let cols = vec![x1.clone(), x2.clone()];
        let l2 = 1.5;
        let ms = fit_multinomial(&cols, &y, &w, 3, l2, &pool(), &mut no_tick())
            .unwrap()
            .unwrap();
        // The gradient of the objective in every class's parameters is zero at the optimum.
        for (c, m) in ms.iter().enumerate() {
            let (mut g0, mut g1, mut g2) = (0.0, l2 * m.coef[0], l2 * m.coef[1]);
            for i in 0..n {
                let z: Vec<f64> = ms.iter().map(|m| m.raw(&[x1[i], x2[i]])).collect();
                let s: f64 = z.iter().map(|v| v.exp()).sum();
                let r = w[i] * (z[c].exp() / s - f64::from(y[i] as usize == c));
                (g0, g1, g2) = (g0 + r, g1 + r * x1[i], g2 + r * x2[i]);
            }
            assert!(
                g0.abs() < 1e-6 && g1.abs() < 1e-6 && g2.abs() < 1e-6,
                "{c}: {g0} {g1} {g2}"
            );
        }
        assert!(ms.iter().map(|m| m.intercept).sum::<f64>().abs() < 1e-12);
        // With two classes the softmax is the logistic model with half the coefficients each way:
        // B_1 - B_0 = beta under twice the penalty (|B_0|^2 + |B_1|^2 = |beta|^2 / 2 at B_0 = -B_1).
        let yb: Vec<f64> = y.iter().map(|&v| f64::from(v == 2.0)).collect();
        let two = fit_multinomial(&cols, &yb, &w, 2, l2, &pool(), &mut no_tick())
            .unwrap()
            .unwrap();
        let bin = fit(
            Loss::Logistic,
            &cols,
            &yb,
            &w,
            l2 / 2.0,
            &pool(),
            &mut no_tick(),
        )
        .unwrap();
        assert!((two[1].intercept - two[0].intercept - bin.intercept).abs() < 1e-7);
        for j in 0..2 {
            assert!((two[1].coef[j] - two[0].coef[j] - bin.coef[j]).abs() < 1e-7);
        }
        // Without a penalty too: the shift penalty only picks among equal optima.
        let two = fit_multinomial(&cols, &yb, &w, 2, 0.0, &pool(), &mut no_tick())
            .unwrap()
            .unwrap();
        let bin = fit(Loss::Logistic, &cols, &yb, &w, 0.0, &pool(), &mut no_tick()).unwrap();
        assert!((two[1].intercept - two[0].intercept - bin.intercept).abs() < 1e-7);
        assert!((two[1].coef[0] - two[0].coef[0] - bin.coef[0]).abs() < 1e-7);
        assert!(
            (two[0].coef[0] + two[1].coef[0]).abs() < 1e-9,
            "coefficients sum to zero"
        );
        // Too many parameters for one Newton system: None (the caller trains one per class).
        let wide: Vec<Vec<f64>> = (0..200)
            .map(|j| x1.iter().map(|v| v * j as f64).collect())
            .collect();
        assert!(
            fit_multinomial(&wide, &y, &w, 3, 1.0, &pool(), &mut no_tick())
                .unwrap()
                .is_none()
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
