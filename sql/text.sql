-- Text: documentation of its functions (src/text/api.rs).

COMMENT ON FUNCTION mkt.embed(text) IS
'384-dimensional, L2-normalised sentence embedding of a text by all-MiniLM-L6-v2 (mean pooling over the attention mask, then normalisation, as sentence-transformers computes it), read from the folder mkt.text_model names (installed by make text-model). Text past 256 word pieces is truncated; an empty or blank text gives a zero vector. Castable to pgvector''s vector(384) where pgvector is installed.';

COMMENT ON FUNCTION mkt.embed(text[]) IS
'Embeddings of many texts in one call, batched 32 at a time after sorting by length: one row per element, ord being its 1-based position; a NULL element gives a NULL embedding, a blank one a zero vector. Interruptible between batches; uses mkt.threads threads.';
