-- The model catalog: versions, deploy and rollback, drop, export and import, grants, reports.
SET mkt.threads = 1;
CREATE TABLE mod_events AS SELECT user_id, item_id FROM regress.planted;
SELECT version FROM mkt.train_recommender('mod_m', 'mod_events', algorithm => 'popularity');
SELECT version FROM mkt.train_recommender('mod_m', 'mod_events', algorithm => 'item_knn');
SELECT version FROM mkt.train_recommender('mod_m', 'mod_events', algorithm => 'ease', params => '{"deploy": false}');
SELECT model_name, version, algorithm, deployed, n_users, n_items, n_interactions, source
FROM mkt.models WHERE model_name = 'mod_m' ORDER BY version;
SELECT mkt.deploy('mod_m', 3);
SELECT mkt.rollback('mod_m');
SELECT version, reason FROM mkt.deploy_history WHERE model_name = 'mod_m' ORDER BY deploy_id;

-- Export and import: the same bytes serve the same top-k.
SELECT mkt.import_model('mod_copy', mkt.export_model('mod_m'));
SELECT (SELECT array_agg(item_id ORDER BY rank) FROM mkt.recommend('mod_m', 5::bigint, 5))
     = (SELECT array_agg(item_id ORDER BY rank) FROM mkt.recommend('mod_copy', 5::bigint, 5)) AS same_top5,
       md5(mkt.export_model('mod_m')) = md5(mkt.export_model('mod_copy')) AS same_bytes;

-- Dropping the deployed version deploys the newest remaining one.
SELECT mkt.drop_model('mod_m', 2);
SELECT version, deployed FROM mkt.models WHERE model_name = 'mod_m' ORDER BY version;
SELECT mkt.drop_model('mod_copy');

-- The report is one self-contained page.
SELECT r LIKE '<!DOCTYPE html>%' AS html, r LIKE '%pg_marketing model mod_m, version 3%' AS titled,
       replace(r, 'xmlns="http://www.w3.org/2000/svg"', '') NOT LIKE '%http%' AS no_external_assets
FROM mkt.model_report('mod_m') r;
-- Every recommender's page, deployed version or not, shows where its top-10s fall among the items by
-- popularity, beside where the training interactions fall.
SELECT mkt.train_recommender('mod_als', 'mod_events', algorithm => 'als', params => '{"factors": 8}') IS NOT NULL AS trained;
SELECT m, v, r LIKE '%<h2>Recommendations by item popularity</h2>%' AS popularity_chart,
       (regexp_match(r, 'reach ([0-9.]+)% of the catalogue'))[1]::float8 > 0 AS has_coverage
FROM (VALUES ('mod_m', 1), ('mod_m', 3), ('mod_als', 1)) AS t(m, v), LATERAL (SELECT mkt.model_report(m, v) r) x
ORDER BY m, v;
SELECT mkt.drop_model('mod_als');

-- Ownership: the trainer owns; grants by others are refused.
CREATE ROLE mod_other;
GRANT USAGE ON SCHEMA mkt, regress TO mod_other;
GRANT SELECT ON ALL TABLES IN SCHEMA mkt TO mod_other;
SELECT grantee, privilege FROM mkt.model_acl WHERE model_name = 'mod_m';
SELECT mkt.grant_model('mod_m', 'mod_other', 'use');
SELECT mkt.revoke_model('mod_m', 'mod_other');
SELECT models, bytes > 0 AS has_bytes FROM mkt.cache_stats();

\pset format unaligned
\pset fieldsep '\n    '
SELECT q, regress.err(q) FROM (VALUES
  ($$SELECT mkt.deploy('mod_m', 99)$$),
  ($$SELECT mkt.deploy('no_model', 1)$$),
  ($$SELECT mkt.drop_model('no_model')$$),
  ($$SELECT mkt.drop_model(NULL)$$),
  ($$SELECT mkt.rollback('no_model')$$),
  ($$SELECT mkt.export_model('no_model')$$),
  ($$SELECT mkt.import_model('mod_bad', '\x00010203')$$),
  ($$SELECT mkt.import_model('', mkt.export_model('mod_m'))$$),
  ($$SELECT mkt.grant_model('mod_m', 'mod_other', 'admin')$$),
  ($$SELECT mkt.grant_model('mod_m', 'no_such_role')$$),
  ($$SELECT mkt.grant_model('no_model', 'mod_other')$$),
  ($$SELECT mkt.revoke_model('mod_m', 'mod_other', 'owner')$$),
  ($$SELECT mkt.model_report('no_model')$$),
  ($$SELECT mkt.model_report('mod_m', 42)$$)
) AS c(q);
\pset format aligned
SET ROLE mod_other;
SELECT regress.err($$SELECT mkt.deploy('mod_m', 1)$$);
SELECT regress.err($$SELECT mkt.grant_model('mod_m', 'mod_other', 'owner')$$);
RESET ROLE;
SELECT mkt.drop_model('mod_m');
DROP OWNED BY mod_other;
DROP ROLE mod_other;
