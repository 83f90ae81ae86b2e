-- pg_marketing 0.3.0 -> 0.4.0 (ALTER EXTENSION pg_marketing UPDATE).
--
-- Predictors and uplift models join the model catalog: mkt.train_predictor, mkt.predict,
-- mkt.predict_all, mkt.evaluate_predictor, mkt.roc_curve, mkt.feature_importance,
-- mkt.explain_prediction, mkt.train_uplift, mkt.predict_uplift, mkt.predict_uplift_all,
-- mkt.evaluate_uplift, mkt.uplift_curve_svg. Background jobs may run the training and evaluation
-- ones; campaigns gain the target param. Stored models are untouched.

CREATE FUNCTION mkt."evaluate_predictor"(
	"model_name" TEXT,
	"test_source" TEXT
) RETURNS TABLE (
	"metric" TEXT,
	"value" double precision
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'evaluate_predictor_wrapper';

CREATE FUNCTION mkt."evaluate_uplift"(
	"model_name" TEXT,
	"test_source" TEXT
) RETURNS TABLE (
	"metric" TEXT,
	"value" double precision
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'evaluate_uplift_wrapper';

CREATE FUNCTION mkt."explain_prediction"(
	"model_name" TEXT,
	"features" jsonb
) RETURNS TABLE (
	"feature" TEXT,
	"contribution" double precision
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'explain_prediction_wrapper';

CREATE FUNCTION mkt."feature_importance"(
	"model_name" TEXT
) RETURNS TABLE (
	"feature" TEXT,
	"importance" double precision
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'feature_importance_wrapper';

CREATE FUNCTION mkt."predict"(
	"model_name" TEXT,
	"features" jsonb
) RETURNS double precision
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'predict_wrapper';

CREATE FUNCTION mkt."predict_all"(
	"model_name" TEXT,
	"source" TEXT,
	"key_col" TEXT
) RETURNS TABLE (
	"key" TEXT,
	"score" double precision
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'predict_all_wrapper';

CREATE FUNCTION mkt."predict_uplift"(
	"model_name" TEXT,
	"features" jsonb
) RETURNS double precision
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'predict_uplift_wrapper';

CREATE FUNCTION mkt."predict_uplift_all"(
	"model_name" TEXT,
	"source" TEXT,
	"key_col" TEXT
) RETURNS TABLE (
	"key" TEXT,
	"uplift" double precision
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'predict_uplift_all_wrapper';

CREATE FUNCTION mkt."roc_curve"(
	"model_name" TEXT,
	"test_source" TEXT
) RETURNS TABLE (
	"threshold" double precision,
	"tpr" double precision,
	"fpr" double precision,
	"precision" double precision
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'roc_curve_wrapper';

CREATE FUNCTION mkt."train_predictor"(
	"model_name" TEXT,
	"source" TEXT,
	"label_col" TEXT,
	"features" TEXT[] DEFAULT NULL,
	"task" TEXT DEFAULT 'classification',
	"algorithm" TEXT DEFAULT 'gbdt',
	"params" jsonb DEFAULT '{}'
) RETURNS TABLE (
	"model_name" TEXT,
	"version" INT,
	"algorithm" TEXT,
	"rows" bigint,
	"features" INT,
	"metrics" jsonb,
	"train_seconds" double precision
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'train_predictor_wrapper';

CREATE FUNCTION mkt."train_uplift"(
	"model_name" TEXT,
	"source" TEXT,
	"treatment_col" TEXT,
	"outcome_col" TEXT,
	"features" TEXT[] DEFAULT NULL,
	"algorithm" TEXT DEFAULT 't_learner',
	"params" jsonb DEFAULT '{}'
) RETURNS TABLE (
	"model_name" TEXT,
	"version" INT,
	"algorithm" TEXT,
	"rows" bigint,
	"features" INT,
	"metrics" jsonb,
	"train_seconds" double precision
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'train_uplift_wrapper';

CREATE FUNCTION mkt."uplift_curve_svg"(
	"model_name" TEXT,
	"test_source" TEXT
) RETURNS TEXT
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'uplift_curve_svg_wrapper';

-- Their comments.
COMMENT ON FUNCTION mkt.train_predictor(text, text, text, text[], text, text, jsonb) IS
'Trains a supervised model of label_col on the feature columns of source (a table, view or SELECT) and stores it as a new version of model_name in the model catalog. task ''classification'' (a 0/1 or boolean label; scores are probabilities) or ''regression''. features NULL = every column but the label and params.key; a feature is a number, a boolean (0/1) or text (a category); NULL is a missing value. Rows with a NULL label are dropped (a NOTICE counts them). algorithm ''gbdt'' (histogram gradient-boosted trees with native missing values and categories; params trees 100, learning_rate 0.1, max_leaves 31, max_depth 0 = none, min_data_in_leaf 20, l2 0, max_bins 255, early_stopping_rounds 10, min_gain 0, cat_smooth 10) or ''logistic'' (L2-regularised logistic or, for regression, ridge regression solved exactly by Newton''s method: params l2 1, as scikit-learn''s C = 1 / l2 and alpha = l2; categories one-hot, missing numbers the training mean). Common params: key (an id column, not a feature), validation_fraction 0.1 (held-out rows for early stopping, the decision threshold with the best F1 and the metrics returned), class_weight ''none'' or ''balanced'', seed 42, deploy true. Unknown params are an error listing the valid ones.';

COMMENT ON FUNCTION mkt.predict(text, jsonb) IS
'The deployed predictor''s score for one row given as a jsonb object of feature values: a probability for classification, a value for regression. A feature that is absent or null is a missing value; keys the model does not read are ignored; a category it never saw is missing. Read-only (works on a hot standby), for triggers and campaign conditions.';

COMMENT ON FUNCTION mkt.predict_all(text, text, text) IS
'The deployed predictor''s score for every row of source, with the row''s key_col as text. The source needs every feature column the model was trained on.';

COMMENT ON FUNCTION mkt.evaluate_predictor(text, text) IS
'Scores the deployed predictor on test_source (which has the label column and every feature) and returns its metrics: for classification roc_auc, pr_auc (average precision), log_loss, brier, accuracy, precision, recall and f1 at 0.5 and at the threshold chosen on the validation rows (the *_at_threshold rows), the threshold and rows; for regression rmse, mae, r2 and rows. Rows with a NULL label are left out. The metrics are stored with the version as test_<metric>.';

COMMENT ON FUNCTION mkt.roc_curve(text, text) IS
'The ROC curve of the deployed classifier on test_source: one row per distinct score from the highest (threshold +infinity, nothing called positive) down, with the true positive rate, false positive rate and precision of calling every row scored at or above threshold positive.';

COMMENT ON FUNCTION mkt.feature_importance(text) IS
'The deployed predictor''s features, most important first: for gbdt each feature''s share of the total split gain (they sum to 1); for logistic the sum of its absolute coefficients (per unit of the feature, so scale features to compare them).';

COMMENT ON FUNCTION mkt.explain_prediction(text, jsonb) IS
'Exact contributions of each feature to one row''s raw score (log-odds for classification, the value for regression), with the score every row starts from as the (base) row: the rows sum to the raw score. TreeSHAP (path-dependent, over the training rows'' splits) for gbdt; coefficient times value for logistic, the intercept as (base).';

COMMENT ON FUNCTION mkt.train_uplift(text, text, text, text, text[], text, jsonb) IS
'Trains an uplift model, the difference a treatment makes to each row''s outcome, from a test where treatment_col (0/1 or boolean) says who was treated and outcome_col (0/1 for a conversion, or any number) what happened; stores it as a new version of model_name. algorithm ''t_learner'' (default: an outcome model per arm), ''s_learner'' (one model with the treatment as a feature), ''x_learner'' (effects imputed from the other arm''s model, blended by the propensity) or ''class_transformation'' (0/1 outcomes: a classifier of treated-and-converted or control-and-not, arms weighted equally). params: base ''gbdt'' (default) or ''logistic'' with that learner''s params; propensity (the design''s chance of treatment; default the treated share); key, validation_fraction 0.1 (held-out rows whose Qini, AUUC and uplift@k are returned), seed, deploy. Rows with a NULL treatment or outcome are dropped (a NOTICE counts them); both arms must have rows.';

COMMENT ON FUNCTION mkt.predict_uplift(text, jsonb) IS
'The deployed uplift model''s predicted effect of the treatment for one row given as a jsonb object of feature values (for a 0/1 outcome, the change in conversion probability). Missing and extra keys as in mkt.predict.';

COMMENT ON FUNCTION mkt.predict_uplift_all(text, text, text) IS
'The deployed uplift model''s predicted effect for every row of source, with the row''s key_col as text.';

COMMENT ON FUNCTION mkt.evaluate_uplift(text, text) IS
'Scores the deployed uplift model on test_source (with the treatment and outcome columns) and returns qini (the Qini coefficient), auuc (normalised area under the uplift curve), uplift_at_10 and uplift_at_30 (treated minus control outcome rate among the top 10% and 30% by predicted uplift), rows, treated and control. Definitions are scikit-uplift''s qini_auc_score, uplift_auc_score and uplift_at_k (strategy overall); README "Predictors and uplift models" writes them out. Stored with the version as test_<metric>.';

COMMENT ON FUNCTION mkt.uplift_curve_svg(text, text) IS
'An SVG chart of the deployed uplift model''s Qini curve on test_source: extra outcomes among the treated as more customers are targeted in order of predicted uplift, beside random targeting and the best possible ranking.';

-- What changed for the other areas: jobs may run the new training and evaluation functions,
-- mkt.retrain retrains predictors and uplift models, mkt.model_report draws a predictor's feature
-- importances, campaigns may target the rows a model picks, and the catalog table says how
-- predictors and uplift models fill its columns.
COMMENT ON FUNCTION mkt.create_campaign(text, text, regclass, text, text[], text, jsonb) IS
'Installs an AFTER INSERT trigger on trigger_source: each new row meeting condition (a boolean expression over its columns) gets a decision of the policy for its subject, with context_cols as context, queued in mkt.outbox. params: control_fraction (0.1, a stable per-subject hold-out), frequency_cap per frequency_interval (1 day), budget (sends per day), start, end, quiet_hours [from, to), claim_timeout (5 minutes), reward (conversion | value), seed, mode (immediate: decide in the inserting transaction; queued: the insert only queues the event, mkt.process_campaign or mkt.claim_messages decides later), target (only rows a model picks, scored from the row''s columns by name: {"uplift_model": m, "top_fraction": f} or {"uplift_model": m, "min_uplift": x} with mkt.predict_uplift, {"predictor": m, "min_score": x} or {"predictor": m, "top_fraction": f} with mkt.predict; top_fraction is turned into a score threshold by the model''s held-out scores when the campaign is created; the control group is drawn from the targeted rows).';

COMMENT ON FUNCTION mkt.retrain(text, text) IS
'Re-runs the stored definition (source, columns, algorithm, params, feature tables and transforms) of the serving version on current data. The holdout is a fifth of the interactions the serving version never trained on; a challenger trained on the rest and the serving version are both ranked on it (ndcg@10). A version trained on all the data is then stored and deployed per deploy: always, never or if_better (default: only when the challenger scored higher; with no interaction newer than the serving version there is nothing to judge by and it keeps serving). The reason is kept in mkt.deploy_history. A customer value model (mkt.train_clv) is refitted on current data instead and judged by log-likelihood per customer on the current summary, the serving version''s parameters against the refit''s (metric and previous_metric). A predictor or uplift model is retrained from its source with its label (or treatment and outcome), features, task, algorithm and params, and judged with the serving version on the rows the new version held out (validation_fraction): ROC-AUC for classification, RMSE for regression (lower is better), the Qini coefficient for uplift.';

COMMENT ON FUNCTION mkt.model_report(text, int) IS
'A self-contained HTML page (inline CSS and SVG, no external assets) about a model version (default: the deployed one): definition, metrics, training curve and validation ndcg per epoch, every version compared, deployments and tuning trials; for a customer value model the tracking plot and frequency histogram of mkt.clv_report_svg; for a predictor its feature importances. For a policy name: definition, decisions, the learning curve of rewards and the value heatmap.';

COMMENT ON FUNCTION mkt.submit_job(text, int) IS
'Queues one SELECT of a long mkt function (train_recommender, retrain, tune_recommender, evaluate_recommender, train_policy, evaluate_policy, estimate_policy_value, simulate_campaign, profile, clean, fit_transform, apply_transform, rfm, user_features, split, train_clv, evaluate_clv, train_predictor, evaluate_predictor, train_uplift, evaluate_uplift) to run in a background worker as the submitting role, after this transaction commits. At most mkt.max_workers jobs of a database run at once. Returns the job id; follow it in mkt.jobs.';

COMMENT ON TABLE mkt.model_versions IS 'Every trained model version of every kind (recommenders, customer value models, predictors, uplift models): definition, sizes, evaluation metrics. Models without items (customer value) have no item column; their user column is the customer column, the weight column the amount column and n_interactions the transactions read. For a predictor the user column is its key column (empty without one), the item column the label, n_users and n_interactions the rows it trained on and n_items its features; an uplift model has the outcome as item column and the treatment as weight column.';
