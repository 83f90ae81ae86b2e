//! Conversion rate per arm over time, with 95% intervals, as a standalone SVG line chart.

use crate::uplift::Z_975;

#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The period, e.g. a day; periods are placed in sorted order.
    pub period: String,
    pub conversions: u64,
    pub subjects: u64,
}

const COLORS: [&str; 8] = [
    "#555555", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Rate and its Wald interval clipped to [0, 1].
fn rate(p: &Point) -> Option<(f64, f64, f64)> {
    if p.subjects == 0 {
        return None;
    }
    let r = p.conversions as f64 / p.subjects as f64;
    let h = Z_975 * (r * (1.0 - r) / p.subjects as f64).sqrt();
    Some((r, (r - h).max(0.0), (r + h).min(1.0)))
}

/// `series`: (arm, points); the first arm is drawn grey (put the control group there).
pub fn svg(title: &str, series: &[(String, Vec<Point>)]) -> String {
    let mut periods: Vec<&str> = series
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.period.as_str()))
        .collect();
    periods.sort_unstable();
    periods.dedup();
    let top = series
        .iter()
        .flat_map(|(_, pts)| pts.iter().filter_map(rate).map(|r| r.2))
        .fold(0.01f64, f64::max);
    let (w, h, left, right, up, down) = (720.0, 360.0, 60.0, 150.0, 40.0, 50.0);
    let pw = w - left - right;
    let ph = h - up - down;
    let x = |i: usize| {
        left + if periods.len() > 1 {
            pw * i as f64 / (periods.len() - 1) as f64
        } else {
            pw / 2.0
        }
    };
    let y = |r: f64| up + ph * (1.0 - r / top);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <text x=\"{left}\" y=\"22\" font-size=\"14\" font-weight=\"bold\">{}</text>\n\
         <line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#000\"/>\n\
         <line x1=\"{left}\" y1=\"{up}\" x2=\"{left}\" y2=\"{}\" stroke=\"#000\"/>\n",
        esc(title),
        up + ph,
        left + pw,
        up + ph,
        up + ph
    );
    for k in 0..=4 {
        let r = top * k as f64 / 4.0;
        out += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.1}%</text>\n",
            left - 6.0,
            y(r) + 4.0,
            100.0 * r
        );
    }
    let step = periods.len().div_ceil(8).max(1);
    for (i, p) in periods.iter().enumerate().step_by(step) {
        out += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            x(i),
            up + ph + 18.0,
            esc(p)
        );
    }
    for (s, (arm, pts)) in series.iter().enumerate() {
        let color = COLORS[s % COLORS.len()];
        let mut line = Vec::new();
        for p in pts {
            let (Some(i), Some((r, lo, hi))) =
                (periods.iter().position(|q| *q == p.period), rate(p))
            else {
                continue;
            };
            line.push(format!("{:.1},{:.1}", x(i), y(r)));
            out += &format!(
                "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"{color}\" opacity=\"0.5\"/>\n\
                 <circle cx=\"{0:.1}\" cy=\"{3:.1}\" r=\"3\" fill=\"{color}\"><title>{4} {5}: {6}/{7} = {8:.2}% [{9:.2}%, {10:.2}%]</title></circle>\n",
                x(i),
                y(lo),
                y(hi),
                y(r),
                esc(arm),
                esc(&p.period),
                p.conversions,
                p.subjects,
                100.0 * r,
                100.0 * lo,
                100.0 * hi
            );
        }
        if line.len() > 1 {
            out += &format!(
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>\n",
                line.join(" ")
            );
        }
        out += &format!(
            "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
            left + pw + 16.0,
            up + 20.0 * s as f64,
            left + pw + 34.0,
            up + 20.0 * s as f64 + 11.0,
            esc(arm)
        );
    }
    out += "</svg>\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_every_arm_and_point() {
        let pt = |d: &str, c, n| Point {
            period: d.to_string(),
            conversions: c,
            subjects: n,
        };
        let series = vec![
            (
                "control".to_string(),
                vec![pt("2026-01-01", 5, 100), pt("2026-01-02", 6, 100)],
            ),
            (
                "coupon <10>".to_string(),
                vec![pt("2026-01-01", 9, 100), pt("2026-01-02", 0, 0)],
            ),
        ];
        let s = svg("campaign", &series);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert_eq!(s.matches("<circle").count(), 3);
        assert_eq!(s.matches("<polyline").count(), 1);
        assert!(s.contains("coupon &lt;10&gt;") && s.contains("9/100 = 9.00%"));
    }
}
