//! mkt.model_report: one self-contained HTML page about a model version, or a decision policy.

use crate::models::stored::Stored;
use crate::models::{access, catalog};
use crate::pg::error::{OrSql, SqlResult};
use mkt_core::names::quote_shown;
use mkt_core::Error;
use mkt_metrics::report_pages::model_page;

pub fn page(name: &str, version: Option<i32>) -> SqlResult<String> {
    if catalog::model_exists(name)? {
        let id = match version {
            Some(v) => access::version_id(name, v)?,
            None => access::deployed_or_newest_id(name)?,
        };
        let mut report = catalog::report::model_report(name, id)?;
        let algorithm = report
            .definition
            .iter()
            .find(|r| r[0] == "algorithm")
            .map(|r| r[1].as_str());
        if algorithm.is_some_and(|a| mkt_reco::kind::Algorithm::parse(a).is_ok()) {
            // The deployed version is the one the serving cache maps (once per server); another
            // version is decoded for the page.
            let model = if catalog::deployed_id(name)? == Some(id) {
                crate::models::cache::get(name)?.1
            } else {
                Stored::decode(&catalog::load_blob(id)?)
                    .sql()?
                    .recommender(name)?
            };
            report.charts.extend(mkt_reco::report::charts(&model));
        }
        if algorithm.is_some_and(|a| mkt_clv::purchases::Kind::parse(a).is_ok()) {
            if let Stored::CustomerValue(m) = Stored::decode(&catalog::load_blob(id)?).sql()? {
                report.charts.push((
                    "Tracking and frequency".into(),
                    mkt_clv::report::svg(name, &m),
                ));
            }
        }
        if algorithm.is_some_and(|a| {
            mkt_predict::predictor::Algorithm::parse(a).is_ok()
                || mkt_predict::uplift::Meta::parse(a).is_ok()
        }) {
            match Stored::decode(&catalog::load_blob(id)?).sql()? {
                Stored::Predictor(m) => {
                    report
                        .definition
                        .push(vec!["task".into(), m.task.name().into()]);
                    if !m.classes.is_empty() {
                        report.definition.push(vec![
                            "classes".into(),
                            format!("{} ({})", m.classes.join(", "), m.combine.name()),
                        ]);
                    }
                    report
                        .charts
                        .extend(mkt_predict::report::predictor_charts(name, &m))
                }
                Stored::Uplift(m) => report
                    .charts
                    .extend(mkt_predict::report::uplift_charts(name, &m)),
                _ => {}
            }
        }
        return Ok(model_page(&report));
    }
    if version.is_none() {
        if let Some(page) = crate::policies::report::page(name)? {
            return Ok(page);
        }
    }
    Err(Error::UndefinedObject(format!(
        "no model or policy named {}",
        quote_shown(name)
    )))
    .sql()
}
