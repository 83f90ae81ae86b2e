//! Erasure: one customer removed from decisions, campaigns and every stored model version.

mod api;
mod catalog;
mod forget;

pgrx::extension_sql_file!(
    "../../sql/erasure.sql",
    name = "erasure_functions",
    requires = [erasure::api::forget_subject]
);
