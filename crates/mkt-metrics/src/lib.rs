//! Measures: ranking quality of recommendations, off-policy value of decision policies.

pub mod bar_chart;
pub mod line_chart;
pub mod offpolicy;
pub mod offpolicy_log;
pub mod ranking;
pub mod rate_chart;
pub mod report;
pub mod report_pages;
pub mod uplift;
pub mod uplift_report;

pub use ranking::{user_metrics, RankingAccumulator, RankingMetrics, UserMetrics};
