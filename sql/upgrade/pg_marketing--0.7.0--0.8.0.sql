-- pg_marketing 0.7.0 -> 0.8.0 (ALTER EXTENSION pg_marketing UPDATE).
--
-- The 'sequential' recommender gains params.architecture 'gru' and params.history_source (serving
-- reads each user's latest events at call time); the comments of mkt.train_recommender and
-- mkt.recommend describe them. Stored models keep working as they are: a sequential model stored
-- by 0.7.0 is an attention model without a history source.

COMMENT ON FUNCTION mkt.train_recommender(text, text, text, text, text, text, jsonb) IS
'Trains a new version of a recommender from a table, view or SELECT. algorithm: popularity, als, item_knn, ease, bpr, neural (two-tower in candle; optional user_features / item_features tables give cold-start users and items personal scores; per-epoch progress in mkt.training_log), neumf (GMF + MLP, same feature tables), sequential (each user''s events in the order of params.time_col, required: it ranks what comes next; params architecture attention (SASRec: causal self-attention, default) or gru (GRU4Rec), max_length 50, blocks 2 (gru: 1 layer), heads 1, dim 64, dropout 0.2, learning_rate, epochs with early stopping on each user''s last event, patience, batch_size, seed, history_source: a table or view with the same user, item and time columns that mkt.recommend reads each user''s latest events from at call time); params per algorithm plus deploy (default true). NULL ids are skipped with a NOTICE.';

COMMENT ON FUNCTION mkt.recommend(text, bigint, int, bool, bigint[]) IS
'Top-k items for a user from the deployed version of a model (bigint ids). Unknown users get the popularity ranking (NOTICE). exclude_seen drops training items; candidates restricts the ranking. A sequential model trained with params.history_source reads the user''s latest events from it at call time (the caller needs SELECT on it; exclude_seen then also drops those events).';
