-- The extension's SQL code raises its errors through mkt.raise_error: each kind with its SQLSTATE
-- from the one mapping.
SELECT kind, regress.err(format('SELECT mkt.raise_error(%L, %L)', kind, 'a ' || kind || ' error'))
FROM unnest(ARRAY['invalid_parameter', 'empty_data', 'wrong_object_type', 'undefined_table',
                  'undefined_column', 'wrong_type', 'undefined_object', 'duplicate_object',
                  'permission_denied', 'null_value', 'invalid_state', 'not_supported']) kind;
SELECT regress.err($$SELECT mkt.raise_error('oops', 'x')$$);
SELECT regress.err($$SELECT mkt.raise_error(NULL, 'x')$$);
\set VERBOSITY default
SELECT mkt.raise_error('invalid_state', 'a message', 'a hint');
\set VERBOSITY terse
