//! The versioned model catalog every model kind lives in: versions and their stored bytes,
//! deployments and their history, ownership and grants, the per-backend serving cache over model
//! files mapped once per server, and reports.

pub mod access;
mod api;
pub mod blob_store;
pub mod cache;
pub mod catalog;
mod grants;
pub mod lifecycle;
mod report;
pub mod stored;

// The catalog comes first: every other area's tables and functions refer to it.
pgrx::extension_sql_file!("../../sql/schema/models.sql", name = "models_schema", bootstrap);
pgrx::extension_sql_file!(
    "../../sql/models.sql",
    name = "models_functions",
    requires = [
        models::api::deploy,
        models::api::rollback,
        models::api::drop_model,
        models::api::export_model,
        models::api::import_model,
        models::api::grant_model,
        models::api::revoke_model,
        models::api::model_report,
        models::api::cache_stats,
        models::api::live_training,
    ]
);
