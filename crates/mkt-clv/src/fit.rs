//! Maximum-likelihood fits of the purchase and spend models: L-BFGS (argmin) on the
//! log-parameters, with the mean log-likelihood of customers grouped by identical data, analytic
//! gradients (numeric for Pareto/NBD, whose likelihood goes through 2F1), time rescaled so the
//! rate parameters start near 1, and standard errors from the Hessian at the optimum.

use crate::purchases::{self, Kind, Rft};
use crate::spend::{self, Spend};
use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use mkt_core::progress::{Progress, Tick};
use mkt_core::{Error, Result};
use rayon::prelude::*;
use rayon::ThreadPool;
use std::cell::RefCell;
use std::collections::HashMap;

/// What a fit found, in the data's own time unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub params: Vec<f64>,
    /// Standard errors (NaN where the Hessian is not invertible).
    pub std_errors: Vec<f64>,
    /// The total log-likelihood at `params`.
    pub log_likelihood: f64,
    pub iterations: u64,
}

/// Distinct rows with how often each occurs: the likelihood is a sum over them.
fn grouped<T: Copy, K: std::hash::Hash + Eq>(rows: impl Iterator<Item = T>, key: impl Fn(&T) -> K) -> Vec<(T, f64)> {
    let mut at: HashMap<K, usize> = HashMap::new();
    let mut out: Vec<(T, f64)> = Vec::new();
    for r in rows {
        match at.entry(key(&r)) {
            std::collections::hash_map::Entry::Occupied(e) => out[*e.get()].1 += 1.0,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(out.len());
                out.push((r, 1.0));
            }
        }
    }
    out
}

/// A point in log-parameter space with its objective value and gradient.
type Evaluated = (Vec<f64>, f64, Vec<f64>);

/// The objective in log-parameter space: mean negative log-likelihood plus the penalizer's
/// `penalizer * sum(params^2)` (lifetimes' convention), with a progress tick per evaluation.
struct Objective<'a, F> {
    n_params: usize,
    /// (value, gradient in natural parameters) of the summed log-likelihood.
    total: F,
    weight: f64,
    penalizer: f64,
    tick: RefCell<&'a mut dyn Tick>,
    evaluations: RefCell<usize>,
    /// The last point evaluated with its value and gradient: the line search asks for the cost
    /// and then the gradient of the same point, which one evaluation answers.
    last: RefCell<Option<Evaluated>>,
}

impl<F: Fn(&[f64], bool) -> (f64, Vec<f64>)> Objective<'_, F> {
    fn eval(&self, log_p: &[f64]) -> (f64, Vec<f64>) {
        if let Some((at, v, g)) = self.last.borrow().as_ref() {
            if at.as_slice() == log_p {
                return (*v, g.clone());
            }
        }
        let (v, g) = self.compute(log_p, true);
        *self.last.borrow_mut() = Some((log_p.to_vec(), v, g.clone()));
        (v, g)
    }

    fn compute(&self, log_p: &[f64], with_grad: bool) -> (f64, Vec<f64>) {
        let mut n = self.evaluations.borrow_mut();
        *n += 1;
        self.tick.borrow_mut().tick(&Progress { phase: "clv fit", done: *n, total: 0 });
        let p: Vec<f64> = log_p.iter().map(|l| l.exp()).collect();
        let (ll, g) = (self.total)(&p, with_grad);
        let pen: f64 = p.iter().map(|v| v * v).sum::<f64>() * self.penalizer;
        let value = -ll / self.weight + pen;
        let grad = if with_grad {
            (0..self.n_params)
                .map(|k| (-g[k] / self.weight + 2.0 * self.penalizer * p[k]) * p[k])
                .collect()
        } else {
            Vec::new()
        };
        (if value.is_finite() { value } else { f64::INFINITY }, grad)
    }
}

impl<F: Fn(&[f64], bool) -> (f64, Vec<f64>)> CostFunction for Objective<'_, F> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.eval(p).0)
    }
}

impl<F: Fn(&[f64], bool) -> (f64, Vec<f64>)> Gradient for Objective<'_, F> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        let g = self.eval(p).1;
        if g.iter().all(|v| v.is_finite()) {
            Ok(g)
        } else {
            Err(argmin::core::Error::msg("the gradient is not finite here"))
        }
    }
}

/// Minimises `total` (summed log-likelihood and natural gradient) from log-parameters `start`.
fn minimise<F: Fn(&[f64], bool) -> (f64, Vec<f64>)>(
    total: F,
    weight: f64,
    start: Vec<f64>,
    penalizer: f64,
    tick: &mut dyn Tick,
) -> Result<(Vec<f64>, u64)> {
    let n = start.len();
    let objective = Objective {
        n_params: n,
        total,
        weight,
        penalizer,
        tick: RefCell::new(tick),
        evaluations: RefCell::new(0),
        last: RefCell::new(None),
    };
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
        // The mean log-likelihood's gradient below 1e-7 puts the estimates within about 1e-7 of
        // the optimum, far below their standard errors; tighter only adds line-search steps.
        .with_tolerance_grad(1e-7)
        .and_then(|s| s.with_tolerance_cost(1e-12))
        .map_err(|e| Error::Compute(e.to_string()))?;
    let run = Executor::new(objective, solver)
        .configure(|state| state.param(start).max_iters(1000))
        .run()
        .map_err(|e| Error::Compute(format!("the likelihood maximisation failed: {e}")))?;
    let state = run.state();
    let best = state
        .get_best_param()
        .cloned()
        .ok_or_else(|| Error::Compute("the likelihood maximisation found no parameters".into()))?;
    if !state.get_best_cost().is_finite() {
        return Err(Error::Compute(
            "the likelihood maximisation did not reach a finite likelihood".into(),
        ));
    }
    Ok((best.iter().map(|l| l.exp()).collect(), state.get_iter()))
}

/// Standard errors from the inverse of the summed negative log-likelihood's Hessian, by central
/// differences of its gradient.
#[allow(clippy::needless_range_loop)]
fn std_errors(grad: impl Fn(&[f64]) -> Vec<f64>, p: &[f64]) -> Vec<f64> {
    let n = p.len();
    let mut h = vec![vec![0.0; n]; n];
    for j in 0..n {
        let step = 1e-5 * p[j].abs().max(1e-8);
        let (mut up, mut down) = (p.to_vec(), p.to_vec());
        up[j] += step;
        down[j] -= step;
        let (gu, gd) = (grad(&up), grad(&down));
        for i in 0..n {
            h[i][j] = -(gu[i] - gd[i]) / (2.0 * step);
        }
    }
    for i in 0..n {
        for j in 0..i {
            let s = (h[i][j] + h[j][i]) / 2.0;
            h[i][j] = s;
            h[j][i] = s;
        }
    }
    match invert(h) {
        Some(inv) => (0..n).map(|i| if inv[i][i] > 0.0 { inv[i][i].sqrt() } else { f64::NAN }).collect(),
        None => vec![f64::NAN; n],
    }
}

/// Gauss-Jordan inverse with partial pivoting; None when singular.
fn invert(mut a: Vec<Vec<f64>>) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let mut inv: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| (i == j) as u8 as f64).collect()).collect();
    for col in 0..n {
        let pivot = (col..n).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let d = a[col][col];
        for j in 0..n {
            a[col][j] /= d;
            inv[col][j] /= d;
        }
        for row in 0..n {
            if row != col {
                let f = a[row][col];
                for j in 0..n {
                    a[row][j] -= f * a[col][j];
                    inv[row][j] -= f * inv[col][j];
                }
            }
        }
    }
    Some(inv)
}

/// Groups per parallel chunk of a likelihood sum.
const CHUNK: usize = 2048;

/// Sums `each(group, cached x terms)` over groups sorted by x, in parallel chunks on `pool`; the
/// x terms are computed again only where x changes.
fn sum_groups<T: Sync, X: Copy, const N: usize>(
    pool: &ThreadPool,
    groups: &[(T, f64)],
    x_of: impl Fn(&T) -> f64 + Sync,
    terms: impl Fn(f64) -> X + Sync,
    each: impl Fn(&T, &X) -> (f64, [f64; N]) + Sync,
) -> (f64, Vec<f64>) {
    // Chunk sums are added in chunk order, so the result does not depend on how the pool split
    // the work: the same data fits to the same bits on any number of threads.
    let parts: Vec<(f64, [f64; N])> = pool.install(|| {
        groups
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut out = (0.0, [0.0; N]);
                let mut cached: Option<(f64, X)> = None;
                for (g, w) in chunk {
                    let x = x_of(g);
                    let xt = match cached {
                        Some((cx, t)) if cx == x => t,
                        _ => {
                            let t = terms(x);
                            cached = Some((x, t));
                            t
                        }
                    };
                    let (v, gr) = each(g, &xt);
                    out.0 += w * v;
                    for (o, g) in out.1.iter_mut().zip(gr) {
                        *o += w * g;
                    }
                }
                out
            })
            .collect()
    });
    let (mut ll, mut g) = (0.0, [0.0; N]);
    for (v, gr) in parts {
        ll += v;
        for (o, x) in g.iter_mut().zip(gr) {
            *o += x;
        }
    }
    (ll, g.to_vec())
}

/// The summed log-likelihood of grouped customers (sorted by x) and its natural gradient
/// (numeric for Pareto/NBD).
fn purchases_total(
    pool: &ThreadPool,
    kind: Kind,
    groups: &[(Rft, f64)],
    p: &[f64],
    with_grad: bool,
) -> (f64, Vec<f64>) {
    let p4 = [p[0], p[1], p[2], p[3]];
    let analytic = kind != Kind::ParetoNbd;
    let total = |q: [f64; 4], grad: bool| {
        sum_groups(
            pool,
            groups,
            |c| c.x,
            |x| purchases::x_terms(kind, &q, x, grad),
            |c, xt| {
                let (v, g) = purchases::ll_grad_with(kind, &q, *c, xt, grad);
                (v, if grad { g } else { [0.0; 4] })
            },
        )
    };
    let (ll, mut g) = total(p4, with_grad && analytic);
    if with_grad && !analytic {
        for k in 0..4 {
            let step = 1e-6 * p4[k].abs().max(1e-8);
            let (mut up, mut down) = (p4, p4);
            up[k] += step;
            down[k] -= step;
            g[k] = (total(up, false).0 - total(down, false).0) / (2.0 * step);
        }
    }
    (ll, g)
}

/// Groups sorted by x (the likelihood sums reuse x's terms along a run).
fn by_x<T: Copy>(groups: impl Iterator<Item = (T, f64)>, x: impl Fn(&T) -> f64) -> Vec<(T, f64)> {
    let mut g: Vec<(T, f64)> = groups.collect();
    g.sort_by(|a, b| x(&a.0).total_cmp(&x(&b.0)));
    g
}

/// Fits a purchase model to customers given as distinct histories (x, t_x, T) with how many
/// customers have each (`history::Histories::groups`). Time is rescaled so that the largest T is
/// 10 while fitting; the result is in the data's unit.
pub fn fit_purchases(
    kind: Kind,
    histories: &[(Rft, f64)],
    penalizer: f64,
    tick: &mut dyn Tick,
    pool: &ThreadPool,
) -> Result<Fit> {
    if histories.is_empty() {
        return Err(Error::EmptyData("there are no customers to fit".into()));
    }
    let max_t = histories.iter().map(|c| c.0.t).fold(0.0f64, f64::max);
    let scale = if max_t > 0.0 { 10.0 / max_t } else { 1.0 };
    let groups = by_x(histories.iter().copied(), |c| c.x);
    let scaled: Vec<(Rft, f64)> = groups
        .iter()
        .map(|&(c, w)| (Rft { x: c.x, t_x: c.t_x * scale, t: c.t * scale }, w))
        .collect();
    let n: f64 = histories.iter().map(|h| h.1).sum();
    let (p_scaled, iterations) = minimise(
        |p, g| purchases_total(pool, kind, &scaled, p, g),
        n,
        vec![0.0; 4],
        penalizer,
        tick,
    )?;
    let times = kind.time_params();
    let params: Vec<f64> = (0..4)
        .map(|k| if times[k] { p_scaled[k] / scale } else { p_scaled[k] })
        .collect();
    let (log_likelihood, _) = purchases_total(pool, kind, &groups, &params, false);
    let std_errors = std_errors(|p| purchases_total(pool, kind, &groups, p, true).1, &params);
    Ok(Fit { params, std_errors, log_likelihood, iterations })
}

/// Repeat buyers a spend model needs at the least.
pub const MIN_REPEATERS: usize = 10;

/// Fits Gamma-Gamma to repeat buyers (x > 0, m > 0); the correlation of x and m comes with it.
pub fn fit_spend(buyers: &[Spend], penalizer: f64, tick: &mut dyn Tick, pool: &ThreadPool) -> Result<(Fit, f64)> {
    if buyers.len() < MIN_REPEATERS {
        return Err(Error::EmptyData(format!(
            "the spend model needs at least {MIN_REPEATERS} repeat buyers with a positive amount, found {}",
            buyers.len()
        )));
    }
    let mean_m = buyers.iter().map(|b| b.m).sum::<f64>() / buyers.len() as f64;
    let scale = 1.0 / mean_m;
    let groups = by_x(grouped(buyers.iter().copied(), |b| [b.x.to_bits(), b.m.to_bits()]).into_iter(), |b| b.x);
    let scaled: Vec<(Spend, f64)> = groups.iter().map(|&(b, w)| (Spend { x: b.x, m: b.m * scale }, w)).collect();
    let total = |groups: &[(Spend, f64)], p: &[f64], with_grad: bool| {
        let p3 = [p[0], p[1], p[2]];
        sum_groups(
            pool,
            groups,
            |b| b.x,
            |x| spend::x_terms(&p3, x, with_grad),
            |b, xt| {
                let (v, g) = spend::ll_grad_with(&p3, *b, xt, with_grad);
                (v, if with_grad { g } else { [0.0; 3] })
            },
        )
    };
    let (p_scaled, iterations) = minimise(
        |p, g| total(&scaled, p, g),
        buyers.len() as f64,
        vec![0.0; 3],
        penalizer,
        tick,
    )?;
    let params = vec![p_scaled[0], p_scaled[1], p_scaled[2] / scale];
    let (log_likelihood, _) = total(&groups, &params, false);
    let std_errors = std_errors(|p| total(&groups, p, true).1, &params);
    let xs: Vec<f64> = buyers.iter().map(|b| b.x).collect();
    let ms: Vec<f64> = buyers.iter().map(|b| b.m).collect();
    Ok((Fit { params, std_errors, log_likelihood, iterations }, spend::correlation(&xs, &ms)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mkt_core::progress::no_tick;
    use mkt_core::rng::Rng;

    fn pool() -> ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap()
    }

    /// Customers simulated from a BG/NBD with known parameters, observed for T periods each.
    fn simulate(n: usize, seed: u64) -> Vec<Rft> {
        let (r, alpha, a, b) = (0.5, 5.0, 1.0, 3.0);
        crate::simulate::customers_bg(&[r, alpha, a, b], &vec![40.0; n], &mut Rng::new(seed))
    }

    #[test]
    fn a_fit_recovers_the_parameters_it_was_simulated_from() {
        let data = simulate(20_000, 3);
        let groups: Vec<(Rft, f64)> = data.iter().map(|&c| (c, 1.0)).collect();
        let f = fit_purchases(Kind::BgNbd, &groups, 0.0, &mut no_tick(), &pool()).unwrap();
        let want = [0.5, 5.0, 1.0, 3.0];
        for (k, want) in want.iter().enumerate() {
            let tolerance = 4.0 * f.std_errors[k] + 0.05 * want;
            assert!((f.params[k] - want).abs() < tolerance, "param {k}: {} (se {})", f.params[k], f.std_errors[k]);
        }
        // the maximum: no other point nearby is more likely
        let p = [f.params[0], f.params[1], f.params[2], f.params[3]];
        let at = |q: &[f64; 4]| data.iter().map(|&c| purchases::ll(Kind::BgNbd, q, c)).sum::<f64>();
        for k in 0..4 {
            let mut q = p;
            q[k] *= 1.02;
            assert!(at(&q) <= at(&p) + 1e-6);
        }
        assert!((at(&p) - f.log_likelihood).abs() < 1e-6 * f.log_likelihood.abs());
    }

    #[test]
    fn a_fit_is_the_same_on_any_number_of_threads() {
        let groups: Vec<(Rft, f64)> = simulate(30_000, 5).iter().map(|&c| (c, 1.0)).collect();
        let on = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            fit_purchases(Kind::BgNbd, &groups, 0.0, &mut no_tick(), &pool).unwrap()
        };
        let one = on(1);
        assert_eq!(one, on(2));
        assert_eq!(one, on(3));
    }

    #[test]
    fn too_few_repeat_buyers_are_refused() {
        let e = fit_spend(&[Spend { x: 1.0, m: 3.0 }], 0.0, &mut no_tick(), &pool()).unwrap_err();
        assert!(matches!(e, Error::EmptyData(_)) && e.to_string().contains("at least 10 repeat buyers"));
        assert!(fit_purchases(Kind::BgNbd, &[], 0.0, &mut no_tick(), &pool()).is_err());
    }
}
