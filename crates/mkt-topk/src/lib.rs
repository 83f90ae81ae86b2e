//! Serving hot path: dense scoring kernels and top-k selection.

pub mod dot;
pub mod gemm;
pub mod quantized;
pub mod select;

pub use dot::{dot, scores_into};
pub use gemm::matmul_into;
pub use quantized::QuantizedRows;
pub use select::{top_k, top_k_dense, Scored};
