-- pg_marketing 0.10.0 -> 0.11.0 (ALTER EXTENSION pg_marketing UPDATE).
--
-- Adds mkt.predict_probability (one class's probability for one row), mkt.predict_proba_all (the
-- class probabilities of every row of a source) and campaign targets by a
-- classifier's class ({"predictor": m, "class": c, "min_score": p} or {"predictor": m, "class": c});
-- the comment of mkt.create_campaign that lists the targets is replaced. Stored models, policies
-- and campaigns are untouched.

CREATE FUNCTION mkt."predict_probability"(
	"model_name" TEXT,
	"features" jsonb,
	"class" TEXT
) RETURNS double precision
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'predict_probability_wrapper';

CREATE FUNCTION mkt."predict_proba_all"(
	"model_name" TEXT,
	"source" TEXT,
	"key_col" TEXT,
	"only_class" TEXT DEFAULT NULL
) RETURNS TABLE (
	"key" TEXT,
	"class" TEXT,
	"probability" double precision
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'predict_proba_all_wrapper';

COMMENT ON FUNCTION mkt.predict_probability(text, jsonb, text) IS
'The deployed classifier''s probability of one class (as mkt.predict_proba names it: a binary predictor''s are ''0'' and ''1'') for one row given as a jsonb object of feature values (missing and extra keys as in mkt.predict): one number, for conditions such as a campaign target''s {"predictor": m, "class": c, "min_score": x}. A class the model does not know is an error naming its classes; a regression is an error. NULL features give NULL.';

COMMENT ON FUNCTION mkt.create_campaign(text, text, regclass, text, text[], text, jsonb) IS
'Installs an AFTER INSERT trigger on trigger_source: each new row meeting condition (a boolean expression over its columns) gets a decision of the policy for its subject, with context_cols as context, queued in mkt.outbox. params: control_fraction (0.1, a stable per-subject hold-out), frequency_cap per frequency_interval (1 day), budget (sends per day), start, end, quiet_hours [from, to), claim_timeout (5 minutes), reward (conversion | value), seed, mode (immediate: decide in the inserting transaction; queued: the insert only queues the event, mkt.process_campaign or mkt.claim_messages decides later), target (only rows a model picks, scored from the row''s columns by name: {"uplift_model": m, "top_fraction": f} or {"uplift_model": m, "min_uplift": x} with mkt.predict_uplift, {"predictor": m, "min_score": x} or {"predictor": m, "top_fraction": f} with mkt.predict; for a classifier''s class (a multiclass predictor has no single score) {"predictor": m, "class": c, "min_score": p} with mkt.predict_probability, or {"predictor": m, "class": c} for the rows mkt.predict_class calls c; top_fraction is turned into a score threshold by the model''s held-out scores when the campaign is created; the control group is drawn from the targeted rows; untargeted_sample, 0 to 0.5, default 0, also takes that share of all qualifying rows, drawn by subject whatever the model says, as an untargeted campaign in miniature with its own control group, so that mkt.campaign_report can set sending to everyone beside targeting).';

COMMENT ON FUNCTION mkt.predict_proba_all(text, text, text, text) IS
'The deployed classifier''s probabilities for every row of source, with the row''s key_col as text: a row per class (as mkt.predict_proba gives them), or with only_class given only that class''s probability (one row per source row, as mkt.predict_probability gives it). A class the model does not know is an error naming its classes; a regression is an error.';
