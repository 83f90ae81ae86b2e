//! How well a ranking by predicted uplift finds the customers a treatment moves. Definitions are
//! scikit-uplift's (0.5), to the order of ties, so the numbers agree with its `qini_auc_score`,
//! `uplift_auc_score` and `uplift_at_k` on the same scores:
//!
//! - Sort by predicted uplift, highest first. At each distinct score, with n customers above it,
//!   n_t treated and n_c control of them, and Y_t, Y_c their summed outcomes:
//!   - the **uplift curve** is (Y_t / n_t - Y_c / n_c) * n (the extra outcomes had all n been
//!     treated);
//!   - the **Qini curve** is Y_t - Y_c * n_t / n_c (the extra outcomes among the treated).
//! - Each curve's area above the straight line to its end point, divided by the same area of the
//!   best possible ranking, is the **AUUC** and the **Qini coefficient** (1 for a perfect ranking,
//!   0 for a random one, below 0 for a ranking worse than random).
//! - **uplift@k** is the treated minus the control outcome rate among the top k share.

/// The outcome, treatment flag and predicted uplift of one customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub outcome: f64,
    pub treated: bool,
    pub uplift: f64,
}

/// Points (customers targeted, cumulative value) from (0, 0), one per distinct score.
pub type Curve = Vec<(f64, f64)>;

/// Cumulative (n, n_t, Y_t, Y_c) at the last row of each group of equal scores, best first.
fn cumulative(rows: &[Scored], score: impl Fn(&Scored) -> f64) -> Vec<(f64, f64, f64, f64)> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| score(&rows[b]).total_cmp(&score(&rows[a])));
    let (mut nt, mut yt, mut yc) = (0.0, 0.0, 0.0);
    let mut out = Vec::new();
    for (i, &r) in order.iter().enumerate() {
        let row = &rows[r];
        if row.treated {
            nt += 1.0;
            yt += row.outcome;
        } else {
            yc += row.outcome;
        }
        if i + 1 == order.len() || score(&rows[order[i + 1]]) != score(row) {
            out.push(((i + 1) as f64, nt, yt, yc));
        }
    }
    out
}

fn ratio(a: f64, b: f64) -> f64 {
    if b != 0.0 {
        a / b
    } else {
        0.0
    }
}

fn curve_of(
    rows: &[Scored],
    score: impl Fn(&Scored) -> f64,
    value: fn(f64, f64, f64, f64) -> f64,
) -> Curve {
    let mut curve = vec![(0.0, 0.0)];
    curve.extend(
        cumulative(rows, score)
            .into_iter()
            .map(|(n, nt, yt, yc)| (n, value(n, nt, yt, yc))),
    );
    curve
}

fn uplift_value(n: f64, nt: f64, yt: f64, yc: f64) -> f64 {
    (ratio(yt, nt) - ratio(yc, n - nt)) * n
}

fn qini_value(n: f64, nt: f64, yt: f64, yc: f64) -> f64 {
    yt - yc * ratio(nt, n - nt)
}

pub fn uplift_curve(rows: &[Scored]) -> Curve {
    curve_of(rows, |r| r.uplift, uplift_value)
}

pub fn qini_curve(rows: &[Scored]) -> Curve {
    curve_of(rows, |r| r.uplift, qini_value)
}

/// The uplift curve of the best ranking: treated responders first, control non-responders last
/// (or the other way round when control responders outnumber treated non-responders).
pub fn perfect_uplift_curve(rows: &[Scored]) -> Curve {
    let control_responders = rows
        .iter()
        .filter(|r| !r.treated && r.outcome == 1.0)
        .count();
    let treated_nonresponders = rows
        .iter()
        .filter(|r| r.treated && r.outcome == 0.0)
        .count();
    let by_outcome = control_responders > treated_nonresponders;
    curve_of(
        rows,
        |r| {
            let t = if r.treated { 1.0 } else { 0.0 };
            let same = if r.outcome == t { 2.0 } else { 0.0 };
            same + if by_outcome { r.outcome } else { t }
        },
        uplift_value,
    )
}

/// The Qini curve of the best ranking, negative effects included: treated responders first,
/// control responders last.
pub fn perfect_qini_curve(rows: &[Scored]) -> Curve {
    curve_of(
        rows,
        |r| {
            if r.treated {
                r.outcome
            } else {
                0.0 - r.outcome
            }
        },
        qini_value,
    )
}

fn area(curve: &Curve) -> f64 {
    curve
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
        .sum()
}

/// Area above the straight line from (0, 0) to the perfect curve's end, actual over perfect.
fn normalised(actual: &Curve, perfect: &Curve) -> Option<f64> {
    let &(x_end, y_end) = perfect.last()?;
    let baseline = x_end * y_end / 2.0;
    let best = area(perfect) - baseline;
    (best != 0.0).then(|| (area(actual) - baseline) / best)
}

/// Qini coefficient (scikit-uplift `qini_auc_score`, negative effects included). None when the
/// best ranking gains nothing over random (no uplift to find).
pub fn qini_coefficient(rows: &[Scored]) -> Option<f64> {
    normalised(&qini_curve(rows), &perfect_qini_curve(rows))
}

/// Normalised area under the uplift curve (scikit-uplift `uplift_auc_score`).
pub fn auuc(rows: &[Scored]) -> Option<f64> {
    normalised(&uplift_curve(rows), &perfect_uplift_curve(rows))
}

/// Treated minus control outcome rate among the top `k` share by predicted uplift, all
/// customers ranked together (scikit-uplift `uplift_at_k`, strategy 'overall'). None when the top
/// share holds no treated or no control customer.
pub fn uplift_at_k(rows: &[Scored], k: f64) -> Option<f64> {
    // Equal scores keep the reverse of their input order, as numpy's reversed stable argsort does.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| rows[b].uplift.total_cmp(&rows[a].uplift).then(b.cmp(&a)));
    let top = (rows.len() as f64 * k) as usize;
    let (mut nt, mut yt, mut nc, mut yc) = (0.0, 0.0, 0.0, 0.0);
    for &r in &order[..top.min(rows.len())] {
        if rows[r].treated {
            nt += 1.0;
            yt += rows[r].outcome;
        } else {
            nc += 1.0;
            yc += rows[r].outcome;
        }
    }
    (nt > 0.0 && nc > 0.0).then(|| yt / nt - yc / nc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(data: &[(f64, bool, f64)]) -> Vec<Scored> {
        data.iter()
            .map(|&(outcome, treated, uplift)| Scored {
                outcome,
                treated,
                uplift,
            })
            .collect()
    }

    #[test]
    fn qini_and_auuc_of_a_hand_made_ranking() {
        // Ranked: T1, C0, T0, C1 (scores 4, 3, 2, 1).
        let r = rows(&[
            (1.0, true, 4.0),
            (0.0, false, 3.0),
            (0.0, true, 2.0),
            (1.0, false, 1.0),
        ]);
        // Qini points: n=1: 1 - 0 = 1; n=2: 1 - 0*1/1 = 1; n=3: 1 - 0*2/1 = 1; n=4: 1 - 1*2/2 = 0.
        assert_eq!(
            qini_curve(&r),
            vec![(0.0, 0.0), (1.0, 1.0), (2.0, 1.0), (3.0, 1.0), (4.0, 0.0)]
        );
        // Perfect: T1 (1), then T0 and C0 tie at 0, then C1 (-1): points (1,1), (3, 1-0*2/1=1), (4,0).
        assert_eq!(
            perfect_qini_curve(&r),
            vec![(0.0, 0.0), (1.0, 1.0), (3.0, 1.0), (4.0, 0.0)]
        );
        // Areas: actual 0.5+1+1+0.5 = 3, perfect 0.5+2+0.5 = 3, baseline 0: coefficient 1.
        assert!((qini_coefficient(&r).unwrap() - 1.0).abs() < 1e-12);
        // Reversed ranking: C1, T0, C0, T1: points (1, 0), (2, 0-1*1/1=-1), (3, 0-1*1/2=-0.5), (4, 0).
        let rev = rows(&[
            (1.0, true, 1.0),
            (0.0, false, 2.0),
            (0.0, true, 3.0),
            (1.0, false, 4.0),
        ]);
        let area_rev = 0.0 + -0.5 + -0.75 + -0.25;
        assert!((qini_coefficient(&rev).unwrap() - area_rev / 3.0).abs() < 1e-12);
        // Uplift curve of the first ranking: n=1: (1/1 - 0)*1 = 1; n=2: (1 - 0/1)*2 = 2;
        // n=3: (1/2 - 0)*3 = 1.5; n=4: (1/2 - 1/2)*4 = 0.
        assert_eq!(
            uplift_curve(&r),
            vec![(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (3.0, 1.5), (4.0, 0.0)]
        );
        assert!(auuc(&r).is_some());
    }

    #[test]
    fn uplift_at_k_takes_the_top_share_with_numpy_tie_order() {
        let r = rows(&[
            (1.0, true, 0.9),
            (0.0, false, 0.8),
            (1.0, false, 0.5),
            (0.0, true, 0.5),
            (1.0, true, 0.1),
        ]);
        // Top 60% = 3 rows: 0.9 (T1), 0.8 (C0), then of the 0.5 tie the later row (T0).
        assert_eq!(uplift_at_k(&r, 0.6), Some(0.5 - 0.0));
        assert_eq!(uplift_at_k(&r, 0.2), None);
    }
}
