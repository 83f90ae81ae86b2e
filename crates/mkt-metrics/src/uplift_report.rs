//! mkt.campaign_report and its chart: per arm, what the campaign did and how the treated did
//! against the control group.

use crate::rate_chart::Point;
use crate::uplift;

/// An arm's counts as the campaign's touches and attributions give them.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmCounts {
    /// "control", "all treated" or an action.
    pub arm: String,
    pub subjects: i64,
    pub sends: i64,
    /// Subjects with at least one attributed outcome.
    pub converted: i64,
    pub revenue: f64,
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmRow {
    pub arm: String,
    pub subjects: i64,
    pub sends: i64,
    pub conversions: i64,
    pub conversion_rate: Option<f64>,
    pub revenue: f64,
    pub revenue_per_subject: Option<f64>,
    pub uplift: Option<f64>,
    pub uplift_ci_low: Option<f64>,
    pub uplift_ci_high: Option<f64>,
    pub p_value: Option<f64>,
    pub note: Option<String>,
}

/// The report: control first, then the pooled treatment, then each action; treatments compared
/// with the control group.
pub fn rows(mut arms: Vec<ArmCounts>) -> Vec<ArmRow> {
    arms.sort_by_key(|r| (r.arm != "control", r.arm != "all treated", r.arm.clone()));
    let control = arms
        .iter()
        .find(|r| r.arm == "control")
        .map(|r| (r.converted as u64, r.subjects as u64));
    arms.into_iter()
        .map(|a| {
            let treated = (a.converted as u64, a.subjects as u64);
            let (u, note) = match (a.arm.as_str(), control) {
                ("control", _) => (None, None),
                (_, None) => (None, Some("no control group to compare with".to_string())),
                (_, Some(ctl)) => (
                    uplift::conversion_uplift(treated, ctl),
                    uplift::note(treated, ctl),
                ),
            };
            ArmRow {
                conversion_rate: (a.subjects > 0).then(|| a.converted as f64 / a.subjects as f64),
                revenue_per_subject: (a.subjects > 0).then(|| a.revenue / a.subjects as f64),
                uplift: u.map(|u| u.uplift),
                uplift_ci_low: u.map(|u| u.ci_low),
                uplift_ci_high: u.map(|u| u.ci_high),
                p_value: u.map(|u| u.p_value),
                note,
                arm: a.arm,
                subjects: a.subjects,
                sends: a.sends,
                conversions: a.converted,
                revenue: a.revenue,
            }
        })
        .collect()
}

/// The prefix of a targeted campaign's rows that come from its untargeted sample.
const SAMPLE: &str = "untargeted sample: ";

/// Incremental conversions per message of an arm's row: its uplift times its subjects, per send.
fn per_message(r: &ArmRow) -> Option<f64> {
    (r.sends > 0).then_some(r.uplift? * r.subjects as f64 / r.sends as f64)
}

/// A targeted campaign's report when it also took an untargeted sample: the targeted rows as
/// `rows` gives them, then the sample's control and pooled treatment (prefixed with `SAMPLE`,
/// compared with the sample's own control), whose note sets the incremental conversions per
/// message of sending to everyone beside the targeted ones.
pub fn rows_with_sample(targeted: Vec<ArmCounts>, sample: Vec<ArmCounts>) -> Vec<ArmRow> {
    let mut out = rows(targeted);
    let targeted_rate = out.iter().find(|r| r.arm == "all treated").and_then(per_message);
    let sample: Vec<ArmCounts> = sample
        .into_iter()
        .filter(|a| a.arm == "control" || a.arm == "all treated")
        .collect();
    for mut r in rows(sample) {
        if r.arm == "all treated" {
            let compared = match (per_message(&r), targeted_rate) {
                (Some(all), Some(t)) => Some(format!(
                    "incremental conversions per message: {all:.4} sending to everyone, {t:.4} targeted"
                )),
                _ => None,
            };
            r.note = match (r.note.take(), compared) {
                (Some(a), Some(b)) => Some(format!("{b}; {a}")),
                (a, b) => b.or(a),
            };
        }
        r.arm = format!("{SAMPLE}{}", r.arm);
        out.push(r);
    }
    out
}

/// Per arm (control first), its points per day, from (arm, day, subjects, converted) rows in arm
/// and day order.
pub fn daily_series(daily: Vec<(String, String, i64, i64)>) -> Vec<(String, Vec<Point>)> {
    let mut series: Vec<(String, Vec<Point>)> = Vec::new();
    for (arm, day, subjects, conv) in daily {
        let p = Point {
            period: day,
            conversions: conv as u64,
            subjects: subjects as u64,
        };
        match series.iter_mut().find(|(a, _)| *a == arm) {
            Some((_, pts)) => pts.push(p),
            None => series.push((arm, vec![p])),
        }
    }
    series.sort_by_key(|(a, _)| (a != "control", a.clone()));
    series
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(name: &str, subjects: i64, converted: i64) -> ArmCounts {
        ArmCounts {
            arm: name.into(),
            subjects,
            sends: subjects,
            converted,
            revenue: converted as f64 * 10.0,
        }
    }

    #[test]
    fn control_comes_first_and_treatments_are_compared_with_it() {
        let r = rows(vec![arm("coupon", 1000, 150), arm("all treated", 1000, 150), arm("control", 1000, 100)]);
        let names: Vec<&str> = r.iter().map(|r| r.arm.as_str()).collect();
        assert_eq!(names, vec!["control", "all treated", "coupon"]);
        assert_eq!(r[0].uplift, None);
        assert!((r[2].uplift.unwrap() - 0.05).abs() < 1e-12);
        assert!(r[2].p_value.unwrap() < 0.01);
        assert_eq!(r[2].conversion_rate, Some(0.15));
        assert_eq!(r[2].revenue_per_subject, Some(1.5));
    }

    #[test]
    fn without_control_the_note_says_so() {
        let r = rows(vec![arm("coupon", 0, 0)]);
        assert_eq!(r[0].note.as_deref(), Some("no control group to compare with"));
        assert_eq!(r[0].conversion_rate, None);
    }

    #[test]
    fn the_untargeted_sample_follows_with_its_own_control_and_the_rates_per_message() {
        let targeted = vec![arm("coupon", 300, 90), arm("all treated", 300, 90), arm("control", 100, 10)];
        let sample = vec![
            arm("coupon", 80, 16),
            arm("all treated", 80, 16),
            arm("control", 40, 6),
        ];
        let r = rows_with_sample(targeted, sample);
        let names: Vec<&str> = r.iter().map(|r| r.arm.as_str()).collect();
        assert_eq!(
            names,
            vec!["control", "all treated", "coupon", "untargeted sample: control", "untargeted sample: all treated"]
        );
        // targeted: 0.30 - 0.10; everyone: 0.20 - 0.15, compared with the sample's own control
        assert!((r[1].uplift.unwrap() - 0.2).abs() < 1e-12);
        assert!((r[4].uplift.unwrap() - 0.05).abs() < 1e-12);
        assert_eq!(
            r[4].note.as_deref(),
            Some("incremental conversions per message: 0.0500 sending to everyone, 0.2000 targeted")
        );
        // a small sample keeps its warning after the comparison
        let r = rows_with_sample(
            vec![arm("all treated", 300, 90), arm("control", 100, 10)],
            vec![arm("all treated", 20, 4), arm("control", 40, 6)],
        );
        assert!(r[3].note.as_deref().unwrap().ends_with("(treated: 20, need 30)"));
    }

    #[test]
    fn daily_points_group_by_arm_with_control_first() {
        let s = daily_series(vec![
            ("a".into(), "2026-01-01".into(), 10, 1),
            ("a".into(), "2026-01-02".into(), 12, 2),
            ("control".into(), "2026-01-01".into(), 5, 0),
        ]);
        assert_eq!(s[0].0, "control");
        assert_eq!(s[1].1.len(), 2);
    }
}
