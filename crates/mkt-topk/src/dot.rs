//! Dot products of one query vector with many rows of a row-major matrix.
//!
//! This is the inner loop of every factor-model recommendation, so it has an AVX2+FMA version picked
//! at run time (the default x86_64 target only assumes SSE2) and a portable version whose fixed-size
//! lane arrays the compiler vectorises.

/// `a · b` for equal-length slices.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if avx2_fma() {
            // SAFETY: the CPU supports the features the function was compiled for.
            return unsafe { x86::dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

/// `out[j] = rows[j*dim..(j+1)*dim] · query` for every row.
pub fn scores_into(rows: &[f32], dim: usize, query: &[f32], out: &mut [f32]) {
    assert_eq!(query.len(), dim);
    assert_eq!(rows.len(), dim * out.len());
    #[cfg(target_arch = "x86_64")]
    {
        if avx2_fma() {
            for (j, o) in out.iter_mut().enumerate() {
                // SAFETY: as in `dot`.
                *o = unsafe { x86::dot_avx2(&rows[j * dim..(j + 1) * dim], query) };
            }
            return;
        }
    }
    for (j, o) in out.iter_mut().enumerate() {
        *o = dot_portable(&rows[j * dim..(j + 1) * dim], query);
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_fma() -> bool {
    use std::sync::OnceLock;
    static DETECTED: OnceLock<bool> = OnceLock::new();
    *DETECTED.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 8;
    let mut acc = [0f32; L];
    let n = a.len() / L * L;
    for (ca, cb) in a[..n].chunks_exact(L).zip(b[..n].chunks_exact(L)) {
        for l in 0..L {
            acc[l] += ca[l] * cb[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in n..a.len() {
        s += a[i] * b[i];
    }
    s
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        while i + 16 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            acc1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
                acc1,
            );
            i += 16;
        }
        if i + 8 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            i += 8;
        }
        let v = _mm256_add_ps(acc0, acc1);
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s4 = _mm_add_ps(lo, hi);
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        let s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 0x55));
        let mut s = _mm_cvtss_f32(s1);
        while i < n {
            s += *pa.add(i) * *pb.add(i);
            i += 1;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    #[test]
    fn kernels_agree_with_naive_for_all_lengths() {
        for n in 0..70 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let expect = naive(&a, &b);
            assert!((dot(&a, &b) as f64 - expect).abs() < 1e-4, "n={n}");
            assert!((dot_portable(&a, &b) as f64 - expect).abs() < 1e-4, "n={n}");
        }
    }

    #[test]
    fn scores_cover_every_row() {
        let dim = 5;
        let rows: Vec<f32> = (0..20).map(|i| i as f32).collect();
        let q = vec![1.0, 0.0, 0.0, 0.0, 1.0];
        let mut out = vec![0.0; 4];
        scores_into(&rows, dim, &q, &mut out);
        assert_eq!(out, vec![4.0, 14.0, 24.0, 34.0]);
    }
}
