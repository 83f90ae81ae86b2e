//! Data preparation: feature transforms fitted once and applied the same way forever after.
//!
//! A transform is a spec per column plus statistics fitted on a source. Applying it is SQL that
//! this crate generates from the statistics alone (never refitting), so the table written at fit
//! time and every later application use the very same expressions: train/serve consistency by
//! construction.

pub mod clean;
pub mod context;
pub mod customer_tables;
pub mod profile;
pub mod split;
pub mod spec;
pub mod sql_expr;
pub mod stats;

pub use spec::{ColumnSpec, Kind, TransformSpec};
pub use stats::Fitted;
