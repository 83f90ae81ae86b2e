-- pg_marketing 0.6.0 -> 0.7.0 (ALTER EXTENSION pg_marketing UPDATE).
--
-- Recommenders gain algorithm 'sequential' (causal self-attention over each user's events in
-- time order) and mkt.recommend_next for anonymous sessions; the comments of
-- mkt.train_recommender and mkt.explain_recommendation describe them. Deployed versions are
-- served from the same files as before plus a serving file built at the first call; stored models
-- and policies are untouched.

CREATE FUNCTION mkt."recommend_next"(
	"model_name" TEXT,
	"recent_items" bigint[],
	"k" INT DEFAULT 10,
	"exclude" bigint[] DEFAULT NULL
) RETURNS TABLE (
	"item_id" bigint,
	"score" real,
	"rank" INT
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'recommend_next_wrapper';

COMMENT ON FUNCTION mkt.recommend_next(text, bigint[], int, bigint[]) IS
'Top-k items to come next after recent_items (oldest first) in an anonymous session, from a deployed sequential model; exclude leaves items out. Items the model does not know are skipped (NOTICE); with none known the answer is the popularity ranking. Other algorithms: 0A000.';

COMMENT ON FUNCTION mkt.train_recommender(text, text, text, text, text, text, jsonb) IS
'Trains a new version of a recommender from a table, view or SELECT. algorithm: popularity, als, item_knn, ease, bpr, neural (two-tower in candle; optional user_features / item_features tables give cold-start users and items personal scores; per-epoch progress in mkt.training_log), neumf (GMF + MLP, same feature tables), sequential (causal self-attention over each user''s events in the order of params.time_col, required: it ranks what comes next; params max_length 50, blocks 2, heads 1, dim 64, dropout 0.2, learning_rate, epochs with early stopping on each user''s last event, patience, batch_size, seed); params per algorithm plus deploy (default true). NULL ids are skipped with a NOTICE.';

COMMENT ON FUNCTION mkt.explain_recommendation(text, bigint, bigint, int) IS
'The n items of the user''s history that contribute most to an item''s score, with their contributions. Exact for item_knn, EASE (the history item''s weight toward the item) and ALS (c_j * y_i'' W_u y_j from the user-vector solve; contributions sum to the score); for bpr and neural the cosine of item vectors (which history items the model places near the item); for sequential the drop in the item''s score when one of the user''s latest events is left out.';
