//! A small standalone SVG line chart (training curves, learning curves).

use crate::report::esc;

const COLORS: [&str; 4] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];

/// `series`: (name, points (x, y)); non-finite points are skipped.
pub fn svg(title: &str, x_label: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    svg_marked(title, x_label, series, None)
}

/// A line chart with a dashed vertical line at `marker`'s x, labelled with its text (where a
/// calibration ends).
pub fn svg_marked(
    title: &str,
    x_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
    marker: Option<(f64, &str)>,
) -> String {
    let (w, h, left, right, top, bottom) = (560.0, 260.0, 60.0, 120.0, 30.0, 40.0);
    let pts = || {
        series
            .iter()
            .flat_map(|(_, p)| p.iter())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts() {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"sans-serif\" font-size=\"11\"><title>{t}</title>\
         <text x=\"{left}\" y=\"18\" font-size=\"13\">{t}</text>",
        t = esc(title)
    );
    if x0 > x1 {
        out.push_str("<text x=\"60\" y=\"120\">no data</text></svg>");
        return out;
    }
    if x1 == x0 {
        x1 = x0 + 1.0;
    }
    if y1 == y0 {
        y1 = y0 + 1.0;
    }
    let (pw, ph) = (w - left - right, h - top - bottom);
    let sx = |x: f64| left + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| top + ph - (y - y0) / (y1 - y0) * ph;
    out.push_str(&format!(
        "<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#999\"/>\
         <text x=\"{}\" y=\"{}\">{}</text>\
         <text x=\"{left}\" y=\"{}\">{x0}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{x1}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.4}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.4}</text>",
        left + pw / 2.0,
        h - 8.0,
        esc(x_label),
        top + ph + 14.0,
        left + pw,
        top + ph + 14.0,
        left - 4.0,
        top + 10.0,
        y1,
        left - 4.0,
        top + ph,
        y0
    ));
    if let Some((x, label)) = marker.filter(|m| m.0 >= x0 && m.0 <= x1) {
        out.push_str(&format!(
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top}\" y2=\"{}\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>\
             <text x=\"{:.1}\" y=\"{}\" fill=\"#555\">{}</text>",
            top + ph,
            sx(x) + 3.0,
            top + 12.0,
            esc(label),
            x = sx(x),
        ));
    }
    for (k, (name, p)) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let path: Vec<String> = p
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        out.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" fill=\"{color}\">{}</text>",
            path.join(" "),
            left + pw + 8.0,
            top + 14.0 + 16.0 * k as f64,
            esc(name)
        ));
    }
    out.push_str("</svg>");
    out
}
