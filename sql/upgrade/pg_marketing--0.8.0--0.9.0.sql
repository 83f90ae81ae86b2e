-- pg_marketing 0.8.0 -> 0.9.0 (ALTER EXTENSION pg_marketing UPDATE).
--
-- Adds mkt.embed: sentence embeddings by all-MiniLM-L6-v2 from the folder the new setting
-- mkt.text_model names (make text-model installs it), and item_features.text_columns /
-- user_features.text_columns for neural recommenders, and item_features for sequential ones (the
-- comment of mkt.train_recommender).
-- Stored models and policies are untouched.

CREATE FUNCTION mkt."embed"(
	"text" TEXT
) RETURNS real[]
STABLE STRICT PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'embed_wrapper';

CREATE FUNCTION mkt."embed"(
	"texts" TEXT[]
) RETURNS TABLE (
	"ord" INT,
	"embedding" real[]
)
STABLE STRICT PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'embed_many_wrapper';


COMMENT ON FUNCTION mkt.embed(text) IS
'384-dimensional, L2-normalised sentence embedding of a text by all-MiniLM-L6-v2 (mean pooling over the attention mask, then normalisation, as sentence-transformers computes it), read from the folder mkt.text_model names (installed by make text-model). Text past 256 word pieces is truncated; an empty or blank text gives a zero vector. Castable to pgvector''s vector(384) where pgvector is installed.';

COMMENT ON FUNCTION mkt.embed(text[]) IS
'Embeddings of many texts in one call, batched 32 at a time after sorting by length: one row per element, ord being its 1-based position; a NULL element gives a NULL embedding, a blank one a zero vector. Interruptible between batches; uses mkt.threads threads.';

COMMENT ON FUNCTION mkt.train_recommender(text, text, text, text, text, text, jsonb) IS
'Trains a new version of a recommender from a table, view or SELECT. algorithm: popularity, als, item_knn, ease, bpr, neural (two-tower in candle; optional user_features / item_features tables ({"source", "key", "columns", "transform", "text_columns"}: each text column becomes its 384-number mkt.embed embedding) give cold-start users and items personal scores; per-epoch progress in mkt.training_log), neumf (GMF + MLP, same feature tables), sequential (each user''s events in the order of params.time_col, required: it ranks what comes next; params architecture attention (SASRec: causal self-attention, default) or gru (GRU4Rec), max_length 50, blocks 2 (gru: 1 layer), heads 1, dim 64, dropout 0.2, learning_rate, epochs with early stopping on each user''s last event, patience, batch_size, seed, history_source: a table or view with the same user, item and time columns that mkt.recommend reads each user''s latest events from at call time, item_features: a feature table as for neural, whose columns and text_columns are added to the item embeddings, so items only in it are scored from it, hash_buckets); params per algorithm plus deploy (default true). NULL ids are skipped with a NOTICE.';
