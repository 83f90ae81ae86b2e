//! The pictures of a predictor in its model report.

use crate::predictor::Predictor;

/// A bar per feature, most important first (at most 20).
pub fn importance_svg(name: &str, p: &Predictor) -> String {
    let mut imp: Vec<(String, f64)> = p
        .features
        .names
        .iter()
        .cloned()
        .zip(p.importance())
        .collect();
    imp.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    imp.truncate(20);
    let what = match p.model {
        crate::base::Base::Gbdt(_) => "share of split gain",
        crate::base::Base::Linear { .. } => "absolute coefficient",
        crate::base::Base::Mlp(_) => "held-out loss increase when shuffled",
    };
    let (names, values): (Vec<String>, Vec<f64>) = imp.into_iter().unzip();
    mkt_metrics::bar_chart::svg(
        &format!("Feature importance of {name}"),
        "feature",
        &names,
        &[(what.to_string(), values)],
    )
}
