//! A states x actions heatmap of policy values as a standalone SVG (for BI tools and notebooks).

/// Escapes text for SVG content and attributes.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// White (lowest) to dark blue (highest).
fn color(t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        lerp(247.0, 8.0),
        lerp(251.0, 48.0),
        lerp(255.0, 107.0)
    )
}

/// `cells`: (state, action, value, visits). Rows are states in the given order, columns the
/// policy's actions; cells never visited stay grey.
pub fn svg(title: &str, actions: &[String], cells: &[(String, String, f64, i64)]) -> String {
    let mut states: Vec<&str> = Vec::new();
    for (s, ..) in cells {
        if !states.contains(&s.as_str()) {
            states.push(s);
        }
    }
    let (lo, hi) = cells
        .iter()
        .filter(|c| c.3 > 0)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
            (lo.min(c.2), hi.max(c.2))
        });
    let (cw, ch) = (90.0, 28.0);
    let label_w = 8.0
        * states
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(4)
            .max(5) as f64
        + 16.0;
    let top = 56.0;
    let width = label_w + cw * actions.len() as f64 + 10.0;
    let height = top + ch * states.len().max(1) as f64 + 10.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <text x=\"4\" y=\"18\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
        esc(title)
    );
    for (j, a) in actions.iter().enumerate() {
        out += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            label_w + cw * (j as f64 + 0.5),
            top - 8.0,
            esc(a)
        );
    }
    for (i, s) in states.iter().enumerate() {
        let y = top + ch * i as f64;
        out += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n",
            label_w - 6.0,
            y + ch * 0.65,
            esc(s)
        );
        for (j, a) in actions.iter().enumerate() {
            let cell = cells.iter().find(|c| c.0 == *s && &c.1 == a && c.3 > 0);
            let x = label_w + cw * j as f64;
            let (fill, text, ink) = match cell {
                Some(c) => {
                    let t = if hi > lo { (c.2 - lo) / (hi - lo) } else { 0.5 };
                    (
                        color(t),
                        format!("{:.3}", c.2),
                        if t > 0.55 { "#ffffff" } else { "#000000" },
                    )
                }
                None => ("#e0e0e0".to_string(), "–".to_string(), "#777777"),
            };
            out += &format!(
                "<rect x=\"{x}\" y=\"{y}\" width=\"{cw}\" height=\"{ch}\" fill=\"{fill}\" stroke=\"#ffffff\"><title>{}, {}: {} ({} visits)</title></rect>\n\
                 <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{ink}\">{text}</text>\n",
                esc(s),
                esc(a),
                text,
                cell.map_or(0, |c| c.3),
                x + cw / 2.0,
                y + ch * 0.65
            );
        }
    }
    out += "</svg>\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_labels_and_escaping() {
        let actions = vec!["a".to_string(), "b<c".to_string()];
        let cells = vec![
            ("s=1".to_string(), "a".to_string(), 0.25, 3),
            ("s=1".to_string(), "b<c".to_string(), 0.75, 1),
            ("s=2".to_string(), "a".to_string(), 0.5, 2),
        ];
        let s = svg("p & q", &actions, &cells);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert_eq!(s.matches("<rect").count(), 4);
        assert!(s.contains("p &amp; q") && s.contains("b&lt;c") && !s.contains("b<c"));
        assert!(s.contains("0.750") && s.contains("#08306b"));
        assert!(s.contains("#e0e0e0"));
    }
}
