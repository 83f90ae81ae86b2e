-- Errors: how the extension's SQL code raises them (src/errors/api.rs).

COMMENT ON FUNCTION mkt.raise_error(text, text, text) IS
'Internal: raises an ERROR of one of the extension''s kinds (invalid_parameter, undefined_object, undefined_column, wrong_type, wrong_object_type, null_value, invalid_state, ...) with its SQLSTATE from the extension''s one mapping; the campaign runtime and mkt.citus_setup raise their errors through it.';
