//! The layer every area stands on, and the only one that touches PostgreSQL's internals directly:
//! SPI helpers, kept plans, relcache invalidation, Citus, settings, the one SQLSTATE mapping,
//! reading and writing sources, per-call pools and progress.

pub mod args;
pub mod citus;
pub mod epoch_cache;
pub mod error;
pub mod gucs;
pub mod invalidation;
pub mod live;
pub mod planner_guard;
pub mod plans;
pub mod pool;
pub mod progress;
pub mod source;
pub mod spi;
pub mod table_rows;
pub mod work_mem;
