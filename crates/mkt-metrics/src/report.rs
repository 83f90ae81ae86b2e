//! Self-contained HTML pages (inline CSS and SVG, no external assets) for model and policy reports.

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[derive(Debug, Clone, PartialEq)]
pub enum Section {
    /// A heading and a table; cells are text (escaped).
    Table {
        heading: String,
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// A heading and a trusted SVG document produced by this crate or mkt-policy.
    Svg { heading: String, svg: String },
    /// A heading and a paragraph of text (escaped).
    Text { heading: String, text: String },
}

pub fn html(title: &str, sections: &[Section]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:.5em 0 1.5em}}\
         td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}th{{background:#f3f3f3}}\
         h1{{font-size:1.4em}}h2{{font-size:1.1em;margin-top:1.5em}}</style></head><body><h1>{t}</h1>\n",
        t = esc(title)
    );
    for s in sections {
        match s {
            Section::Table {
                heading,
                columns,
                rows,
            } => {
                out.push_str(&format!("<h2>{}</h2><table><tr>", esc(heading)));
                for c in columns {
                    out.push_str(&format!("<th>{}</th>", esc(c)));
                }
                out.push_str("</tr>");
                for r in rows {
                    out.push_str("<tr>");
                    for c in r {
                        out.push_str(&format!("<td>{}</td>", esc(c)));
                    }
                    out.push_str("</tr>");
                }
                out.push_str("</table>\n");
            }
            Section::Svg { heading, svg } => {
                out.push_str(&format!("<h2>{}</h2>{svg}\n", esc(heading)));
            }
            Section::Text { heading, text } => {
                out.push_str(&format!("<h2>{}</h2><p>{}</p>\n", esc(heading), esc(text)));
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_text_and_keep_svg() {
        let chart = crate::line_chart::svg("loss", "epoch", &[("loss".into(), vec![(1.0, 2.0), (2.0, 1.5)])]);
        let page = html(
            "model <x>",
            &[
                Section::Table {
                    heading: "metrics".into(),
                    columns: vec!["metric".into(), "value".into()],
                    rows: vec![vec!["ndcg@10".into(), "0.4342".into()]],
                },
                Section::Svg {
                    heading: "curve".into(),
                    svg: chart,
                },
            ],
        );
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("model &lt;x&gt;") && page.contains("<td>0.4342</td>"));
        assert!(page.contains("<polyline") && page.ends_with("</html>\n"));
        assert!(!page.contains("http://") || page.matches("http://").count() == 1); // only the SVG namespace
    }
}
