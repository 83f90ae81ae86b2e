//! Pure-Rust foundation of pg_marketing: no PostgreSQL types here, so everything is testable with
//! `cargo test` and usable from benchmarks without a server.

pub mod columns;
pub mod error;
pub mod ids;
pub mod job_command;
pub mod live;
pub mod interactions;
pub mod model_files;
pub mod names;
pub mod params;
pub mod progress;
pub mod rng;
pub mod shared;
pub mod tensors;

pub use error::{Error, Result};
