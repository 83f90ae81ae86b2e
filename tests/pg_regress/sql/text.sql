-- mkt.embed: sentence embeddings by all-MiniLM-L6-v2 (installed by make text-model).
LOAD 'pg_marketing';
SHOW mkt.text_model;

-- 384 dimensions, unit length.
SELECT cardinality(e) AS dims,
       round(sqrt((SELECT sum(x::float8 * x) FROM unnest(e) x))::numeric, 4) AS norm
FROM mkt.embed('Wireless noise-cancelling headphones') e;

-- Cosine of two texts (the vectors are unit length: their dot product).
CREATE FUNCTION pg_temp.cos(a real[], b real[]) RETURNS numeric LANGUAGE sql AS
$$ SELECT round(sum(x::float8 * y)::numeric, 3) FROM unnest(a, b) AS t(x, y) $$;

-- Texts about the same thing lie closer than unrelated ones.
SELECT pg_temp.cos(mkt.embed('red running shoes for men'), mkt.embed('sneakers for jogging')) >
       pg_temp.cos(mkt.embed('red running shoes for men'), mkt.embed('stainless steel saucepan')) AS related_closer;

-- Case does not matter (the tokenizer lower-cases); the same text gives the same vector.
SELECT pg_temp.cos(mkt.embed('SUMMER SALE'), mkt.embed('summer sale')) AS same;

-- Many texts in one call: one row per element in order; NULL stays NULL; blank is a zero vector.
SELECT ord, embedding IS NULL AS is_null, cardinality(embedding) AS dims,
       (SELECT bool_and(x = 0) FROM unnest(embedding) x) AS all_zero
FROM mkt.embed(ARRAY['a blue raincoat', NULL, '', '   ', 'a blue raincoat']);

-- The batch and the single-text function agree.
SELECT pg_temp.cos(e.embedding, mkt.embed('a blue raincoat')) AS batch_equals_single
FROM mkt.embed(ARRAY['a blue raincoat', 'a yellow umbrella']) e WHERE ord = 1;

-- Text past 256 word pieces is truncated: what follows them changes nothing.
SELECT pg_temp.cos(mkt.embed(repeat('coupon ', 300)), mkt.embed(repeat('coupon ', 300) || 'completely different ending')) AS truncated;

-- NULL in, NULL out; an empty array gives no rows.
SELECT mkt.embed(NULL::text) IS NULL AS null_text;
SELECT count(*) FROM mkt.embed(ARRAY[]::text[]);

-- Describing items: a SELECT over a table embeds every row.
CREATE TABLE products(id int PRIMARY KEY, description text);
INSERT INTO products VALUES (1, 'espresso machine with milk frother'), (2, 'coffee grinder, burr, 15 settings'),
  (3, 'children''s bicycle with training wheels');
CREATE TABLE product_vectors AS SELECT id, mkt.embed(description) AS v FROM products;
SELECT a.id, b.id AS nearest
FROM product_vectors a CROSS JOIN LATERAL (
  SELECT b.id FROM product_vectors b WHERE b.id <> a.id ORDER BY pg_temp.cos(a.v, b.v) DESC LIMIT 1) b
ORDER BY a.id;

-- A folder without the model: undefined_file, naming the folder and the setup command.
SET mkt.text_model = '/nonexistent/minilm';
SELECT regress.err($$SELECT mkt.embed('anything')$$);
SELECT regress.err($$SELECT * FROM mkt.embed(ARRAY['anything'])$$);
RESET mkt.text_model;
SELECT cardinality(mkt.embed('back to the installed model')) AS dims;

-- Only a superuser may point the server at a folder.
CREATE ROLE text_user;
GRANT USAGE ON SCHEMA mkt TO text_user;
SET ROLE text_user;
SET mkt.text_model = '/tmp';
SELECT cardinality(mkt.embed('a user may embed')) AS dims;
RESET ROLE;
REVOKE USAGE ON SCHEMA mkt FROM text_user;
DROP ROLE text_user;
DROP TABLE products, product_vectors;

-- Text as item features: a neural model reads item_features.text_columns through mkt.embed, so
-- items that only have a description get real scores. 60 users in 3 taste groups rate items
-- 1..30 (users of group g like items i with i % 3 = g); items 31..33 are new, described only.
CREATE TABLE text_items AS
SELECT i AS item_id,
       (ARRAY['a warm wool sweater', 'a winter knit jumper', 'a soft cashmere cardigan', 'a thick fleece pullover'])[1 + i % 4]
         || ' in ' || (ARRAY['grey', 'navy', 'cream'])[1 + i % 3] AS description
FROM generate_series(0, 33) i WHERE i % 3 = 0
UNION ALL
SELECT i, (ARRAY['dark roast espresso coffee beans', 'ground arabica coffee', 'a bag of single-origin coffee', 'decaf filter coffee'])[1 + i % 4]
FROM generate_series(1, 33) i WHERE i % 3 = 1
UNION ALL
SELECT i, (ARRAY['a mountain bike with disc brakes', 'a road bicycle, carbon frame', 'a hybrid bike for commuting', 'a gravel bicycle'])[1 + i % 4]
FROM generate_series(2, 33) i WHERE i % 3 = 2;
DELETE FROM text_items WHERE item_id = 0;
SELECT n_users, n_items FROM mkt.train_recommender('text_nn', 'regress.planted', algorithm => 'neural',
  params => '{"epochs": 40, "dim": 16, "hidden": 32, "seed": 3, "cold_dropout": 0.3,
              "item_features": {"source": "text_items", "key": "item_id", "text_columns": ["description"]}}');
-- Among the three new items, each user's first is the one of their group for most users.
SELECT count(*) FILTER (WHERE r.item_id % 3 = u % 3) >= 45 AS new_items_ranked_by_their_text
FROM generate_series(1, 60) u, LATERAL mkt.recommend('text_nn', u, 1, candidates => ARRAY[31, 32, 33]) r;
-- The items most like a new item are of its kind.
SELECT count(*) FILTER (WHERE s.item_id % 3 = 31 % 3) >= 4 AS similar_to_new_item
FROM mkt.similar_items('text_nn', 31, 5) s;
-- A text column that does not exist, and a spec with neither columns nor text_columns.
SELECT regress.err($$SELECT * FROM mkt.train_recommender('text_bad', 'regress.planted', algorithm => 'neural',
  params => '{"item_features": {"source": "text_items", "key": "item_id", "text_columns": ["blurb"]}}')$$);
SELECT regress.err($$SELECT * FROM mkt.train_recommender('text_bad', 'regress.planted', algorithm => 'neural',
  params => '{"item_features": {"source": "text_items", "key": "item_id"}}')$$);
-- Text features that would take more than mkt.max_memory_mb are refused before anything is
-- embedded: 600 rows x 384 numbers need about 5 MB.
CREATE TABLE text_many AS SELECT i AS item_id, 'a plain mug' AS description FROM generate_series(1, 600) i;
SET mkt.max_memory_mb = 4;
SELECT regress.err($$SELECT * FROM mkt.train_recommender('text_bad', 'regress.planted', algorithm => 'neural',
  params => '{"item_features": {"source": "text_many", "key": "item_id", "text_columns": ["description"]}}')$$);
-- What a feature table holds counts against the same limit as the model: 450 rows of text fit on
-- their own (about 4 MB while embedded), not beside the model.
TRUNCATE text_many;
INSERT INTO text_many SELECT i, 'a plain mug' FROM generate_series(1, 450) i;
SELECT regress.err($$SELECT * FROM mkt.train_recommender('text_bad', 'regress.planted', algorithm => 'neural',
  params => '{"item_features": {"source": "text_many", "key": "item_id", "text_columns": ["description"]}}')$$);
RESET mkt.max_memory_mb;
DROP TABLE text_many;
SELECT count(*) FROM mkt.models WHERE model_name = 'text_bad';
-- A sequence model takes the same feature table: each user of group g walks items of kind g in
-- time order; the three new items are in no sequence and are ranked by their descriptions.
CREATE TABLE text_walks AS
SELECT u AS user_id, 3 * ((u * 5 + t * 7) % 10) + u % 3 + CASE WHEN u % 3 = 0 THEN 3 ELSE 0 END AS item_id,
       timestamptz '2026-01-01' + (u * 20 + t) * interval '1 minute' AS ts
FROM generate_series(1, 60) u, generate_series(1, 10) t;
SELECT n_items FROM mkt.train_recommender('text_seq', 'text_walks', algorithm => 'sequential',
  params => '{"time_col": "ts", "architecture": "gru", "dim": 16, "max_length": 8, "epochs": 30, "patience": 30, "batch_size": 16, "dropout": 0,
              "item_features": {"source": "text_items", "key": "item_id", "text_columns": ["description"]}}');
SELECT count(*) FILTER (WHERE r.item_id % 3 = u % 3) >= 45 AS new_items_follow_their_kind
FROM generate_series(1, 60) u, LATERAL mkt.recommend('text_seq', u, 1, candidates => ARRAY[31, 32, 33]) r;
SELECT mkt.drop_model('text_seq');
DROP TABLE text_walks;
SELECT mkt.drop_model('text_nn');
DROP TABLE text_items;
