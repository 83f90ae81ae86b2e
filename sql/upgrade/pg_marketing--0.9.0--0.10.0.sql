-- pg_marketing 0.9.0 -> 0.10.0 (ALTER EXTENSION pg_marketing UPDATE).
--
-- Adds multiclass predictors (mkt.train_predictor task 'multiclass') and the functions that call
-- classes: mkt.predict_class, mkt.predict_proba and mkt.predict_class_all (they serve binary
-- classifiers too). The comments of the predictor functions that now say what they do for
-- multiclass are replaced. Stored models and policies are untouched: a predictor stored by an
-- earlier release reads as before (it has no classes).

CREATE FUNCTION mkt."predict_class"(
	"model_name" TEXT,
	"features" jsonb
) RETURNS TEXT
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'predict_class_wrapper';

CREATE FUNCTION mkt."predict_class_all"(
	"model_name" TEXT,
	"source" TEXT,
	"key_col" TEXT
) RETURNS TABLE (
	"key" TEXT,
	"class" TEXT,
	"probability" double precision
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'predict_class_all_wrapper';

CREATE FUNCTION mkt."predict_proba"(
	"model_name" TEXT,
	"features" jsonb
) RETURNS TABLE (
	"class" TEXT,
	"probability" double precision
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'predict_proba_wrapper';

COMMENT ON FUNCTION mkt.train_predictor(text, text, text, text[], text, text, jsonb) IS
'Trains a supervised model of label_col on the feature columns of source (a table, view or SELECT) and stores it as a new version of model_name in the model catalog. task ''classification'' (a 0/1 or boolean label; scores are probabilities), ''regression'' or ''multiclass'' (a label of 2 to 100 classes of any type, read as text and ordered numerically when every class is a number: one learner per class: gbdt boosts them together on the softmax loss, one tree per class each round, logistic is the multinomial model solved exactly by Newton''s method (scikit-learn''s LogisticRegression with more than two classes), and mlp one network with an output per class trained on the softmax cross-entropy, a row''s probabilities being the softmax of the classes'' scores; logistic with more than 512 parameters (classes x design columns) trains each class against the rest and scales the probabilities to sum to 1; served by mkt.predict_class and mkt.predict_proba; validation metrics accuracy, balanced_accuracy, macro_precision, macro_recall, macro_f1, log_loss; class_weight ''balanced'' weighs each row by rows / (classes x rows of its class), as scikit-learn does). features NULL = every column but the label and params.key; a feature is a number, a boolean (0/1) or text (a category); NULL is a missing value. Rows with a NULL label are dropped (a NOTICE counts them). algorithm ''gbdt'' (histogram gradient-boosted trees with native missing values and categories; params trees 100, learning_rate 0.1, max_leaves 31, max_depth 0 = none, min_data_in_leaf 20, l2 0, max_bins 255, early_stopping_rounds 10, min_gain 0, cat_smooth 10), ''logistic'' (L2-regularised logistic or, for regression, ridge regression solved exactly by Newton''s method: params l2 1, as scikit-learn''s C = 1 / l2 and alpha = l2; categories one-hot, missing numbers the training mean) or ''mlp'' (a feed-forward network in candle on the standardised one-hot design: ReLU layers hidden [128, 64], a sigmoid output with binary cross-entropy or a linear one with squared error, Adam; params epochs 200, batch_size 256, learning_rate 0.001, weight_decay 0, early_stopping_rounds 10 epochs without a better held-out loss (the best epoch is kept), device cpu|cuda|auto (default the mkt.device setting)). Common params: key (an id column, not a feature), transform (a stored mkt.fit_transform: the model reads the source with the transform''s output columns added, keeps a copy of the transform, and puts every row it scores through it), validation_fraction 0.1 (held-out rows for early stopping, the decision threshold with the best F1 and the metrics returned), class_weight ''none'' or ''balanced'', seed 42, deploy true. Unknown params are an error listing the valid ones.';

COMMENT ON FUNCTION mkt.predict(text, jsonb) IS
'The deployed predictor''s score for one row given as a jsonb object of feature values: a probability for classification, a value for regression (a multiclass predictor has no single score: an error names mkt.predict_class and mkt.predict_proba). A feature that is absent or null is a missing value; keys the model does not read are ignored; a category it never saw is missing. Read-only (works on a hot standby), for triggers and campaign conditions.';

COMMENT ON FUNCTION mkt.predict_all(text, text, text) IS
'The deployed predictor''s score for every row of source, with the row''s key_col as text. The source needs every feature column the model was trained on. For a multiclass predictor use mkt.predict_class_all.';

COMMENT ON FUNCTION mkt.predict_class(text, jsonb) IS
'The class the deployed classifier calls for one row given as a jsonb object of feature values (missing and extra keys as in mkt.predict): a multiclass predictor''s most probable class (ties to the first in class order), a binary one''s ''1'' when its probability reaches the threshold chosen on the validation rows, else ''0''. A regression is an error. NULL features give NULL.';

COMMENT ON FUNCTION mkt.predict_proba(text, jsonb) IS
'Every class of the deployed classifier with its probability for one row, in the model''s class order (a binary predictor''s are ''0'' and ''1''); a multiclass predictor''s sum to 1. A regression is an error. NULL features give no rows.';

COMMENT ON FUNCTION mkt.predict_class_all(text, text, text) IS
'The class the deployed classifier calls for every row of source (as mkt.predict_class does), with its probability and the row''s key_col as text.';

COMMENT ON FUNCTION mkt.evaluate_predictor(text, text) IS
'Scores the deployed predictor on test_source (which has the label column and every feature) and returns its metrics: for classification roc_auc, pr_auc (average precision), log_loss, brier, accuracy, precision, recall and f1 at 0.5 and at the threshold chosen on the validation rows (the *_at_threshold rows), the threshold and rows; for regression rmse, mae, r2 and rows. For multiclass accuracy, balanced_accuracy, macro_precision, macro_recall, macro_f1 (averaged over the classes in the labels or called, as scikit-learn does), log_loss, classes and rows; a test label the model never saw counts as its own class, never called. Rows with a NULL label are left out. The metrics are stored with the version as test_<metric>.';

COMMENT ON FUNCTION mkt.roc_curve(text, text) IS
'The ROC curve of the deployed binary classifier on test_source (a multiclass predictor or a regression is an error): one row per distinct score from the highest (threshold +infinity, nothing called positive) down, with the true positive rate, false positive rate and precision of calling every row scored at or above threshold positive.';

COMMENT ON FUNCTION mkt.feature_importance(text) IS
'The deployed predictor''s features, most important first: for gbdt each feature''s share of the total split gain (they sum to 1); for logistic the sum of its absolute coefficients (per unit of the feature, so scale features to compare them); for mlp its permutation importance: how much the held-out rows'' mean loss grows when the feature''s values are shuffled among them (at most 5000 rows). A multiclass predictor''s is the mean over its classes'' learners.';

COMMENT ON FUNCTION mkt.explain_prediction(text, jsonb) IS
'Exact contributions of each feature to one row''s raw score (log-odds for classification, the value for regression, for multiclass the raw score of the class mkt.predict_class calls: its softmax logit, or its log-odds against the rest for a wide logistic model), with the score every row starts from as the (base) row: the rows sum to the raw score. TreeSHAP (path-dependent, over the training rows'' splits) for gbdt; coefficient times value for logistic, the intercept as (base); for mlp sampled Shapley values (64 orderings in reversed pairs, fixed seed) against the row with every feature missing, whose score is the (base) row: they still sum exactly to the raw score.';
