//! The losses the learners minimise, with their first and second derivatives in the raw score.
//! Classification works on the log-odds scale (binary cross-entropy), regression on the value
//! itself (half squared error), so one tree learner serves both.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Binary cross-entropy of a sigmoid of the raw score; labels 0 or 1.
    Logistic,
    /// Half the squared error.
    Squared,
}

pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// The softmax of logits, in place (shifted by their maximum, so large logits do not overflow).
pub fn softmax(z: &mut [f64]) {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for v in z.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    z.iter_mut().for_each(|v| *v /= s);
}

/// The softmax cross-entropy of `class` under logits `z`, its probability clipped at 1e-15 (a class
/// outside `z` has probability 0); `z` is left holding the softmax.
pub fn cross_entropy(z: &mut [f64], class: usize) -> f64 {
    softmax(z);
    -z.get(class).copied().unwrap_or(0.0).clamp(1e-15, 1.0).ln()
}

impl Loss {
    /// The loss of one row at raw score `raw`.
    pub fn value(self, raw: f64, y: f64) -> f64 {
        match self {
            // log(1 + e^raw) - y raw, written so that neither branch overflows.
            Loss::Logistic => {
                let softplus = if raw > 0.0 {
                    raw + (-raw).exp().ln_1p()
                } else {
                    raw.exp().ln_1p()
                };
                softplus - y * raw
            }
            Loss::Squared => 0.5 * (raw - y) * (raw - y),
        }
    }

    /// (gradient, hessian) of `value` in `raw`.
    pub fn grad_hess(self, raw: f64, y: f64) -> (f64, f64) {
        match self {
            Loss::Logistic => {
                let p = sigmoid(raw);
                (p - y, (p * (1.0 - p)).max(1e-16))
            }
            Loss::Squared => (raw - y, 1.0),
        }
    }

    /// The raw score that minimises the weighted loss of a constant model: the log-odds of the
    /// weighted positive rate, or the weighted mean.
    pub fn base_score(self, y: &[f64], w: &[f64]) -> f64 {
        let (sw, swy) = y
            .iter()
            .zip(w)
            .fold((0.0, 0.0), |(a, b), (&y, &w)| (a + w, b + w * y));
        let mean = if sw > 0.0 { swy / sw } else { 0.0 };
        match self {
            Loss::Logistic => {
                let p = mean.clamp(1e-12, 1.0 - 1e-12);
                (p / (1.0 - p)).ln()
            }
            Loss::Squared => mean,
        }
    }

    /// The prediction a raw score stands for: a probability or a value.
    pub fn output(self, raw: f64) -> f64 {
        match self {
            Loss::Logistic => sigmoid(raw),
            Loss::Squared => raw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_softmax_gradient_is_the_probability_minus_the_label_by_finite_differences() {
        let loss = |z: &[f64], y: usize| {
            let mut p = z.to_vec();
            softmax(&mut p);
            -p[y].ln()
        };
        let z = [0.3, -1.2, 2.0, 0.0];
        let mut p = z.to_vec();
        softmax(&mut p);
        for y in 0..4 {
            for c in 0..4 {
                let e = 1e-6;
                let (mut a, mut b) = (z.to_vec(), z.to_vec());
                a[c] += e;
                b[c] -= e;
                let numeric = (loss(&a, y) - loss(&b, y)) / (2.0 * e);
                let g = p[c] - f64::from(c == y);
                assert!((numeric - g).abs() < 1e-7, "{y} {c}: {numeric} vs {g}");
                // The Hessian's diagonal, p_c (1 - p_c), by differences of the gradient.
                let (mut pa, mut pb) = (a.clone(), b.clone());
                softmax(&mut pa);
                softmax(&mut pb);
                let h = (pa[c] - pb[c]) / (2.0 * e);
                assert!((h - p[c] * (1.0 - p[c])).abs() < 1e-6);
            }
        }
        let mut big = [1000.0, 999.0];
        softmax(&mut big);
        assert!((big[0] - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-12);
    }

    #[test]
    fn gradients_and_hessians_match_finite_differences() {
        for loss in [Loss::Logistic, Loss::Squared] {
            for &raw in &[-30.0, -3.2, -0.4, 0.0, 0.7, 2.5, 25.0] {
                for &y in &[0.0, 1.0, 0.3] {
                    let h = 1e-5;
                    let fd_g = (loss.value(raw + h, y) - loss.value(raw - h, y)) / (2.0 * h);
                    let (g, hess) = loss.grad_hess(raw, y);
                    assert!(
                        (fd_g - g).abs() < 1e-7,
                        "{loss:?} raw {raw} y {y}: {fd_g} vs {g}"
                    );
                    let fd_h =
                        (loss.grad_hess(raw + h, y).0 - loss.grad_hess(raw - h, y).0) / (2.0 * h);
                    assert!(
                        (fd_h - hess).abs() < 1e-7,
                        "{loss:?} raw {raw}: {fd_h} vs {hess}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_base_score_minimises_a_constant_model() {
        let y = [1.0, 0.0, 0.0, 1.0, 0.0];
        let w = [1.0, 1.0, 2.0, 1.0, 1.0];
        for loss in [Loss::Logistic, Loss::Squared] {
            let b = loss.base_score(&y, &w);
            let total = |r: f64| {
                y.iter()
                    .zip(&w)
                    .map(|(&y, &w)| w * loss.value(r, y))
                    .sum::<f64>()
            };
            assert!(total(b) <= total(b + 1e-3) && total(b) <= total(b - 1e-3));
        }
        assert!((sigmoid(Loss::Logistic.base_score(&y, &w)) - 2.0 / 6.0).abs() < 1e-12);
    }
}
