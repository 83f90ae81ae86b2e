//! The pages `mkt.model_report` returns, built from the catalog's rows (every cell as text, as
//! the SQL layer read it).

use crate::line_chart;
use crate::report::{html, Section};

/// What a model version's page shows; each table's rows in the column order of its heading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelReport {
    pub name: String,
    /// (field, value), `version` among them.
    pub definition: Vec<Vec<String>>,
    /// (metric, value).
    pub metrics: Vec<Vec<String>>,
    /// (epoch, loss, validation ndcg@10 or "", seconds).
    pub epochs: Vec<Vec<String>>,
    /// (version, algorithm, created, seconds, ndcg@10, retrain ndcg@10, deployed).
    pub versions: Vec<Vec<String>>,
    /// (version, why, by, when).
    pub deployments: Vec<Vec<String>>,
    /// (trial, params, metric, value, seconds).
    pub trials: Vec<Vec<String>>,
    /// (heading, SVG document) pictures of the model kind, shown after the metrics.
    pub charts: Vec<(String, String)>,
}

/// What a decision policy's page shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyReport {
    pub name: String,
    /// (field, value).
    pub definition: Vec<Vec<String>>,
    /// One row: (decisions, rewarded, mean reward).
    pub decisions: Vec<Vec<String>>,
    /// (percent of rewarded decisions, mean reward) per twentieth.
    pub curve: Vec<Vec<String>>,
    /// The policy's value heatmap (an SVG document).
    pub heatmap: String,
    /// (state, action, value, visits).
    pub values: Vec<Vec<String>>,
}

fn table(heading: &str, columns: &[&str], rows: &[Vec<String>]) -> Section {
    Section::Table {
        heading: heading.into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows: rows.to_vec(),
    }
}

/// (x, y) points of rows whose column 0 and column `y` parse as numbers.
fn points(rows: &[Vec<String>], y: usize) -> Vec<(f64, f64)> {
    rows.iter()
        .filter_map(|r| Some((r.first()?.parse().ok()?, r.get(y)?.parse().ok()?)))
        .collect()
}

pub fn model_page(r: &ModelReport) -> String {
    let version = r
        .definition
        .iter()
        .find(|row| row.first().map(String::as_str) == Some("version"))
        .and_then(|row| row.get(1).cloned())
        .unwrap_or_default();
    let mut sections = vec![
        table("Definition", &["field", "value"], &r.definition),
        table("Metrics", &["metric", "value"], &r.metrics),
    ];
    for (heading, svg) in &r.charts {
        sections.push(Section::Svg { heading: heading.clone(), svg: svg.clone() });
    }
    if !r.epochs.is_empty() {
        sections.push(Section::Svg {
            heading: "Training curve".into(),
            svg: line_chart::svg("training loss", "epoch", &[("loss".into(), points(&r.epochs, 1))]),
        });
        sections.push(Section::Svg {
            heading: "Validation".into(),
            svg: line_chart::svg(
                "validation ndcg@10",
                "epoch",
                &[("ndcg@10".into(), points(&r.epochs, 2))],
            ),
        });
        sections.push(table(
            "Epochs",
            &["epoch", "loss", "validation ndcg@10", "seconds"],
            &r.epochs,
        ));
    }
    let by_version = points(&r.versions, 4);
    if by_version.len() >= 2 {
        sections.push(Section::Svg {
            heading: "Quality by version".into(),
            svg: line_chart::svg(
                "held-out ndcg@10 of each version",
                "version",
                &[("ndcg@10".into(), by_version)],
            ),
        });
    }
    sections.push(table(
        "All versions",
        &["version", "algorithm", "created", "seconds", "ndcg@10", "retrain ndcg@10", "deployed"],
        &r.versions,
    ));
    if !r.deployments.is_empty() {
        sections.push(table("Deployments", &["version", "why", "by", "when"], &r.deployments));
    }
    if !r.trials.is_empty() {
        sections.push(table(
            "Tuning trials",
            &["trial", "params", "metric", "value", "seconds"],
            &r.trials,
        ));
    }
    html(&format!("pg_marketing model {}, version {version}", r.name), &sections)
}

pub fn policy_page(r: &PolicyReport) -> String {
    let sections = vec![
        table("Definition", &["field", "value"], &r.definition),
        table("Decisions", &["decisions", "rewarded", "mean reward"], &r.decisions),
        Section::Svg {
            heading: "Learning curve".into(),
            svg: line_chart::svg(
                "mean reward by share of rewarded decisions",
                "% of decisions",
                &[("mean reward".into(), points(&r.curve, 1))],
            ),
        },
        Section::Svg {
            heading: "Values".into(),
            svg: r.heatmap.clone(),
        },
        table("State-action values", &["state", "action", "value", "visits"], &r.values),
    ];
    html(&format!("pg_marketing policy {}", r.name), &sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn a_model_page_shows_its_version_tables_and_curves() {
        let r = ModelReport {
            name: "m<1>".into(),
            definition: vec![row(&["version", "3"]), row(&["algorithm", "neural"])],
            metrics: vec![row(&["ndcg@10", "0.4321"])],
            epochs: vec![row(&["1", "2.5", "0.1", "0.3"]), row(&["2", "2.1", "", "0.3"])],
            versions: vec![row(&["3", "neural", "now", "0.6", "0.4321", "", "yes"])],
            ..Default::default()
        };
        let page = model_page(&r);
        assert!(page.contains("<title>pg_marketing model m&lt;1&gt;, version 3</title>"));
        assert!(page.contains("<h2>Training curve</h2>") && page.contains("<svg"));
        assert!(page.contains("<td>0.4321</td>"));
        // empty sections are left out
        assert!(!page.contains("Tuning trials") && !page.contains("<h2>Deployments</h2>"));
        // one version with ndcg@10: nothing to compare
        assert!(!page.contains("Quality by version"));
        let mut two = r.clone();
        two.versions.push(row(&["4", "neural", "now", "0.7", "0.4400", "", ""]));
        assert!(model_page(&two).contains("<h2>Quality by version</h2>"));
        assert_eq!(points(&r.epochs, 2), vec![(1.0, 0.1)]);
    }

    #[test]
    fn a_model_page_without_epochs_has_no_curves() {
        let page = model_page(&ModelReport {
            name: "m".into(),
            trials: vec![row(&["1", "{}", "ndcg", "0.2", "1.0"])],
            ..Default::default()
        });
        assert!(!page.contains("Training curve"));
        assert!(page.contains("<h2>Tuning trials</h2>"));
    }

    #[test]
    fn a_policy_page_embeds_its_heatmap() {
        let page = policy_page(&PolicyReport {
            name: "offers".into(),
            heatmap: "<svg id=\"heat\"></svg>".into(),
            curve: vec![row(&["5", "0.2"]), row(&["10", "0.4"])],
            ..Default::default()
        });
        assert!(page.contains("<svg id=\"heat\"></svg>"));
        assert!(page.contains("<title>pg_marketing policy offers</title>"));
    }
}
