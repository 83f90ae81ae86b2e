//! mkt.clv_report_svg: the two pictures analysts check a customer-value model with. The tracking
//! plot sets the repeat purchases of every period beside what the model expects of customers who
//! started when they did (exact, by cohort of first period); the histogram sets how many customers
//! made 0, 1, 2, ... repeat purchases in calibration beside the model's (Monte Carlo, fixed seed).

use crate::model::ClvModel;
use crate::purchases::{expected_purchases, Rft};
use crate::simulate::frequency_histogram;
use mkt_metrics::{bar_chart, line_chart};
use std::collections::BTreeMap;

/// Bars of the histogram: 0 .. MAX_X - 1 repeat purchases and "MAX_X or more".
const MAX_X: usize = 7;
/// Customers simulated for the histogram at the most (evenly spread), each drawn several times.
const SAMPLE: usize = 20_000;

/// The model's expected repeat purchases in each period from `start` for `periods` periods.
pub fn expected_tracking(m: &ClvModel, start: i64, periods: usize) -> Vec<f64> {
    let mut cohorts: BTreeMap<i64, f64> = BTreeMap::new();
    for &f in m.first_period.iter() {
        *cohorts.entry(f).or_default() += 1.0;
    }
    let new = Rft { x: 0.0, t_x: 0.0, t: 0.0 };
    let by = |t: f64| if t <= 0.0 { 0.0 } else { expected_purchases(m.kind, &m.params, new, t) };
    (0..periods)
        .map(|k| {
            let at = start + k as i64;
            cohorts
                .range(..at)
                .map(|(&f, &n)| n * (by((at - f) as f64) - by((at - f - 1) as f64)))
                .sum()
        })
        .collect()
}

/// (actual, model) customers by repeat purchases in calibration, the last bar "MAX_X or more".
pub fn histograms(m: &ClvModel) -> (Vec<f64>, Vec<f64>) {
    let mut actual = vec![0.0; MAX_X + 1];
    for &x in m.frequency.iter() {
        actual[(x as usize).min(MAX_X)] += 1.0;
    }
    let step = m.len().div_ceil(SAMPLE).max(1);
    let ts: Vec<f64> = m.t.iter().step_by(step).copied().collect();
    let draws = 4;
    let mut model = frequency_histogram(m.kind, &m.params, &ts, MAX_X, draws, 7);
    let scale = m.len() as f64 / ts.len().max(1) as f64;
    model.iter_mut().for_each(|v| *v *= scale);
    (actual, model)
}

/// Both pictures in one SVG, the tracking plot above the histogram.
pub fn svg(name: &str, m: &ClvModel) -> String {
    let unit = m.period.name();
    let tracking = if m.tracking.is_empty() {
        no_tracking(name)
    } else {
        let expected = expected_tracking(m, m.tracking_start, m.tracking.len());
        let at = |k: usize| (m.tracking_start + k as i64 - m.end_period) as f64;
        let points = |v: &[f64]| v.iter().enumerate().map(|(k, &y)| (at(k), y)).collect::<Vec<_>>();
        line_chart::svg_marked(
            &format!("{name}: repeat purchases per {unit}"),
            &format!("{unit}s from the calibration end"),
            &[("actual".into(), points(&m.tracking)), ("model".into(), points(&expected))],
            Some((0.0, "calibration end")),
        )
    };
    let (actual, model) = histograms(m);
    let labels: Vec<String> = (0..=MAX_X)
        .map(|x| if x == MAX_X { format!("{x}+") } else { x.to_string() })
        .collect();
    let histogram = bar_chart::svg(
        &format!("{name}: customers by repeat purchases in calibration"),
        "repeat purchases",
        &labels,
        &[("actual".into(), actual), ("model".into(), model)],
    );
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"560\" height=\"530\" viewBox=\"0 0 560 530\">\
         <g>{tracking}</g><g transform=\"translate(0,270)\">{histogram}</g></svg>"
    )
}

fn no_tracking(name: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"560\" height=\"260\" font-family=\"sans-serif\" \
         font-size=\"11\"><text x=\"60\" y=\"18\" font-size=\"13\">{}: no tracking plot</text>\
         <text x=\"60\" y=\"120\">the model was fitted on a summary, without purchase dates</text></svg>",
        mkt_metrics::report::esc(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::period::Period;
    use crate::purchases::Kind;
    use crate::summary::{summarise, Transactions, Window};
    use mkt_core::ids::IdColumn;

    #[test]
    fn the_expected_line_adds_up_to_each_cohorts_expectation() {
        let tx = Transactions {
            customers: IdColumn::Int(vec![1, 1, 2, 3]),
            days: vec![0, 3, 2, 2],
            seconds: vec![0.0, 3.0 * 86400.0, 2.0 * 86400.0, 2.0 * 86400.0],
            amounts: vec![],
        };
        let s = summarise(&tx, Period::Day, Window::ALL).unwrap();
        let m = ClvModel::new(Kind::BgNbd, [0.5, 3.0, 0.7, 2.0], None, &s);
        assert_eq!(m.tracking, vec![0.0, 0.0, 0.0, 1.0]);
        let e = expected_tracking(&m, 0, 4);
        let new = Rft { x: 0.0, t_x: 0.0, t: 0.0 };
        // one customer from day 0 for 3 days, two from day 2 for 1 day
        let want = expected_purchases(Kind::BgNbd, &m.params, new, 3.0)
            + 2.0 * expected_purchases(Kind::BgNbd, &m.params, new, 1.0);
        assert!((e.iter().sum::<f64>() - want).abs() < 1e-12);
        assert_eq!(e[0], 0.0, "nobody repeats in their first period");
        let page = svg("m", &m);
        assert!(page.contains("calibration end") && page.contains("7+") && !page.contains("no data"));
        let (actual, _) = histograms(&m);
        assert_eq!(actual[0] + actual[1], 3.0);
    }
}
