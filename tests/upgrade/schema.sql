-- Everything pg_marketing defines, one line per object, in a fixed order: a fresh install and an
-- updated one must print the same.
SELECT x FROM (
  SELECT 'function ' || p.oid::regprocedure::text || ' -> ' || pg_get_function_result(p.oid)
         || ' ' || p.provolatile::text || p.proparallel::text || p.proisstrict::text || p.prosecdef::text
         || ' lang=' || l.lanname || ' src=' || md5(p.prosrc) || ' bin=' || coalesce(p.probin, '')
         || ' args=' || pg_get_function_arguments(p.oid)
         || ' config=' || coalesce(array_to_string(p.proconfig, ','), '')
         || ' comment=' || md5(coalesce(obj_description(p.oid, 'pg_proc'), '')) AS x
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
  WHERE p.pronamespace = 'mkt'::regnamespace
  UNION ALL
  SELECT 'column ' || c.oid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || ' notnull=' || a.attnotnull || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
         || ' storage=' || a.attstorage::text
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
  WHERE c.relnamespace = 'mkt'::regnamespace AND c.relkind IN ('r', 'v')
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  WHERE c.relnamespace = 'mkt'::regnamespace
  UNION ALL
  SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'mkt'::regnamespace
  UNION ALL
  SELECT 'policy ' || tablename || ' ' || policyname || ' ' || permissive || ' ' || cmd || ' '
         || array_to_string(roles, ',') || ' using=' || coalesce(qual, '') || ' check=' || coalesce(with_check, '')
  FROM pg_policies WHERE schemaname = 'mkt'
  UNION ALL
  SELECT 'relation ' || c.oid::regclass || ' kind=' || c.relkind::text || ' rls=' || c.relrowsecurity
         || ' options=' || coalesce(array_to_string(c.reloptions, ','), '')
         || ' comment=' || md5(coalesce(obj_description(c.oid, 'pg_class'), ''))
         || CASE WHEN c.relkind = 'v' THEN ' view=' || md5(pg_get_viewdef(c.oid)) ELSE '' END
  FROM pg_class c WHERE c.relnamespace = 'mkt'::regnamespace AND c.relkind IN ('r', 'v', 'S')
  UNION ALL
  SELECT 'trigger ' || tgrelid::regclass || ' ' || tgname
  FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'mkt'::regnamespace)
  UNION ALL
  SELECT 'dumped ' || t::regclass::text FROM pg_extension e, unnest(e.extconfig) t WHERE e.extname = 'pg_marketing'
  UNION ALL
  SELECT 'member ' || pg_describe_object(classid, objid, 0)
  FROM pg_depend
  WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
    AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_marketing')
) s
ORDER BY x;
