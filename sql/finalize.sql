-- Documentation of every function (shown by \df+ and in BI tools).

COMMENT ON FUNCTION mkt.demo_data(int) IS
'Creates (or replaces) the synthetic shop in schema mkt_demo: users, items, events (view/cart/purchase) with power-law popularity, attribute-driven tastes and drift. scale 1 is about 100k events; deterministic.';

COMMENT ON FUNCTION mkt.split(text, text, text, text, float8, text, text, int) IS
'Splits a source per user into two new tables. method: random (seeded), temporal (last test_fraction of each user''s rows by time_col) or leave_last_out. Each user keeps at least one training row.';

COMMENT ON FUNCTION mkt.train_recommender(text, text, text, text, text, text, jsonb) IS
'Trains a new version of a recommender from a table, view or SELECT. algorithm: popularity, als, item_knn, ease; params per algorithm plus deploy (default true). NULL ids are skipped with a NOTICE.';

COMMENT ON FUNCTION mkt.recommend(text, bigint, int, bool, bigint[]) IS
'Top-k items for a user from the deployed version of a model (bigint ids). Unknown users get the popularity ranking (NOTICE). exclude_seen drops training items; candidates restricts the ranking.';

COMMENT ON FUNCTION mkt.recommend(text, text, int, bool, text[]) IS
'Top-k items for a user from the deployed version of a model, ids as text (for models trained on text ids, or any model).';

COMMENT ON FUNCTION mkt.recommend_all(text, int, bigint[]) IS
'Top-k items for every user of the model (or the given users), computed in parallel (mkt.threads).';

COMMENT ON FUNCTION mkt.similar_items(text, bigint, int) IS
'Items most similar to an item: cosine of ALS item factors, item_knn neighbours or EASE weights. Not available for popularity models.';

COMMENT ON FUNCTION mkt.evaluate_recommender(text, text, int, text, text) IS
'Ranks each test user as serving would (training items excluded) and reports precision, recall, f1, ndcg, map, hit_rate at k, coverage, users_evaluated and users_cold. Stores them with the deployed version.';

COMMENT ON FUNCTION mkt.deploy(text, int) IS
'Makes a version the one serving uses. Backends that cached the previous version switch on their next call after commit.';

COMMENT ON FUNCTION mkt.drop_model(text, int) IS
'Drops one version (or all versions when version is NULL) with their parameters; returns how many versions were dropped. Dropping the deployed version deploys the newest remaining one.';

COMMENT ON FUNCTION mkt.cache_stats() IS
'Models this backend holds decoded for serving and their approximate memory. mkt.model_cache_mb bounds it: least recently used models are dropped first.';
