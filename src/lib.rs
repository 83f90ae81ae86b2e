//! pg_marketing: the SQL layer. Every `#[pg_extern]` here is thin: it validates arguments, moves
//! data between SPI and the pure crates under `crates/`, and maps errors to SQLSTATEs.

use pgrx::prelude::*;

mod api;
mod cache;
mod catalog;
mod citus;
mod error;
mod features;
mod gucs;
mod invalidation;
mod jobs;
mod model_files;
mod parallel;
mod plans;
mod policies;
mod source;
mod training_log;
mod transforms;

::pgrx::pg_module_magic!();

extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
#[allow(non_snake_case)]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
    citus::install_planner_guard();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    // The harness calls tests as "tests".<name>(), so they must live in this inline module.
    include!("sql_tests.rs");
}

#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
