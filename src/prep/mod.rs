//! Data preparation: profiling and cleaning sources, feature transforms fitted once and applied
//! the same way forever after, customer tables (RFM, activity features), train/test splits and
//! the built-in demo data.

mod api;
mod catalog;
mod clean;
mod customer_tables;
mod profile;
mod split;
pub mod transforms;

pgrx::extension_sql_file!("../../sql/schema/prep.sql", name = "prep_schema");
pgrx::extension_sql_file!(
    "../../sql/prep.sql",
    name = "prep_functions",
    requires = [
        prep::api::profile,
        prep::api::clean,
        prep::api::fit_transform,
        prep::api::apply_transform,
        prep::api::rfm,
        prep::api::user_features,
        prep::api::split,
        prep::api::demo_data,
    ]
);
