//! The rows of a policy's report page, every cell as text.

use crate::pg::error::SqlResult;
use crate::pg::spi::{select_first, select_texts};
use mkt_metrics::report_pages::PolicyReport;

pub fn policy_report(name: &str) -> SqlResult<PolicyReport> {
    let n = || name.into();
    Ok(PolicyReport {
        name: name.to_string(),
        definition: select_texts(
            "SELECT k, v FROM mkt.policies p, LATERAL (VALUES ('algorithm', algorithm), ('actions', array_to_string(actions, ', ')),
                ('params', params::text), ('version', version::text), ('created by', created_by::text),
                ('created at', created_at::text)) AS d(k, v) WHERE policy_name = $1",
            &[n()],
        )?,
        decisions: select_texts(
            "SELECT count(*)::text, count(reward)::text, coalesce(round(avg(reward)::numeric, 4)::text, '')
             FROM mkt.decisions d JOIN mkt.policies p USING (policy_id) WHERE p.policy_name = $1",
            &[n()],
        )?,
        // Mean reward per twentieth of the rewarded decisions, in decision order.
        curve: select_texts(
            "SELECT (b * 100.0 / 20)::text, avg(reward)::text FROM (
                SELECT reward, ntile(20) OVER (ORDER BY decision_id) AS b
                FROM mkt.decisions d JOIN mkt.policies p USING (policy_id)
                WHERE p.policy_name = $1 AND reward IS NOT NULL) s GROUP BY b ORDER BY b",
            &[n()],
        )?,
        heatmap: select_first::<String>("SELECT mkt.policy_heatmap_svg($1)", &[n()])?.unwrap_or_default(),
        values: select_texts(
            "SELECT state, action, round(value::numeric, 4)::text, visits::text FROM mkt.policy_values($1)
             ORDER BY state, value DESC LIMIT 200",
            &[n()],
        )?,
    })
}
