//! mkt.model_report: one self-contained HTML page about a model (or a decision policy).

use crate::catalog::{self, select_first};
use crate::error::{OrSql, required, SqlResult};
use mkt_core::Error;
use mkt_metrics::line_chart;
use mkt_metrics::report::{html, Section};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

/// Rows of a query whose columns are all text (NULL shown as "").
fn texts(sql: &str, args: &[pgrx::datum::DatumWithOid]) -> SqlResult<Vec<Vec<String>>> {
    Spi::connect(|c| {
        let t = c.select(sql, None, args)?;
        let n = t.columns()?;
        let mut rows = Vec::new();
        for r in t {
            let mut row = Vec::with_capacity(n);
            for i in 1..=n {
                row.push(r.get::<String>(i)?.unwrap_or_default());
            }
            rows.push(row);
        }
        Ok::<_, pgrx::spi::Error>(rows)
    })
    .sql()
}

fn table(heading: &str, columns: &[&str], rows: Vec<Vec<String>>) -> Section {
    Section::Table {
        heading: heading.into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
    }
}

fn points(rows: &[Vec<String>], y: usize) -> Vec<(f64, f64)> {
    rows.iter()
        .filter_map(|r| Some((r[0].parse().ok()?, r[y].parse().ok()?)))
        .collect()
}

fn model_page(name: &str, model_id: i64) -> SqlResult<String> {
    let id = model_id.into();
    let def = texts(
        "SELECT k, v FROM mkt.model_versions m, LATERAL (VALUES
            ('version', version::text), ('algorithm', algorithm), ('params', params::text),
            ('source', source), ('user column', user_col), ('item column', item_col),
            ('weight column', coalesce(weight_col, '')), ('users', n_users::text), ('items', n_items::text),
            ('interactions', n_interactions::text), ('training seconds', round(train_seconds::numeric, 3)::text),
            ('size bytes', size_bytes::text), ('created by', created_by::text), ('created at', created_at::text)) AS d(k, v)
         WHERE model_id = $1",
        &[id],
    )?;
    let version = def.iter().find(|r| r[0] == "version").map_or(String::new(), |r| r[1].clone());
    let metrics = texts(
        "SELECT key, CASE jsonb_typeof(value) WHEN 'number' THEN round(value::text::numeric, 4)::text
                      ELSE value #>> '{}' END
         FROM mkt.model_versions, jsonb_each(metrics) WHERE model_id = $1 ORDER BY key",
        &[model_id.into()],
    )?;
    let epochs = texts(
        "SELECT epoch::text, loss::text, coalesce(metric::text, ''), round(seconds::numeric, 3)::text
         FROM mkt.training_epochs WHERE model_id = $1 ORDER BY epoch",
        &[model_id.into()],
    )?;
    let versions = texts(
        "SELECT v.version::text, v.algorithm, v.created_at::text, round(v.train_seconds::numeric, 3)::text,
                coalesce(round((v.metrics->>'ndcg@10')::numeric, 4)::text, ''),
                coalesce(round((v.metrics->>'retrain_ndcg@10')::numeric, 4)::text, ''),
                CASE WHEN d.model_id IS NULL THEN '' ELSE 'yes' END
         FROM mkt.model_versions v LEFT JOIN mkt.deployments d USING (model_id)
         WHERE v.model_name = $1 ORDER BY v.version",
        &[name.into()],
    )?;
    let history = texts(
        "SELECT version::text, reason, deployed_by::text, deployed_at::text FROM mkt.deploy_history
         WHERE model_name = $1 ORDER BY deploy_id",
        &[name.into()],
    )?;
    let trials = texts(
        "SELECT trial::text, params::text, metric, round(value::numeric, 4)::text, round(seconds::numeric, 2)::text
         FROM mkt.tuning_trials WHERE model_id = $1 ORDER BY trial",
        &[model_id.into()],
    )?;
    let mut sections = vec![
        table("Definition", &["field", "value"], def),
        table("Metrics", &["metric", "value"], metrics),
    ];
    if !epochs.is_empty() {
        sections.push(Section::Svg {
            heading: "Training curve".into(),
            svg: line_chart::svg("training loss", "epoch", &[("loss".into(), points(&epochs, 1))]),
        });
        sections.push(Section::Svg {
            heading: "Validation".into(),
            svg: line_chart::svg("validation ndcg@10", "epoch", &[("ndcg@10".into(), points(&epochs, 2))]),
        });
        sections.push(table("Epochs", &["epoch", "loss", "validation ndcg@10", "seconds"], epochs));
    }
    sections.push(table(
        "All versions",
        &["version", "algorithm", "created", "seconds", "ndcg@10", "retrain ndcg@10", "deployed"],
        versions,
    ));
    if !history.is_empty() {
        sections.push(table("Deployments", &["version", "why", "by", "when"], history));
    }
    if !trials.is_empty() {
        sections.push(table("Tuning trials", &["trial", "params", "metric", "value", "seconds"], trials));
    }
    Ok(html(&format!("pg_marketing model {name}, version {version}"), &sections))
}

fn policy_page(name: &str) -> SqlResult<String> {
    let def = texts(
        "SELECT k, v FROM mkt.policies p, LATERAL (VALUES ('algorithm', algorithm), ('actions', array_to_string(actions, ', ')),
            ('params', params::text), ('version', version::text), ('created by', created_by::text),
            ('created at', created_at::text)) AS d(k, v) WHERE policy_name = $1",
        &[name.into()],
    )?;
    let stats = texts(
        "SELECT count(*)::text, count(reward)::text, coalesce(round(avg(reward)::numeric, 4)::text, '')
         FROM mkt.decisions d JOIN mkt.policies p USING (policy_id) WHERE p.policy_name = $1",
        &[name.into()],
    )?;
    // Mean reward per twentieth of the rewarded decisions, in decision order.
    let curve = texts(
        "SELECT (b * 100.0 / 20)::text, avg(reward)::text FROM (
            SELECT reward, ntile(20) OVER (ORDER BY decision_id) AS b
            FROM mkt.decisions d JOIN mkt.policies p USING (policy_id)
            WHERE p.policy_name = $1 AND reward IS NOT NULL) s GROUP BY b ORDER BY b",
        &[name.into()],
    )?;
    let heatmap = select_first::<String>("SELECT mkt.policy_heatmap_svg($1)", &[name.into()])?
        .unwrap_or_default();
    let values = texts(
        "SELECT state, action, round(value::numeric, 4)::text, visits::text FROM mkt.policy_values($1)
         ORDER BY state, value DESC LIMIT 200",
        &[name.into()],
    )?;
    let mut sections = vec![table("Definition", &["field", "value"], def)];
    sections.push(table("Decisions", &["decisions", "rewarded", "mean reward"], stats));
    sections.push(Section::Svg {
        heading: "Learning curve".into(),
        svg: line_chart::svg(
            "mean reward by share of rewarded decisions",
            "% of decisions",
            &[("mean reward".into(), points(&curve, 1))],
        ),
    });
    sections.push(Section::Svg {
        heading: "Values".into(),
        svg: heatmap,
    });
    sections.push(table("State-action values", &["state", "action", "value", "visits"], values));
    Ok(html(&format!("pg_marketing policy {name}"), &sections))
}

#[pg_extern(stable, parallel_safe)]
fn model_report(
    model_name: Option<&str>,
    version: default!(Option<i32>, "NULL"),
) -> Result<String, ErrorReport> {
    let model_name = required(model_name, "model_name")?;
    if catalog::model_exists(model_name)? {
        let id = match version {
            Some(v) => catalog::version_id(model_name, v)?,
            None => catalog::deployed_or_newest_id(model_name)?,
        };
        return model_page(model_name, id);
    }
    let is_policy = select_first::<bool>(
        "SELECT EXISTS (SELECT 1 FROM mkt.policies WHERE policy_name = $1)",
        &[model_name.into()],
    )?
    .unwrap_or(false);
    if is_policy && version.is_none() {
        return policy_page(model_name);
    }
    Err(Error::UndefinedObject(format!(
        "no model or policy named '{model_name}'"
    )))
    .sql()
}
