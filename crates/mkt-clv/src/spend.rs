//! The Gamma-Gamma model of spend (Fader, Hardie and Lee 2005, "RFM and CLV"): a customer's
//! transaction values vary around their own mean, which varies across customers. Fitted on repeat
//! buyers (x > 0 periods, mean value m > 0); it assumes spend does not depend on frequency, so the
//! fit reports their correlation.

use crate::special::{digamma, ln_gamma};

/// One repeat buyer: repeat periods x and their mean amount m.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spend {
    pub x: f64,
    pub m: f64,
}

/// The log-likelihood of one repeat buyer at (p, q, v), and its gradient.
pub fn ll_grad(params: &[f64; 3], c: Spend, with_grad: bool) -> (f64, [f64; 3]) {
    ll_grad_with(params, c, &x_terms(params, c.x, with_grad), with_grad)
}

/// The gamma and digamma terms of a buyer's log-likelihood that depend on the parameters and x
/// alone, computed once per distinct x in a fit.
#[derive(Debug, Clone, Copy)]
pub struct XTerms {
    ln: f64,
    d_p: f64,
    d_q: f64,
}

pub fn x_terms(params: &[f64; 3], x: f64, with_grad: bool) -> XTerms {
    let [p, q, _] = *params;
    let ln = ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q) + p * x * x.ln();
    if !with_grad {
        return XTerms { ln, d_p: 0.0, d_q: 0.0 };
    }
    let dpq = digamma(p * x + q);
    XTerms { ln, d_p: dpq - digamma(p * x) + x.ln(), d_q: dpq - digamma(q) }
}

pub fn ll_grad_with(params: &[f64; 3], c: Spend, xt: &XTerms, with_grad: bool) -> (f64, [f64; 3]) {
    let [p, q, v] = *params;
    let Spend { x, m } = c;
    let (ln_m, ln_xmv) = (m.ln(), (x * m + v).ln());
    let value = xt.ln + q * v.ln() + (p * x - 1.0) * ln_m - (p * x + q) * ln_xmv;
    if !with_grad {
        return (value, [0.0; 3]);
    }
    let g_p = x * (xt.d_p + ln_m - ln_xmv);
    let g_q = xt.d_q + v.ln() - ln_xmv;
    let g_v = q / v - (p * x + q) / (x * m + v);
    (value, [g_p, g_q, g_v])
}

/// The expected mean transaction value of a customer with x repeat periods of mean value m (the
/// population mean p v / (q - 1) for a customer without repeats).
pub fn expected_average(params: &[f64; 3], c: Spend) -> f64 {
    let [p, q, v] = *params;
    if c.x <= 0.0 {
        return p * v / (q - 1.0);
    }
    p * (v + c.x * c.m) / (p * c.x + q - 1.0)
}

/// Pearson's correlation of two samples (NaN when either is constant).
pub fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let p = [6.25, 3.74, 15.44];
        for c in [Spend { x: 1.0, m: 20.0 }, Spend { x: 7.0, m: 55.5 }] {
            let (_, g) = ll_grad(&p, c, true);
            for k in 0..3 {
                let h = 1e-6 * p[k];
                let (mut up, mut down) = (p, p);
                up[k] += h;
                down[k] -= h;
                let fd = (ll_grad(&up, c, false).0 - ll_grad(&down, c, false).0) / (2.0 * h);
                assert!((g[k] - fd).abs() < 1e-6 * fd.abs().max(1.0), "{k}: {} vs {fd}", g[k]);
            }
        }
    }

    #[test]
    fn expectations_shrink_toward_the_population_mean() {
        let p = [6.25, 3.74, 15.44];
        let population = expected_average(&p, Spend { x: 0.0, m: 0.0 });
        assert!((population - 6.25 * 15.44 / 2.74).abs() < 1e-9);
        let one = expected_average(&p, Spend { x: 1.0, m: 100.0 });
        let many = expected_average(&p, Spend { x: 20.0, m: 100.0 });
        assert!(population < one && one < many && many < 100.0);
        assert!((correlation(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-12);
    }
}
