//! Special functions the models need beyond statrs: the Gauss hypergeometric function on [0, 1)
//! and log-sum-exp.

pub use statrs::function::gamma::{digamma, ln_gamma};

/// ln(e^a + e^b) without overflow.
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// ln(e^a - e^b) for a >= b (NaN otherwise).
pub fn log_sub_exp(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    a + (-(b - a).exp()).ln_1p()
}

/// ln B(a, b).
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// Terms a series may take before it is cut off (z near 1 converges slowly).
const MAX_TERMS: usize = 200_000;

/// ln of the Gauss hypergeometric function 2F1(a, b; c; z) for a, b, c > 0 and 0 <= z < 1,
/// summed as its power series in log space (every term is positive, so nothing cancels). When
/// c - a - b < 0 the function grows like (1 - z)^(c - a - b) toward z = 1; Euler's transformation
/// 2F1(a, b; c; z) = (1 - z)^(c - a - b) 2F1(c - a, c - b; c; z) then sums a series that stays
/// bounded (its terms are positive too when c > a and c > b).
pub fn ln_hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if z == 0.0 {
        return 0.0;
    }
    if c - a - b < 0.0 && c - a > 0.0 && c - b > 0.0 {
        return (c - a - b) * (-z).ln_1p() + ln_series(c - a, c - b, c, z);
    }
    ln_series(a, b, c, z)
}

/// The sum of every term is kept as a plain number times e^ln_scale, rescaled before it could
/// overflow: one multiply and add per term instead of a logarithm and an exponential (the series
/// is summed for every customer served, and in every likelihood evaluation of Pareto/NBD).
fn ln_series(a: f64, b: f64, c: f64, z: f64) -> f64 {
    // term_{n+1} / term_n = (a + n)(b + n) / ((c + n)(n + 1)) z
    const RESCALE_ABOVE: f64 = 1e200;
    let (mut term, mut sum, mut ln_scale) = (1.0f64, 1.0f64, 0.0f64);
    for n in 0..MAX_TERMS {
        let nf = n as f64;
        let ratio = (a + nf) * (b + nf) / ((c + nf) * (nf + 1.0)) * z;
        if ratio > 1e100 {
            return ln_series_logs(a, b, c, z); // a step that could overflow even after rescaling
        }
        term *= ratio;
        sum += term;
        if sum > RESCALE_ABOVE {
            term /= RESCALE_ABOVE;
            sum /= RESCALE_ABOVE;
            ln_scale += RESCALE_ABOVE.ln();
        }
        // Once the ratio of terms is below 1, the rest is bounded by a geometric tail.
        let next = (a + nf + 1.0) * (b + nf + 1.0) / ((c + nf + 1.0) * (nf + 2.0)) * z;
        if term < sum * 1e-17 && next < 1.0 {
            break;
        }
        if !sum.is_finite() {
            return ln_series_logs(a, b, c, z);
        }
    }
    ln_scale + sum.ln()
}

/// The same series summed in logs: slower, for ratios too large to multiply.
fn ln_series_logs(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let ln_z = z.ln();
    let (mut ln_term, mut ln_sum) = (0.0f64, 0.0f64);
    for n in 0..MAX_TERMS {
        let nf = n as f64;
        ln_term += ((a + nf) * (b + nf) / ((c + nf) * (nf + 1.0))).ln() + ln_z;
        let next = log_add_exp(ln_sum, ln_term);
        if next - ln_sum < 1e-17 && ((a + nf + 1.0) * (b + nf + 1.0) / ((c + nf + 1.0) * (nf + 2.0))) * z < 1.0 {
            return next;
        }
        ln_sum = next;
        if !ln_sum.is_finite() {
            return ln_sum;
        }
    }
    ln_sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        // 2F1(1, 1; 2; z) = -ln(1 - z) / z
        for z in [0.1f64, 0.5, 0.9, 0.99] {
            let want: f64 = -(1.0 - z).ln() / z;
            assert!(close(ln_hyp2f1(1.0, 1.0, 2.0, z).exp(), want, 1e-10), "z {z}");
        }
        // 2F1(a, b; b; z) = (1 - z)^-a, including the transformed branch (c - a - b < 0)
        for (a, b, z) in [(0.5, 2.0, 0.3f64), (3.0, 1.5, 0.95), (2.5, 4.0, 0.7)] {
            let want: f64 = (1.0 - z).powf(-a);
            assert!(close(ln_hyp2f1(a, b, b, z).exp(), want, 1e-9), "{a} {b} {z}");
        }
        // 2F1(1/2, 1; 3/2; z^2) = atanh(z) / z
        let z: f64 = 0.8;
        assert!(close(ln_hyp2f1(0.5, 1.0, 1.5, z * z).exp(), z.atanh() / z, 1e-10));
        assert_eq!(ln_hyp2f1(2.0, 3.0, 4.0, 0.0), 0.0);
    }

    #[test]
    fn the_scaled_sum_equals_the_sum_in_logs() {
        for &(a, b, c, z) in &[(0.5, 2.0, 3.0, 0.3), (30.0, 40.0, 20.0, 0.9), (5000.0, 5002.0, 5003.0, 0.6), (1e6, 3.0, 2.0, 0.999)] {
            let (fast, slow) = (ln_series(a, b, c, z), ln_series_logs(a, b, c, z));
            assert!(close(fast, slow, 1e-12), "{a} {b} {c} {z}: {fast} vs {slow}");
        }
    }

    #[test]
    fn log_sums_do_not_overflow() {
        assert!(close(log_add_exp(1000.0, 1000.0), 1000.0 + 2f64.ln(), 1e-12));
        assert!(close(log_sub_exp(1000.0, 999.0), 1000.0 + (1.0 - (-1f64).exp()).ln(), 1e-12));
        assert_eq!(log_add_exp(f64::NEG_INFINITY, 3.0), 3.0);
        assert!(close(ln_beta(2.0, 3.0), (1.0f64 / 12.0).ln(), 1e-12));
    }
}
