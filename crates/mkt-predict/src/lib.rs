//! Supervised models on customer tables: who will buy (propensity), who will leave (churn), how
//! much they will spend (regression), and the metrics that judge them, uplift included. Pure Rust:
//! the SQL layer reads features into columns and stores the models.
#![forbid(unsafe_code)]

pub mod base;
pub mod binning;
pub mod classes;
pub mod classification;
pub mod design;
pub mod encode;
pub mod features;
pub mod gbdt;
pub mod grow;
pub mod histogram;
pub mod holdout;
pub mod input_transform;
pub mod linear;
pub mod loss;
pub mod mlp;
pub mod multiclass;
pub mod predictor;
pub mod report;
pub mod shap;
pub mod tree;
pub mod uplift;
pub mod uplift_metrics;
pub mod uplift_stored;
