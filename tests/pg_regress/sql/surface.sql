-- The SQL surface: every function of the extension with its arguments, result, volatility and
-- parallel safety, and whether it is documented. A change to any of them shows here.
SELECT p.oid::regprocedure AS function,
       pg_get_function_result(p.oid) AS result,
       p.provolatile::text || p.proparallel::text || CASE WHEN p.proisstrict THEN ' strict' ELSE '' END AS flags,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS documented
FROM pg_proc p
WHERE p.pronamespace = 'mkt'::regnamespace
ORDER BY p.oid::regprocedure::text;

-- Tables and views, each documented.
SELECT c.oid::regclass AS relation, c.relkind, obj_description(c.oid, 'pg_class') IS NOT NULL AS documented
FROM pg_class c
WHERE c.relnamespace = 'mkt'::regnamespace AND c.relkind IN ('r', 'v')
ORDER BY c.oid::regclass::text;

-- Settings (registered when the library loads).
LOAD 'pg_marketing';
SELECT name, setting, unit, context FROM pg_settings WHERE name LIKE 'mkt.%' ORDER BY name;
