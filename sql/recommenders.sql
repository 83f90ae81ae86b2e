-- Recommenders: documentation of their functions (src/recommenders/api.rs).

COMMENT ON FUNCTION mkt.train_recommender(text, text, text, text, text, text, jsonb) IS
'Trains a new version of a recommender from a table, view or SELECT. algorithm: popularity, als, item_knn, ease, bpr, neural (two-tower in candle; optional user_features / item_features tables ({"source", "key", "columns", "transform", "text_columns"}: each text column becomes its 384-number mkt.embed embedding) give cold-start users and items personal scores; per-epoch progress in mkt.training_log), neumf (GMF + MLP, same feature tables), sequential (each user''s events in the order of params.time_col, required: it ranks what comes next; params architecture attention (SASRec: causal self-attention, default) or gru (GRU4Rec), max_length 50, blocks 2 (gru: 1 layer), heads 1, dim 64, dropout 0.2, learning_rate, epochs with early stopping on each user''s last event, patience, batch_size, seed, history_source: a table or view with the same user, item and time columns that mkt.recommend reads each user''s latest events from at call time, item_features: a feature table as for neural, whose columns and text_columns are added to the item embeddings, so items only in it are scored from it, hash_buckets); params per algorithm plus deploy (default true). NULL ids are skipped with a NOTICE.';

COMMENT ON FUNCTION mkt.recommend(text, bigint, int, bool, bigint[]) IS
'Top-k items for a user from the deployed version of a model (bigint ids). Unknown users get the popularity ranking (NOTICE). exclude_seen drops training items; candidates restricts the ranking. A sequential model trained with params.history_source reads the user''s latest events from it at call time (the caller needs SELECT on it; exclude_seen then also drops those events).';

COMMENT ON FUNCTION mkt.recommend(text, text, int, bool, text[]) IS
'Top-k items for a user from the deployed version of a model, ids as text (for models trained on text ids, or any model).';

COMMENT ON FUNCTION mkt.recommend_next(text, bigint[], int, bigint[]) IS
'Top-k items to come next after recent_items (oldest first) in an anonymous session, from a deployed sequential model; exclude leaves items out. Items the model does not know are skipped (NOTICE); with none known the answer is the popularity ranking. Other algorithms: 0A000.';

COMMENT ON FUNCTION mkt.recommend_all(text, int, bigint[]) IS
'Top-k items for every user of the model (or the given users), computed in parallel (mkt.threads).';

COMMENT ON FUNCTION mkt.similar_items(text, bigint, int) IS
'Items most similar to an item: cosine of ALS item factors, item_knn neighbours or EASE weights. Not available for popularity models.';

COMMENT ON FUNCTION mkt.evaluate_recommender(text, text, int, text, text) IS
'Ranks each test user as serving would (training items excluded) and reports precision, recall, f1, ndcg, map, hit_rate at k, coverage, users_evaluated and users_cold. Stores them with the deployed version.';

COMMENT ON FUNCTION mkt.explain_recommendation(text, bigint, bigint, int) IS
'The n items of the user''s history that contribute most to an item''s score, with their contributions. Exact for item_knn, EASE (the history item''s weight toward the item) and ALS (c_j * y_i'' W_u y_j from the user-vector solve; contributions sum to the score); for bpr and neural the cosine of item vectors (which history items the model places near the item); for sequential the drop in the item''s score when one of the user''s latest events is left out.';

COMMENT ON FUNCTION mkt.tune_recommender(text, text, text, text, text, text, jsonb) IS
'Grid or random search over an algorithm''s params on a validation split carved from the source (a fifth of the items of users with 5 or more), then trains and stores a version with the best params on all the data. search: {"params": {name: [values] | {"min", "max", "log"}}, "method": grid|random, "trials", "seed", "validation", "k", "metric": ndcg|recall|precision|map|hit_rate, "base": {fixed params}}. Every trial is returned and kept in mkt.tuning_trials.';

COMMENT ON FUNCTION mkt.retrain(text, text) IS
'Re-runs the stored definition (source, columns, algorithm, params, feature tables and transforms) of the serving version on current data. The holdout is a fifth of the interactions the serving version never trained on; a challenger trained on the rest and the serving version are both ranked on it (ndcg@10). A version trained on all the data is then stored and deployed per deploy: always, never or if_better (default: only when the challenger scored higher; with no interaction newer than the serving version there is nothing to judge by and it keeps serving). The reason is kept in mkt.deploy_history. A customer value model (mkt.train_clv) is refitted on current data instead and judged by log-likelihood per customer on the current summary, the serving version''s parameters against the refit''s (metric and previous_metric). A predictor or uplift model is retrained from its source with its label (or treatment and outcome), features, task, algorithm and params, and judged with the serving version on the rows the new version held out (validation_fraction): ROC-AUC for classification, RMSE for regression (lower is better), the Qini coefficient for uplift.';
