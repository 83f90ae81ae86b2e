//! The bridge from the extension's SQL code to the one SQLSTATE mapping (see README "Errors").

mod api;

pgrx::extension_sql_file!(
    "../../sql/errors.sql",
    name = "errors_functions",
    requires = [errors::api::raise_error]
);
