-- MovieLens-100K under the fixed protocol (see README, "Quality benchmark"). Expects table
-- ml_raw(user_id, item_id, rating, ts) and the feature tables ml_users / ml_items loaded.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE TABLE ml_all AS SELECT DISTINCT user_id, item_id FROM ml_raw;

-- Every rating is an implicit interaction; each user with n >= 5 puts the first floor(n/5) by
-- md5(prefix:user:item) in the held-out part, the rest in the kept part.
CREATE FUNCTION ml_split(src regclass, prefix text, held text, kept text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($q$
        CREATE TABLE %I AS
        WITH r AS (
            SELECT user_id, item_id,
                   row_number() OVER (PARTITION BY user_id
                                      ORDER BY md5(%L || ':42:' || user_id || ':' || item_id)) AS rn,
                   count(*) OVER (PARTITION BY user_id) AS n
            FROM %s)
        SELECT user_id, item_id, (n >= 5 AND rn <= n / 5) AS held FROM r$q$,
        held || '_' || kept, prefix, src);
    EXECUTE format('CREATE TABLE %I AS SELECT user_id, item_id FROM %I WHERE held', held, held || '_' || kept);
    EXECUTE format('CREATE TABLE %I AS SELECT user_id, item_id FROM %I WHERE NOT held', kept, held || '_' || kept);
END $$;

SELECT ml_split('ml_all', 'test', 'ml_test', 'ml_train');
SELECT ml_split('ml_train', 'valid', 'ml_valid', 'ml_subtrain');
-- The training part with each rating's time, for time-aware models (test times are never read).
CREATE TABLE ml_train_ts AS
SELECT t.user_id, t.item_id, min(r.ts) AS ts FROM ml_train t JOIN ml_raw r USING (user_id, item_id) GROUP BY 1, 2;
