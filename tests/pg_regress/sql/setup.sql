-- Run once, when the regression database is created: the extension, a helper that prints a
-- statement's SQLSTATE and message (the error matrices), and the small tables the area files share.
SET client_min_messages = warning;
CREATE EXTENSION pg_marketing;
CREATE SCHEMA regress;
CREATE FUNCTION regress.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    s text;
    m text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT;
    RETURN s || ': ' || m;
END $$;
-- 60 users in 3 taste groups over 30 items: users of group g like items i with i % 3 = g.
CREATE TABLE regress.planted AS
SELECT u AS user_id, i AS item_id, 1 + (u + i) % 3 AS w
FROM generate_series(1, 60) u, generate_series(1, 30) i
WHERE i % 3 = u % 3 AND (u * 7 + i) % 4 <> 0;
SELECT * FROM mkt.demo_data(1);
