//! Serving hot path: dense scoring kernels and top-k selection.

pub mod dot;
pub mod select;

pub use dot::{dot, scores_into};
pub use select::{top_k, Scored};
