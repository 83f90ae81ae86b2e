//! Dense linear algebra for the solvers: Gram matrices and Cholesky factorisations.
//!
//! Small systems (one per user in ALS) use flat slices; the large item x item system of EASE
//! uses ndarray with rows solved in parallel.

use ndarray::Array2;
use rayon::prelude::*;

/// Rows per partial sum of a Gram matrix. Fixed (not derived from the thread count) so that the
/// floating-point sum is the same on every machine.
const GRAM_CHUNK: usize = 1024;

/// `YᵀY` of a row-major n x f matrix, as a flat f x f matrix.
pub fn gram(y: &[f32], f: usize) -> Vec<f32> {
    let partials: Vec<Vec<f64>> = y
        .par_chunks(GRAM_CHUNK * f)
        .map(|chunk| {
            let mut g = vec![0f64; f * f];
            for row in chunk.chunks_exact(f) {
                for a in 0..f {
                    let ya = row[a] as f64;
                    if ya == 0.0 {
                        continue;
                    }
                    let ga = &mut g[a * f..(a + 1) * f];
                    for (gb, yb) in ga.iter_mut().zip(row) {
                        *gb += ya * *yb as f64;
                    }
                }
            }
            g
        })
        .collect();
    let mut total = vec![0f64; f * f];
    for p in partials {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total.into_iter().map(|v| v as f32).collect()
}

/// Solves `A x = b` for symmetric positive definite `A` (n x n, row-major, overwritten by its
/// factor); `b` becomes `x`. Returns false when `A` is not positive definite.
pub fn cholesky_solve(a: &mut [f64], n: usize, b: &mut [f64]) -> bool {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return false;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * n + k] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= a[k * n + i] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    true
}

fn dot64(a: &[f64], b: &[f64]) -> f64 {
    const L: usize = 4;
    let mut acc = [0f64; L];
    let n = a.len() / L * L;
    for (ca, cb) in a[..n].chunks_exact(L).zip(b[..n].chunks_exact(L)) {
        for l in 0..L {
            acc[l] += ca[l] * cb[l];
        }
    }
    let mut s: f64 = acc.iter().sum();
    for i in n..a.len() {
        s += a[i] * b[i];
    }
    s
}

/// Inverse of a symmetric positive definite matrix via its Cholesky factor, in parallel on `pool`.
/// `tick` runs on the calling thread between column blocks. Returns None when the matrix is not
/// positive definite.
pub fn spd_inverse(
    mut g: Array2<f64>,
    pool: &rayon::ThreadPool,
    tick: &mut dyn FnMut(usize, usize),
) -> Option<Array2<f64>> {
    let n = g.nrows();
    assert_eq!(n, g.ncols());
    // Left-looking Cholesky, lower triangle in place: column j needs rows' prefixes [..j].
    for j in 0..n {
        let d = {
            let (top, mut rest) = g.view_mut().split_at(ndarray::Axis(0), j + 1);
            let lj = top.row(j);
            let lj_pref = lj.as_slice().unwrap();
            let d = lj_pref[j] - dot64(&lj_pref[..j], &lj_pref[..j]);
            if d <= 0.0 || !d.is_finite() {
                return None;
            }
            let d = d.sqrt();
            // Column j below the diagonal: L[i][j] = (G[i][j] - L[i][..j]·L[j][..j]) / L[j][j].
            pool.install(|| {
                rest.axis_iter_mut(ndarray::Axis(0))
                    .into_par_iter()
                    .for_each(|mut row| {
                        let r = row.as_slice_mut().unwrap();
                        r[j] = (r[j] - dot64(&r[..j], &lj_pref[..j])) / d;
                    })
            });
            d
        };
        g[[j, j]] = d;
        if j % 256 == 255 {
            tick(j + 1, 2 * n);
        }
    }
    // Lᵀ as rows, so back substitution reads contiguous memory.
    let mut lt = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for k in 0..=i {
            lt[[k, i]] = g[[i, k]];
        }
    }
    let l = g;
    let mut inv = Array2::<f64>::zeros((n, n));
    let block = 256;
    let mut c0 = 0;
    while c0 < n {
        let c1 = (c0 + block).min(n);
        let cols: Vec<(usize, Vec<f64>)> = pool.install(|| {
            (c0..c1)
                .into_par_iter()
                .map(|c| {
                    // L z = e_c (z is zero above c), then Lᵀ x = z.
                    let mut z = vec![0f64; n];
                    for i in c..n {
                        let row = l.row(i);
                        let r = row.as_slice().unwrap();
                        let e = if i == c { 1.0 } else { 0.0 };
                        z[i] = (e - dot64(&r[c..i], &z[c..i])) / r[i];
                    }
                    let mut x = vec![0f64; n];
                    for i in (0..n).rev() {
                        let row = lt.row(i);
                        let r = row.as_slice().unwrap();
                        x[i] = (z[i] - dot64(&r[i + 1..], &x[i + 1..])) / r[i];
                    }
                    (c, x)
                })
                .collect()
        });
        for (c, x) in cols {
            for (i, v) in x.into_iter().enumerate() {
                inv[[i, c]] = v;
            }
        }
        tick(n + c1, 2 * n);
        c0 = c1;
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_matches_naive() {
        let y: Vec<f32> = (0..30).map(|i| (i as f32 * 0.3).sin()).collect();
        let g = gram(&y, 3);
        for a in 0..3 {
            for b in 0..3 {
                let naive: f32 = (0..10).map(|r| y[r * 3 + a] * y[r * 3 + b]).sum();
                assert!((g[a * 3 + b] - naive).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn cholesky_solves() {
        let mut a = vec![4.0, 2.0, 2.0, 3.0];
        let mut b = vec![2.0, 1.0];
        assert!(cholesky_solve(&mut a, 2, &mut b));
        assert!((b[0] - 0.5).abs() < 1e-12 && b[1].abs() < 1e-12);
        let mut bad = vec![1.0, 2.0, 2.0, 1.0];
        assert!(!cholesky_solve(&mut bad, 2, &mut [1.0, 1.0]));
    }

    #[test]
    fn inverse_times_matrix_is_identity() {
        let n = 300;
        let mut g = Array2::<f64>::zeros((n, n));
        for i in 0..n {
            for j in 0..n {
                g[[i, j]] = ((i * 7 + j * 3) % 11) as f64 * 0.01 + ((i + j) % 5) as f64 * 0.02;
            }
        }
        let g = g.t().dot(&g) + Array2::<f64>::eye(n);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let inv = spd_inverse(g.clone(), &pool, &mut |_, _| {}).unwrap();
        let id = g.dot(&inv);
        for i in 0..n {
            for j in 0..n {
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((id[[i, j]] - e).abs() < 1e-8, "{i},{j}: {}", id[[i, j]]);
            }
        }
        assert!(spd_inverse(Array2::<f64>::zeros((2, 2)), &pool, &mut |_, _| {}).is_none());
    }
}
