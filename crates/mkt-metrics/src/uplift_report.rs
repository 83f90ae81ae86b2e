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
