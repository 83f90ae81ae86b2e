-- The model catalog: documentation of its functions (src/models/api.rs) and the training log.

COMMENT ON FUNCTION mkt.deploy(text, int) IS
'Makes a version the one serving uses. Backends that cached the previous version switch on their next call after commit.';

COMMENT ON FUNCTION mkt.drop_model(text, int) IS
'Drops one version (or all versions when version is NULL) with their parameters; returns how many versions were dropped. Dropping the deployed version deploys the newest remaining one.';

COMMENT ON FUNCTION mkt.cache_stats() IS
'Models this backend holds for serving: their private memory (bytes; mkt.model_cache_mb bounds it, least recently used models are dropped first) and the bytes they view in read-only file mappings shared with every other backend (shared_bytes; see mkt.shared_models).';

COMMENT ON FUNCTION mkt.export_model(text, int) IS
'The stored bytes (safetensors: ids, seen items, popularity, factors or weights; for a customer value model its parameters and customer summary) of a version, the deployed one when version is NULL. mkt.import_model stores them again.';

COMMENT ON FUNCTION mkt.import_model(text, bytea, bool, jsonb) IS
'Stores bytes from mkt.export_model as a new version of a model (deployed unless deploy is false) after checking every length and index; it then serves exactly as the exported version did. Returns the version.';

COMMENT ON FUNCTION mkt.rollback(text) IS
'Redeploys the version that was deployed before the current one (per mkt.deploy_history) and returns its number.';

COMMENT ON FUNCTION mkt.model_report(text, int) IS
'A self-contained HTML page (inline CSS and SVG, no external assets) about a model version (default: the deployed one): definition, metrics, training curve and validation ndcg per epoch, every version compared, deployments and tuning trials; for a customer value model the tracking plot and frequency histogram of mkt.clv_report_svg; for a predictor its feature importances. For a policy name: definition, decisions, the learning curve of rewards and the value heatmap.';

COMMENT ON FUNCTION mkt.grant_model(text, text, text) IS
'Grants a role (or public) a privilege on a model: use (serve, export, evaluate, read its catalog rows), manage (also train versions, deploy, roll back, drop) or owner (transfers ownership). Only the owner (or a member of the owning role, or a superuser) may grant. Takes effect in every backend at commit.';

COMMENT ON FUNCTION mkt.revoke_model(text, text, text) IS
'Revokes a role''s use and/or manage privilege on a model (privilege NULL: both); returns the number of grants removed. Ownership is transferred with mkt.grant_model, never revoked.';

COMMENT ON FUNCTION mkt.live_training() IS
'Epochs of the training calls running now in any backend (loss, validation ndcg@10, seconds); the live half of mkt.training_log.';

CREATE VIEW mkt.training_log WITH (security_invoker = true) AS
SELECT v.model_name, v.version, 'finished'::text AS state, NULL::int AS pid,
       e.epoch, e.loss, e.metric AS validation_ndcg, e.seconds, e.logged_at
FROM mkt.training_epochs e
JOIN mkt.model_versions v USING (model_id)
UNION ALL
SELECT l.model_name, NULL, 'running', l.pid,
       l.epoch, l.loss, l.metric, l.seconds, to_timestamp(l.logged_at)
FROM mkt.live_training() l
WHERE l.role = current_user OR pg_has_role(current_user, 'pg_read_all_stats', 'member');
COMMENT ON VIEW mkt.training_log IS
'Per-epoch progress of neural training: rows of running calls (state running, version NULL, visible to their role and to pg_read_all_stats) while they train, and of every stored version (state finished) after.';
