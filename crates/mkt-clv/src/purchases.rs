//! The buy-till-you-die models of purchase counts: BG/NBD (Fader, Hardie and Lee 2005), MBG/NBD
//! (Batislam, Denizel and Filiztekin 2007) and Pareto/NBD (Schmittlein, Morrison and Colombo 1987).
//! Each customer is (x, t_x, T): repeat purchases, the time of the last one and the time observed,
//! all measured from the first purchase. Every term is computed in logs (log-sum-exp), so heavy
//! buyers neither overflow nor lose P(alive) to NaN.

use crate::special::{digamma, ln_gamma, ln_hyp2f1, log_add_exp};
use mkt_core::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BgNbd,
    MbgNbd,
    ParetoNbd,
}

impl Kind {
    pub const NAMES: [&'static str; 3] = ["bg_nbd", "pareto_nbd", "mbg_nbd"];

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "bg_nbd" => Ok(Kind::BgNbd),
            "mbg_nbd" => Ok(Kind::MbgNbd),
            "pareto_nbd" => Ok(Kind::ParetoNbd),
            _ => Err(Error::unknown("customer model", name, &Self::NAMES)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::BgNbd => "bg_nbd",
            Kind::MbgNbd => "mbg_nbd",
            Kind::ParetoNbd => "pareto_nbd",
        }
    }

    /// The parameters' names, in the order of a parameter vector.
    pub fn param_names(self) -> [&'static str; 4] {
        match self {
            Kind::BgNbd | Kind::MbgNbd => ["r", "alpha", "a", "b"],
            Kind::ParetoNbd => ["r", "alpha", "s", "beta"],
        }
    }

    /// Which parameters are times (rescaled with the time unit): alpha, and Pareto/NBD's beta.
    pub fn time_params(self) -> [bool; 4] {
        match self {
            Kind::BgNbd | Kind::MbgNbd => [false, true, false, false],
            Kind::ParetoNbd => [false, true, false, true],
        }
    }
}

/// One customer's data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rft {
    pub x: f64,
    pub t_x: f64,
    pub t: f64,
}

/// The log-likelihood of one customer at parameters `p` and, for BG/NBD and MBG/NBD, its gradient
/// with respect to the parameters.
pub fn ll(kind: Kind, p: &[f64; 4], c: Rft) -> f64 {
    ll_grad(kind, p, c, false).0
}

pub fn ll_grad(kind: Kind, p: &[f64; 4], c: Rft, with_grad: bool) -> (f64, [f64; 4]) {
    ll_grad_with(kind, p, c, &x_terms(kind, p, c.x, with_grad), with_grad)
}

/// The parts of a customer's log-likelihood (and gradient) that depend on the parameters and x
/// alone: the gamma and digamma terms. A fit computes them once per distinct x, not per customer.
#[derive(Debug, Clone, Copy)]
pub struct XTerms {
    x: f64,
    ln: f64,
    grad: [f64; 4],
}

pub fn x_terms(kind: Kind, p: &[f64; 4], x: f64, with_grad: bool) -> XTerms {
    let [r, _, a, b] = *p;
    // MBG/NBD's beta terms are BG/NBD's one purchase later.
    let shift = match kind {
        Kind::BgNbd => 0.0,
        Kind::MbgNbd => 1.0,
        Kind::ParetoNbd => return XTerms { x, ln: 0.0, grad: [0.0; 4] },
    };
    let ln = ln_gamma(r + x) - ln_gamma(r) + ln_gamma(a + b) + ln_gamma(b + x + shift)
        - ln_gamma(b)
        - ln_gamma(a + b + x + shift);
    let grad = if with_grad {
        let (dab, dabx) = (digamma(a + b), digamma(a + b + x + shift));
        [digamma(r + x) - digamma(r), 0.0, dab - dabx, dab + digamma(b + x + shift) - digamma(b) - dabx]
    } else {
        [0.0; 4]
    };
    XTerms { x, ln, grad }
}

/// `ll_grad` with the x terms computed already (`xt` must be of `c.x` at `p`).
pub fn ll_grad_with(kind: Kind, p: &[f64; 4], c: Rft, xt: &XTerms, with_grad: bool) -> (f64, [f64; 4]) {
    debug_assert_eq!(xt.x, c.x);
    match kind {
        Kind::BgNbd => bg(p, c, xt, with_grad),
        Kind::MbgNbd => mbg(p, c, xt, with_grad),
        Kind::ParetoNbd => (pareto(p, c), [f64::NAN; 4]),
    }
}

fn bg(p: &[f64; 4], c: Rft, xt: &XTerms, with_grad: bool) -> (f64, [f64; 4]) {
    let [r, alpha, a, b] = *p;
    let Rft { x, t_x, t } = c;
    let (ln_at, ln_atx) = ((alpha + t).ln(), (alpha + t_x).ln());
    let a3 = -(r + x) * ln_at;
    let a4 = if x > 0.0 {
        a.ln() - (b + x - 1.0).ln() - (r + x) * ln_atx
    } else {
        f64::NEG_INFINITY
    };
    let l34 = log_add_exp(a3, a4);
    let value = xt.ln + r * alpha.ln() + l34;
    if !with_grad {
        return (value, [0.0; 4]);
    }
    let (w3, w4) = ((a3 - l34).exp(), if x > 0.0 { (a4 - l34).exp() } else { 0.0 });
    let g_r = xt.grad[0] + alpha.ln() - w3 * ln_at - w4 * ln_atx;
    let g_alpha = r / alpha - w3 * (r + x) / (alpha + t) - w4 * (r + x) / (alpha + t_x);
    let g_a = xt.grad[2] + w4 / a;
    let g_b = xt.grad[3] - if x > 0.0 { w4 / (b + x - 1.0) } else { 0.0 };
    (value, [g_r, g_alpha, g_a, g_b])
}

fn mbg(p: &[f64; 4], c: Rft, xt: &XTerms, with_grad: bool) -> (f64, [f64; 4]) {
    let [r, alpha, a, b] = *p;
    let Rft { x, t_x, t } = c;
    let (ln_at, ln_atx) = ((alpha + t).ln(), (alpha + t_x).ln());
    let a3 = -(r + x) * ln_at;
    let a4 = a.ln() - (b + x).ln() + (r + x) * (ln_at - ln_atx);
    let value = xt.ln + r * alpha.ln() + a3 + log_add_exp(a4, 0.0);
    if !with_grad {
        return (value, [0.0; 4]);
    }
    let s4 = 1.0 / (1.0 + (-a4).exp());
    let g_r = xt.grad[0] + alpha.ln() - ln_at + s4 * (ln_at - ln_atx);
    let g_alpha = r / alpha - (r + x) / (alpha + t)
        + s4 * (r + x) * (1.0 / (alpha + t) - 1.0 / (alpha + t_x));
    let g_a = xt.grad[2] + s4 / a;
    let g_b = xt.grad[3] - s4 / (b + x);
    (value, [g_r, g_alpha, g_a, g_b])
}

/// ln A_0 of Pareto/NBD's likelihood (lifetimes' `_log_A_0`), through 2F1(rsx, t'; rsx + 1; z).
fn pareto_ln_a0(p: &[f64; 4], c: Rft) -> f64 {
    let [r, alpha, s, beta] = *p;
    let Rft { x, t_x, t } = c;
    let (lo, hi, tt) = if alpha < beta {
        (alpha, beta, r + x)
    } else {
        (beta, alpha, s + 1.0)
    };
    let rsx = r + s + x;
    let d = hi - lo;
    let (q1, q2) = (hi + t_x, hi + t);
    let ln_p1 = ln_hyp2f1(rsx, tt, rsx + 1.0, d / q1);
    let ln_p2 = ln_hyp2f1(rsx, tt, rsx + 1.0, d / q2);
    // p1 / q1^rsx - p2 / q2^rsx, in logs (the first term is the larger: q1 <= q2)
    let first = ln_p1 - rsx * q1.ln();
    let second = ln_p2 - rsx * q2.ln();
    crate::special::log_sub_exp(first, second)
}

fn pareto(p: &[f64; 4], c: Rft) -> f64 {
    let [r, alpha, s, beta] = *p;
    let Rft { x, t, .. } = c;
    let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln();
    let a2 = log_add_exp(
        -(r + x) * (alpha + t).ln() - s * (beta + t).ln(),
        s.ln() + pareto_ln_a0(p, c) - (r + s + x).ln(),
    );
    a1 + a2
}

/// The probability that a customer with history `c` is still active.
pub fn p_alive(kind: Kind, p: &[f64; 4], c: Rft) -> f64 {
    let [r, alpha, a_or_s, b_or_beta] = *p;
    let Rft { x, t_x, t } = c;
    let ln_odds = match kind {
        Kind::BgNbd => {
            if x == 0.0 {
                return 1.0;
            }
            a_or_s.ln() - (b_or_beta + x - 1.0).ln() + (r + x) * ((alpha + t).ln() - (alpha + t_x).ln())
        }
        Kind::MbgNbd => {
            a_or_s.ln() - (b_or_beta + x).ln() + (r + x) * ((alpha + t).ln() - (alpha + t_x).ln())
        }
        Kind::ParetoNbd => {
            let s = a_or_s;
            s.ln() - (r + s + x).ln() + (r + x) * (alpha + t).ln() + s * (b_or_beta + t).ln()
                + pareto_ln_a0(p, c)
        }
    };
    // 1 / (1 + e^ln_odds), finite in [0, 1] for any size of ln_odds
    if ln_odds > 0.0 {
        let e = (-ln_odds).exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + ln_odds.exp())
    }
}

/// The expected number of purchases of a customer with history `c` in the next `h` periods.
pub fn expected_purchases(kind: Kind, p: &[f64; 4], c: Rft, h: f64) -> f64 {
    if h <= 0.0 {
        return 0.0;
    }
    let [r, alpha, a, b] = *p;
    let Rft { x, t_x, t } = c;
    match kind {
        Kind::BgNbd | Kind::MbgNbd => {
            let z = h / (alpha + t + h);
            let ln_c = (r + x) * ((alpha + t).ln() - (alpha + t + h).ln());
            let ratio = ((alpha + t).ln() - (alpha + t_x).ln()) * (r + x);
            let (lead, ln_hyp, denominator) = if kind == Kind::BgNbd {
                (
                    (a + b + x - 1.0) / (a - 1.0),
                    ln_hyp2f1(r + x, b + x, a + b + x - 1.0, z),
                    if x > 0.0 { 1.0 + (a.ln() - (b + x - 1.0).ln() + ratio).exp() } else { 1.0 },
                )
            } else {
                (
                    (a + b + x) / (a - 1.0),
                    ln_hyp2f1(r + x, b + x + 1.0, a + b + x, z),
                    1.0 + (a.ln() - (b + x).ln() + ratio).exp(),
                )
            };
            lead * (-(ln_hyp + ln_c).exp_m1()) / denominator
        }
        Kind::ParetoNbd => {
            let (s, beta) = (a, b);
            let first = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln()
                - (r + x) * (alpha + t).ln()
                - s * (beta + t).ln();
            let second = (r + x).ln() + (beta + t).ln() - (alpha + t).ln();
            let third = if (s - 1.0).abs() < 1e-9 {
                ((beta + t + h) / (beta + t)).ln().ln()
            } else {
                ((1.0 - ((beta + t) / (beta + t + h)).powf(s - 1.0)) / (s - 1.0)).ln()
            };
            (first + second + third - pareto(p, c)).exp()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAPER: [f64; 4] = [0.243, 4.414, 0.793, 2.426];

    fn finite_difference(kind: Kind, p: &[f64; 4], c: Rft) -> [f64; 4] {
        let mut g = [0.0; 4];
        for k in 0..4 {
            let h = 1e-6 * p[k].max(1e-3);
            let (mut up, mut down) = (*p, *p);
            up[k] += h;
            down[k] -= h;
            g[k] = (ll(kind, &up, c) - ll(kind, &down, c)) / (2.0 * h);
        }
        g
    }

    #[test]
    fn bg_nbd_likelihood_matches_a_hand_computation() {
        // x = 0: ln[(alpha / (alpha + T))^r] + ln[B(a, b) / B(a, b)] = r ln(alpha / (alpha + T))
        let c = Rft { x: 0.0, t_x: 0.0, t: 30.0 };
        let want = 0.243 * (4.414f64 / (4.414 + 30.0)).ln();
        assert!((ll(Kind::BgNbd, &PAPER, c) - want).abs() < 1e-12);
        // x = 1, t_x = 10, T = 30, by the paper's formula term by term
        let (r, al, a, b) = (0.243f64, 4.414f64, 0.793f64, 2.426f64);
        let c = Rft { x: 1.0, t_x: 10.0, t: 30.0 };
        let beta = |p: f64, q: f64| (ln_gamma(p) + ln_gamma(q) - ln_gamma(p + q)).exp();
        let gamma_part = (ln_gamma(r + 1.0) - ln_gamma(r)).exp() * al.powf(r);
        let l = beta(a, b + 1.0) / beta(a, b) * gamma_part / (al + 30.0).powf(r + 1.0)
            + beta(a + 1.0, b) / beta(a, b) * gamma_part / (al + 10.0).powf(r + 1.0);
        assert!((ll(Kind::BgNbd, &PAPER, c) - l.ln()).abs() < 1e-10);
    }

    #[test]
    fn gradients_match_finite_differences() {
        for kind in [Kind::BgNbd, Kind::MbgNbd] {
            for c in [
                Rft { x: 0.0, t_x: 0.0, t: 38.0 },
                Rft { x: 3.0, t_x: 20.5, t: 38.0 },
                Rft { x: 40.0, t_x: 37.0, t: 38.0 },
            ] {
                let (_, g) = ll_grad(kind, &PAPER, c, true);
                let fd = finite_difference(kind, &PAPER, c);
                for k in 0..4 {
                    assert!((g[k] - fd[k]).abs() < 1e-5 * fd[k].abs().max(1.0), "{kind:?} {c:?} param {k}: {} vs {}", g[k], fd[k]);
                }
            }
        }
    }

    #[test]
    fn p_alive_stays_in_bounds_for_heavy_buyers() {
        for kind in [Kind::BgNbd, Kind::MbgNbd, Kind::ParetoNbd] {
            let p = if kind == Kind::ParetoNbd { [0.55, 10.6, 0.61, 11.7] } else { PAPER };
            for (x, t_x) in [(5000.0, 1.0), (5000.0, 99.0), (0.0, 0.0), (1.0, 0.5)] {
                let v = p_alive(kind, &p, Rft { x, t_x, t: 100.0 });
                assert!((0.0..=1.0).contains(&v) && v.is_finite(), "{kind:?} x {x}: {v}");
            }
            // lapsed heavy buyer: almost surely gone; a recent one: alive
            assert!(p_alive(kind, &p, Rft { x: 5000.0, t_x: 1.0, t: 100.0 }) < 1e-6);
            assert!(p_alive(kind, &p, Rft { x: 50.0, t_x: 100.0, t: 100.0 }) > 0.9);
        }
        assert_eq!(p_alive(Kind::BgNbd, &PAPER, Rft { x: 0.0, t_x: 0.0, t: 50.0 }), 1.0);
    }

    #[test]
    fn expected_purchases_match_the_closed_form_without_history() {
        // BG/NBD, a customer with x = 0 at T = 0: E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]
        let (r, al, a, b) = (0.243f64, 4.414f64, 0.793f64, 2.426f64);
        let t = 52.0;
        let want = (a + b - 1.0) / (a - 1.0)
            * (1.0 - (al / (al + t)).powf(r) * ln_hyp2f1(r, b, a + b - 1.0, t / (al + t)).exp());
        let got = expected_purchases(Kind::BgNbd, &PAPER, Rft { x: 0.0, t_x: 0.0, t: 0.0 }, t);
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        // more history and more recent purchases mean more future purchases
        let e = |x: f64, t_x: f64| expected_purchases(Kind::BgNbd, &PAPER, Rft { x, t_x, t: 38.0 }, 39.0);
        assert!(e(5.0, 37.0) > e(1.0, 37.0) && e(5.0, 37.0) > e(5.0, 10.0));
        for kind in [Kind::MbgNbd, Kind::ParetoNbd] {
            let p = if kind == Kind::ParetoNbd { [0.55, 10.6, 0.61, 11.7] } else { PAPER };
            let v = expected_purchases(kind, &p, Rft { x: 2.0, t_x: 30.0, t: 38.0 }, 39.0);
            assert!(v.is_finite() && v > 0.0, "{kind:?}: {v}");
        }
    }
}
