//! A policy's pictures: its value heatmap (mkt.policy_heatmap_svg) and its page of
//! mkt.model_report.

use crate::pg::citus;
use crate::pg::error::SqlResult;
use crate::policies::cache;
use crate::policies::catalog::{definitions, report, state};
use mkt_metrics::report_pages::policy_page;

pub fn heatmap(policy_name: &str) -> SqlResult<String> {
    citus::catalog_reads(|| {
        let p = cache::load(policy_name)?;
        let cells = state::values(&p)?;
        let title = format!(
            "{} ({}, version {})",
            p.name,
            p.cfg.algorithm.name(),
            p.version
        );
        Ok(mkt_policy::heatmap::svg(&title, &p.cfg.actions, &cells))
    })
}

/// The report page of the policy `name`, or None when there is no such policy.
pub fn page(name: &str) -> SqlResult<Option<String>> {
    if !definitions::exists(name)? {
        return Ok(None);
    }
    Ok(Some(policy_page(&report::policy_report(name)?)))
}
