//! Uplift of a treatment over a control group: difference of conversion rates with a 95% interval
//! and a two-sided test.
//!
//! Interval: Wald, unpooled standard error sqrt(p1(1-p1)/n1 + p0(1-p0)/n0). Test: the pooled
//! two-proportion z-test, p = 2·(1 - Φ(|z|)). Both rest on the normal approximation, so `note` says
//! when a sample is too small for it.

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Uplift {
    pub uplift: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
}

/// z of the 97.5th percentile of the standard normal.
pub const Z_975: f64 = 1.959_963_984_540_054;

/// Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let ans = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        ans
    } else {
        2.0 - ans
    }
}

/// Standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Uplift of (conversions, subjects) of a treatment over a control; None when an arm is empty.
pub fn conversion_uplift(treated: (u64, u64), control: (u64, u64)) -> Option<Uplift> {
    let (x1, n1) = (treated.0 as f64, treated.1 as f64);
    let (x0, n0) = (control.0 as f64, control.1 as f64);
    if n1 == 0.0 || n0 == 0.0 {
        return None;
    }
    let (p1, p0) = (x1 / n1, x0 / n0);
    let d = p1 - p0;
    let se = (p1 * (1.0 - p1) / n1 + p0 * (1.0 - p0) / n0).sqrt();
    let pooled = (x1 + x0) / (n1 + n0);
    let se0 = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0)).sqrt();
    let p_value = if se0 > 0.0 {
        (2.0 * (1.0 - normal_cdf((d / se0).abs()))).clamp(0.0, 1.0)
    } else {
        1.0
    };
    Some(Uplift {
        uplift: d,
        ci_low: d - Z_975 * se,
        ci_high: d + Z_975 * se,
        p_value,
    })
}

/// Why the normal approximation cannot be trusted for these arms, if it cannot.
pub fn note(treated: (u64, u64), control: (u64, u64)) -> Option<String> {
    for (name, (x, n)) in [("treated", treated), ("control", control)] {
        if n < 30 {
            return Some(format!(
                "too few subjects to conclude ({name}: {n}, need 30)"
            ));
        }
        if x < 5 || n - x < 5 {
            return Some(format!(
                "too few conversions or non-conversions to conclude ({name}: {x} of {n}, need 5 of each)"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use mkt_core::rng::Rng;

    #[test]
    fn normal_cdf_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(Z_975) - 0.975).abs() < 1e-7);
        assert!((normal_cdf(-1.0) - 0.158_655_253_9).abs() < 1e-7);
        assert!((normal_cdf(3.0) - 0.998_650_101_97).abs() < 1e-7);
    }

    #[test]
    fn hand_computed_example() {
        // 60/200 treated vs 40/200 control: d = 0.1; se = sqrt(.3·.7/200 + .2·.8/200) = 0.0430116;
        // pooled 0.25, se0 = sqrt(.25·.75·(2/200)) = 0.0433013, z = 2.3094011, p = 0.020921.
        let u = conversion_uplift((60, 200), (40, 200)).unwrap();
        assert!((u.uplift - 0.1).abs() < 1e-12);
        assert!((u.ci_low - (0.1 - 1.959964 * 0.0430116)).abs() < 1e-6);
        assert!((u.ci_high - (0.1 + 1.959964 * 0.0430116)).abs() < 1e-6);
        assert!((u.p_value - 0.020921).abs() < 1e-5, "{}", u.p_value);
        assert!(note((60, 200), (40, 200)).is_none());
        assert!(note((2, 20), (40, 200)).is_some());
        assert!(conversion_uplift((1, 0), (1, 10)).is_none());
    }

    #[test]
    fn interval_covers_a_known_uplift() {
        let (p1, p0, n) = (0.12, 0.08, 2000);
        let mut covered = 0;
        for seed in 0..100 {
            let mut rng = Rng::new(seed);
            let x1 = (0..n).filter(|_| rng.uniform() < p1).count() as u64;
            let x0 = (0..n).filter(|_| rng.uniform() < p0).count() as u64;
            let u = conversion_uplift((x1, n), (x0, n)).unwrap();
            if u.ci_low <= p1 - p0 && p1 - p0 <= u.ci_high {
                covered += 1;
            }
        }
        assert!((90..=99).contains(&covered), "covered {covered} of 100");
    }
}
