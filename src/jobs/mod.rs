//! Background jobs: long calls run in dynamic background workers as the role that submitted them,
//! with their progress visible in mkt.jobs.

mod api;
mod catalog;
mod worker;

pgrx::extension_sql_file!("../../sql/schema/jobs.sql", name = "jobs_schema");
pgrx::extension_sql_file!(
    "../../sql/jobs.sql",
    name = "jobs_functions",
    requires = [
        "jobs_schema",
        jobs::api::submit_job,
        jobs::api::cancel_job,
        jobs::api::wait_job,
        jobs::api::live_progress,
        models::api::live_training,
    ]
);
