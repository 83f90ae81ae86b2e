//! A small standalone SVG chart of grouped bars: one group per category, one bar per series
//! (a frequency histogram, actual beside model).

use crate::report::esc;

const COLORS: [&str; 4] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];

/// `categories` label the groups; `series` are (name, one value per category).
pub fn svg(title: &str, x_label: &str, categories: &[String], series: &[(String, Vec<f64>)]) -> String {
    let (w, h, left, right, top, bottom) = (560.0, 260.0, 60.0, 120.0, 30.0, 40.0);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"sans-serif\" font-size=\"11\"><title>{t}</title>\
         <text x=\"{left}\" y=\"18\" font-size=\"13\">{t}</text>",
        t = esc(title)
    );
    let top_value = series
        .iter()
        .flat_map(|(_, v)| v.iter())
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    if categories.is_empty() || series.is_empty() || top_value <= 0.0 {
        out.push_str("<text x=\"60\" y=\"120\">no data</text></svg>");
        return out;
    }
    let (pw, ph) = (w - left - right, h - top - bottom);
    let group = pw / categories.len() as f64;
    let bar = group * 0.8 / series.len() as f64;
    out.push_str(&format!(
        "<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#999\"/>\
         <text x=\"{}\" y=\"{}\">{}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{top_value:.0}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>",
        left + pw / 2.0,
        h - 8.0,
        esc(x_label),
        left - 4.0,
        top + 10.0,
        left - 4.0,
        top + ph,
    ));
    for (c, label) in categories.iter().enumerate() {
        let gx = left + group * c as f64;
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            gx + group / 2.0,
            top + ph + 14.0,
            esc(label)
        ));
        for (k, (_, values)) in series.iter().enumerate() {
            let v = values.get(c).copied().filter(|v| v.is_finite()).unwrap_or(0.0).max(0.0);
            let bh = v / top_value * ph;
            out.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {v:.1}</title></rect>",
                gx + group * 0.1 + bar * k as f64,
                top + ph - bh,
                bar,
                bh,
                COLORS[k % COLORS.len()],
                esc(label),
            ));
        }
    }
    for (k, (name, _)) in series.iter().enumerate() {
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text>",
            left + pw + 8.0,
            top + 14.0 + 16.0 * k as f64,
            COLORS[k % COLORS.len()],
            esc(name)
        ));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn bars_scale_to_the_tallest() {
        let s = super::svg("t", "x", &["0".into(), "1".into()], &[("a".into(), vec![10.0, 5.0])]);
        assert!(s.contains("height=\"190.0\""), "the tallest bar fills the plot: {s}");
        assert!(s.contains("height=\"95.0\""));
        assert!(super::svg("t", "x", &[], &[]).contains("no data"));
    }
}
