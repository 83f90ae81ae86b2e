//! The rows of a model version's report page, every cell as text.

use crate::pg::error::SqlResult;
use crate::pg::spi::select_texts;
use mkt_metrics::report_pages::ModelReport;

pub fn model_report(name: &str, model_id: i64) -> SqlResult<ModelReport> {
    let id = || model_id.into();
    Ok(ModelReport {
        name: name.to_string(),
        definition: select_texts(
            "SELECT k, v FROM mkt.model_versions m, LATERAL (VALUES
                ('version', version::text), ('algorithm', algorithm), ('params', params::text),
                ('source', source), ('user column', user_col), ('item column', coalesce(item_col, '')),
                ('weight column', coalesce(weight_col, '')), ('users', n_users::text), ('items', n_items::text),
                ('interactions', n_interactions::text), ('training seconds', round(train_seconds::numeric, 3)::text),
                ('size bytes', size_bytes::text), ('created by', created_by::text),
                ('created at', date_trunc('second', created_at)::text)) AS d(k, v)
             WHERE model_id = $1",
            &[id()],
        )?,
        metrics: select_texts(
            // Numbers to 4 decimals; a list of [name, value] pairs (a predictor's held-out metrics)
            // becomes a row per pair.
            "SELECT k, v FROM (
               SELECT key AS k, CASE jsonb_typeof(value) WHEN 'number' THEN round(value::text::numeric, 4)::text
                                ELSE value #>> '{}' END AS v
               FROM mkt.model_versions, jsonb_each(metrics)
               WHERE model_id = $1 AND NOT (jsonb_typeof(value) = 'array' AND jsonb_typeof(value -> 0) = 'array')
               UNION ALL
               SELECT e.key || ' ' || (p.pair ->> 0), coalesce(round((p.pair ->> 1)::numeric, 4)::text, '')
               FROM mkt.model_versions, jsonb_each(metrics) AS e(key, value), jsonb_array_elements(e.value) AS p(pair)
               WHERE model_id = $1 AND jsonb_typeof(e.value) = 'array' AND jsonb_typeof(e.value -> 0) = 'array'
                 AND jsonb_typeof(p.pair -> 1) = 'number') r
             ORDER BY k",
            &[id()],
        )?,
        epochs: select_texts(
            "SELECT epoch::text, round(loss::numeric, 4)::text, coalesce(round(metric::numeric, 4)::text, ''),
                    round(seconds::numeric, 3)::text
             FROM mkt.training_epochs WHERE model_id = $1 ORDER BY epoch",
            &[id()],
        )?,
        versions: select_texts(
            "SELECT v.version::text, v.algorithm, date_trunc('second', v.created_at)::text, round(v.train_seconds::numeric, 3)::text,
                    coalesce(round((v.metrics->>'ndcg@10')::numeric, 4)::text, ''),
                    coalesce(round((v.metrics->>'retrain_ndcg@10')::numeric, 4)::text, ''),
                    CASE WHEN d.model_id IS NULL THEN '' ELSE 'yes' END
             FROM mkt.model_versions v LEFT JOIN mkt.deployments d USING (model_id)
             WHERE v.model_name = $1 ORDER BY v.version",
            &[name.into()],
        )?,
        deployments: select_texts(
            "SELECT version::text, reason, deployed_by::text, date_trunc('second', deployed_at)::text FROM mkt.deploy_history
             WHERE model_name = $1 ORDER BY deploy_id",
            &[name.into()],
        )?,
        trials: select_texts(
            "SELECT trial::text, params::text, metric, round(value::numeric, 4)::text, round(seconds::numeric, 2)::text
             FROM mkt.tuning_trials WHERE model_id = $1 ORDER BY trial",
            &[id()],
        )?,
        charts: Vec::new(),
    })
}
