-- pg_marketing 0.8.0 -> 0.9.0 (ALTER EXTENSION pg_marketing UPDATE).
--
-- Adds mkt.embed: sentence embeddings by all-MiniLM-L6-v2 from the folder the new setting
-- mkt.text_model names (make text-model installs it). Stored models and policies are untouched.

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
