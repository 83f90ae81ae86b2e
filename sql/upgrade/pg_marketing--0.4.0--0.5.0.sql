-- pg_marketing 0.4.0 -> 0.5.0 (ALTER EXTENSION pg_marketing UPDATE).
--
-- Predictors gain the 'mlp' algorithm and params.transform, uplift models 'mlp' base learners
-- (comments of mkt.train_predictor, mkt.train_uplift, mkt.feature_importance and
-- mkt.explain_prediction); mkt.decide_all decides for every row of a source, and background jobs
-- may run it. Stored models are untouched: a model without a transform reads as before.

CREATE FUNCTION mkt."decide_all"(
	"policy_name" TEXT,
	"source" TEXT,
	"subject_col" TEXT,
	"context_cols" TEXT[] DEFAULT NULL
) RETURNS TABLE (
	"decision_id" bigint,
	"subject" TEXT,
	"action" TEXT,
	"probability" double precision
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'decide_all_wrapper';

COMMENT ON FUNCTION mkt.decide_all(text, text, text, text[]) IS
'Decides for every row of source (a table, view or SELECT) in one call, as mkt.decide would for each: the context is a jsonb object of context_cols (NULL = every column but subject_col), each decision is logged in mkt.decisions with its subject, context, probability and distribution, and (decision_id, subject, action, probability) come back in the source''s order. Rows with a NULL subject are skipped (a NOTICE counts them). For a nightly campaign over the whole customer base: the policy''s state is read once per state, not per row, and Thompson sampling''s posterior draws are shared by up to 64 rows of a state (each row takes one of their winners at random, so its logged probability is still exact).';

COMMENT ON FUNCTION mkt.train_predictor(text, text, text, text[], text, text, jsonb) IS
'Trains a supervised model of label_col on the feature columns of source (a table, view or SELECT) and stores it as a new version of model_name in the model catalog. task ''classification'' (a 0/1 or boolean label; scores are probabilities) or ''regression''. features NULL = every column but the label and params.key; a feature is a number, a boolean (0/1) or text (a category); NULL is a missing value. Rows with a NULL label are dropped (a NOTICE counts them). algorithm ''gbdt'' (histogram gradient-boosted trees with native missing values and categories; params trees 100, learning_rate 0.1, max_leaves 31, max_depth 0 = none, min_data_in_leaf 20, l2 0, max_bins 255, early_stopping_rounds 10, min_gain 0, cat_smooth 10), ''logistic'' (L2-regularised logistic or, for regression, ridge regression solved exactly by Newton''s method: params l2 1, as scikit-learn''s C = 1 / l2 and alpha = l2; categories one-hot, missing numbers the training mean) or ''mlp'' (a feed-forward network in candle on the standardised one-hot design: ReLU layers hidden [128, 64], a sigmoid output with binary cross-entropy or a linear one with squared error, Adam; params epochs 200, batch_size 256, learning_rate 0.001, weight_decay 0, early_stopping_rounds 10 epochs without a better held-out loss (the best epoch is kept), device cpu|cuda|auto (default the mkt.device setting)). Common params: key (an id column, not a feature), transform (a stored mkt.fit_transform: the model reads the source with the transform''s output columns added, keeps a copy of the transform, and puts every row it scores through it), validation_fraction 0.1 (held-out rows for early stopping, the decision threshold with the best F1 and the metrics returned), class_weight ''none'' or ''balanced'', seed 42, deploy true. Unknown params are an error listing the valid ones.';

COMMENT ON FUNCTION mkt.feature_importance(text) IS
'The deployed predictor''s features, most important first: for gbdt each feature''s share of the total split gain (they sum to 1); for logistic the sum of its absolute coefficients (per unit of the feature, so scale features to compare them); for mlp its permutation importance: how much the held-out rows'' mean loss grows when the feature''s values are shuffled among them (at most 5000 rows).';

COMMENT ON FUNCTION mkt.explain_prediction(text, jsonb) IS
'Exact contributions of each feature to one row''s raw score (log-odds for classification, the value for regression), with the score every row starts from as the (base) row: the rows sum to the raw score. TreeSHAP (path-dependent, over the training rows'' splits) for gbdt; coefficient times value for logistic, the intercept as (base); for mlp sampled Shapley values (64 orderings in reversed pairs, fixed seed) against the row with every feature missing, whose score is the (base) row: they still sum exactly to the raw score.';

COMMENT ON FUNCTION mkt.train_uplift(text, text, text, text, text[], text, jsonb) IS
'Trains an uplift model, the difference a treatment makes to each row''s outcome, from a test where treatment_col (0/1 or boolean) says who was treated and outcome_col (0/1 for a conversion, or any number) what happened; stores it as a new version of model_name. algorithm ''t_learner'' (default: an outcome model per arm), ''s_learner'' (one model with the treatment as a feature), ''x_learner'' (effects imputed from the other arm''s model, blended by the propensity) or ''class_transformation'' (0/1 outcomes: a classifier of treated-and-converted or control-and-not, arms weighted equally). params: base ''gbdt'' (default), ''logistic'' or ''mlp'' with that learner''s params (a network holds out a tenth of its rows to stop early); transform as in mkt.train_predictor; propensity (the design''s chance of treatment; default the treated share); key, validation_fraction 0.1 (held-out rows whose Qini, AUUC and uplift@k are returned), seed, deploy. Rows with a NULL treatment or outcome are dropped (a NOTICE counts them); both arms must have rows.';

COMMENT ON FUNCTION mkt.submit_job(text, int) IS
'Queues one SELECT of a long mkt function (train_recommender, retrain, tune_recommender, evaluate_recommender, train_policy, evaluate_policy, estimate_policy_value, simulate_campaign, profile, clean, fit_transform, apply_transform, rfm, user_features, split, train_clv, evaluate_clv, train_predictor, evaluate_predictor, train_uplift, evaluate_uplift, decide_all) to run in a background worker as the submitting role, after this transaction commits. At most mkt.max_workers jobs of a database run at once. Returns the job id; follow it in mkt.jobs.';
