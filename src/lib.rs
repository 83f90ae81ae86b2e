//! pg_marketing: the SQL layer. Each area (models, recommenders, policies, campaigns, prep, jobs,
//! erasure) keeps its `#[pg_extern]`s in `api.rs` and its SQL in `catalog.rs`, over the one
//! `pg` layer; the logic lives in the pure crates under `crates/`.

use pgrx::prelude::*;

mod campaigns;
mod customers;
mod erasure;
mod errors;
mod jobs;
mod models;
mod pg;
mod policies;
mod predictors;
mod prep;
mod recommenders;
mod text;

::pgrx::pg_module_magic!();

// The Citus setup reads every area's catalog; it goes after all of them.
extension_sql_file!("../sql/citus.sql", name = "citus", finalize);

#[pg_guard]
#[allow(non_snake_case)]
pub extern "C-unwind" fn _PG_init() {
    pg::gucs::init();
    pg::planner_guard::install();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    // The harness calls tests as "tests".<name>(), so they must live in this inline module; the
    // tests themselves are under tests/pg_test, one file per area.
    include!("../tests/pg_test/helpers.rs");
    include!("../tests/pg_test/models.rs");
    include!("../tests/pg_test/recommenders.rs");
    include!("../tests/pg_test/policies.rs");
    include!("../tests/pg_test/campaigns.rs");
    include!("../tests/pg_test/prep.rs");
    include!("../tests/pg_test/erasure.rs");
    include!("../tests/pg_test/surface.rs");
}

#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
