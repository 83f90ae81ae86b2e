//! Implicit-feedback alternating least squares (Hu, Koren, Volinsky 2008).
//!
//! Each interaction of weight w gives preference 1 and confidence c = 1 + alpha * w; every other
//! pair has preference 0 and confidence 1. Each half-iteration solves, for every user u,
//! (YᵀY + Yᵀ(Cᵤ - I)Y + λI) xᵤ = YᵀCᵤp(u), with YᵀY shared by all users, then the same for items.
//! The default solver runs a few conjugate-gradient steps warm-started from the previous factors
//! (Takács et al. 2011), which costs O(f²) per user plus O(f) per interaction; `cholesky` solves
//! exactly at O(f²) per interaction.
//!
//! Determinism: every row's solve depends only on the other side's factors, and the shared Gram
//! matrix is reduced over fixed-size chunks in a fixed order, so a seed gives the same model for
//! any thread count.

use crate::linalg::{cholesky_solve, gram};
use mkt_core::interactions::Csr;
use mkt_core::progress::{Progress, Tick};
use mkt_core::rng::Rng;
use mkt_topk::dot;
use rayon::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solver {
    ConjugateGradient,
    Cholesky,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlsParams {
    pub factors: usize,
    pub regularization: f32,
    pub alpha: f32,
    pub iterations: usize,
    pub seed: u64,
    pub solver: Solver,
    pub cg_steps: usize,
}

/// Rows solved between two ticks: small enough that a cancel is seen within milliseconds.
const ROWS_PER_TICK: usize = 8192;

/// Returns (user factors, item factors), row-major with `params.factors` columns.
pub fn fit(
    by_user: &Csr,
    params: &AlsParams,
    pool: &rayon::ThreadPool,
    tick: &mut dyn Tick,
) -> (Vec<f32>, Vec<f32>) {
    let f = params.factors;
    let by_item = by_user.transpose();
    let mut users = init_factors(by_user.n_rows, f, params.seed, 0);
    let mut items = init_factors(by_user.n_cols, f, params.seed, 1);
    // Progress counts rows solved, over every half-sweep and the final user pass.
    let (nu, ni) = (by_user.n_rows, by_user.n_cols);
    let total = params.iterations * (nu + ni) + nu;
    let mut done = 0;
    for _ in 0..params.iterations {
        solve_side(by_user, &items, &mut users, params, pool, (&mut done, total), tick);
        solve_side(&by_item, &users, &mut items, params, pool, (&mut done, total), tick);
    }
    // Users once more, so that each user's vector is the solve against the item factors it is
    // served with (what mkt.explain_recommendation decomposes).
    solve_side(by_user, &items, &mut users, params, pool, (&mut done, total), tick);
    (users, items)
}

fn init_factors(rows: usize, f: usize, seed: u64, side: u64) -> Vec<f32> {
    let mut out = vec![0f32; rows * f];
    for (r, row) in out.chunks_exact_mut(f).enumerate() {
        let mut rng = Rng::stream(seed, (side << 40) ^ r as u64);
        for v in row.iter_mut() {
            *v = (rng.normal() * 0.01) as f32;
        }
    }
    out
}

/// Solves every row of `x` given the fixed factors `y`.
fn solve_side(
    rows: &Csr,
    y: &[f32],
    x: &mut [f32],
    p: &AlsParams,
    pool: &rayon::ThreadPool,
    (done, total): (&mut usize, usize),
    tick: &mut dyn Tick,
) {
    let f = p.factors;
    let mut a0 = pool.install(|| gram(y, f));
    for d in 0..f {
        a0[d * f + d] += p.regularization;
    }
    let n = rows.n_rows;
    let mut start = 0;
    while start < n {
        let end = (start + ROWS_PER_TICK).min(n);
        let block = &mut x[start * f..end * f];
        pool.install(|| {
            block.par_chunks_mut(f).enumerate().for_each_init(
                || Scratch::new(f),
                |s, (off, xu)| {
                    let (idx, w) = rows.row(start + off);
                    match p.solver {
                        Solver::ConjugateGradient => solve_cg(&a0, y, idx, w, p, xu, s),
                        Solver::Cholesky => solve_exact(&a0, y, idx, w, p, xu),
                    }
                },
            )
        });
        *done += end - start;
        tick.tick(&Progress {
            phase: "als",
            done: *done,
            total,
        });
        start = end;
    }
}

struct Scratch {
    r: Vec<f32>,
    d: Vec<f32>,
    ad: Vec<f32>,
}

impl Scratch {
    fn new(f: usize) -> Self {
        Scratch {
            r: vec![0.0; f],
            d: vec![0.0; f],
            ad: vec![0.0; f],
        }
    }
}

fn matvec(a: &[f32], v: &[f32], out: &mut [f32]) {
    let f = v.len();
    for (r, o) in out.iter_mut().enumerate() {
        *o = dot(&a[r * f..(r + 1) * f], v);
    }
}

fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

fn solve_cg(
    a0: &[f32],
    y: &[f32],
    idx: &[u32],
    w: &[f32],
    p: &AlsParams,
    x: &mut [f32],
    s: &mut Scratch,
) {
    let f = p.factors;
    if idx.is_empty() {
        // Only the regulariser and the zero preferences pull on this row: its optimum is 0.
        x.fill(0.0);
        return;
    }
    // r = b - A x, with A x = A0 x + sum (c-1)(yᵢ·x) yᵢ and b = sum c yᵢ
    matvec(a0, x, &mut s.r);
    for v in s.r.iter_mut() {
        *v = -*v;
    }
    for (&i, &wi) in idx.iter().zip(w) {
        let yi = &y[i as usize * f..(i as usize + 1) * f];
        let c = 1.0 + p.alpha * wi;
        let coef = c - (c - 1.0) * dot(yi, x);
        axpy(coef, yi, &mut s.r);
    }
    s.d.copy_from_slice(&s.r);
    let mut rs_old = dot(&s.r, &s.r);
    if rs_old < 1e-20 {
        return;
    }
    for _ in 0..p.cg_steps {
        matvec(a0, &s.d, &mut s.ad);
        for (&i, &wi) in idx.iter().zip(w) {
            let yi = &y[i as usize * f..(i as usize + 1) * f];
            let coef = p.alpha * wi * dot(yi, &s.d);
            axpy(coef, yi, &mut s.ad);
        }
        let d_ad = dot(&s.d, &s.ad);
        if d_ad <= 0.0 {
            break;
        }
        let step = rs_old / d_ad;
        axpy(step, &s.d, x);
        axpy(-step, &s.ad, &mut s.r);
        let rs_new = dot(&s.r, &s.r);
        if rs_new < 1e-20 {
            break;
        }
        let beta = rs_new / rs_old;
        for (di, ri) in s.d.iter_mut().zip(&s.r) {
            *di = ri + beta * *di;
        }
        rs_old = rs_new;
    }
}

fn solve_exact(a0: &[f32], y: &[f32], idx: &[u32], w: &[f32], p: &AlsParams, x: &mut [f32]) {
    let f = p.factors;
    let mut a: Vec<f64> = a0.iter().map(|&v| v as f64).collect();
    let mut b = vec![0f64; f];
    for (&i, &wi) in idx.iter().zip(w) {
        let yi = &y[i as usize * f..(i as usize + 1) * f];
        let c = 1.0 + (p.alpha * wi) as f64;
        for r in 0..f {
            let yr = yi[r] as f64;
            b[r] += c * yr;
            let row = &mut a[r * f..(r + 1) * f];
            for (cc, v) in row.iter_mut().enumerate() {
                *v += (c - 1.0) * yr * yi[cc] as f64;
            }
        }
    }
    if cholesky_solve(&mut a, f, &mut b) {
        for (xi, bi) in x.iter_mut().zip(&b) {
            *xi = *bi as f32;
        }
    }
}

/// Weighted squared loss plus regularisation; only for tests and diagnostics (O(users x items)).
pub fn loss(by_user: &Csr, users: &[f32], items: &[f32], p: &AlsParams) -> f64 {
    let f = p.factors;
    let mut total = 0f64;
    for u in 0..by_user.n_rows {
        let xu = &users[u * f..(u + 1) * f];
        let (idx, w) = by_user.row(u);
        for i in 0..by_user.n_cols {
            let pred = dot(xu, &items[i * f..(i + 1) * f]) as f64;
            let (c, pref) = match idx.binary_search(&(i as u32)) {
                Ok(k) => (1.0 + (p.alpha * w[k]) as f64, 1.0),
                Err(_) => (1.0, 0.0),
            };
            total += c * (pref - pred).powi(2);
        }
    }
    let reg: f64 = users.iter().chain(items).map(|v| (*v as f64).powi(2)).sum();
    total + p.regularization as f64 * reg
}

#[cfg(test)]
mod tests {
    use super::*;
    use mkt_core::progress::no_tick;

    fn params(solver: Solver) -> AlsParams {
        AlsParams {
            factors: 4,
            regularization: 0.1,
            alpha: 5.0,
            iterations: 8,
            seed: 3,
            solver,
            cg_steps: 3,
        }
    }

    fn small() -> Csr {
        let mut r = vec![];
        let mut c = vec![];
        for u in 0..30u32 {
            for i in 0..20u32 {
                if (u % 3) == (i % 3) && (u + i) % 4 != 0 {
                    r.push(u);
                    c.push(i);
                }
            }
        }
        let v = vec![1.0; r.len()];
        Csr::from_triples(30, 20, &r, &c, &v)
    }

    #[test]
    fn loss_decreases_for_both_solvers() {
        let data = small();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for solver in [Solver::ConjugateGradient, Solver::Cholesky] {
            let mut p = params(solver);
            p.iterations = 1;
            let (u1, i1) = fit(&data, &p, &pool, &mut no_tick());
            p.iterations = 8;
            let (u8, i8) = fit(&data, &p, &pool, &mut no_tick());
            let (l1, l8) = (loss(&data, &u1, &i1, &p), loss(&data, &u8, &i8, &p));
            assert!(l8 < l1, "{solver:?}: {l8} !< {l1}");
        }
    }

    #[test]
    fn same_seed_same_model_any_thread_count() {
        let data = small();
        let p = params(Solver::ConjugateGradient);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let a = fit(&data, &p, &one, &mut no_tick());
        let b = fit(&data, &p, &two, &mut no_tick());
        assert_eq!(a, b);
        let mut other = p.clone();
        other.seed = 4;
        assert_ne!(fit(&data, &other, &two, &mut no_tick()), a);
    }

    #[test]
    fn ticks_reach_the_caller() {
        let data = small();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let mut seen = Vec::new();
        let mut t = |p: &Progress| seen.push(p.clone());
        fit(&data, &params(Solver::ConjugateGradient), &pool, &mut t);
        // one tick per side (fewer rows than a chunk) per sweep, and the final user pass
        assert_eq!(seen.len(), 8 * 2 + 1);
        assert!(seen.iter().all(|p| p.phase == "als" && p.total == 8 * 50 + 30));
        assert!(seen.windows(2).all(|w| w[0].done < w[1].done));
        assert_eq!(seen.last().unwrap().done, seen.last().unwrap().total);
    }
}
