//! Measures of recommendation quality.

pub mod ranking;

pub use ranking::{user_metrics, RankingAccumulator, RankingMetrics, UserMetrics};
