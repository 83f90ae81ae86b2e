//! Recommender models: training, scoring and their stored form.

pub mod algorithm;
pub mod als;
pub mod blob;
pub mod bpr;
pub mod champion;
pub mod ease;
pub mod evaluate;
pub mod explain;
pub mod feature_spec;
pub mod forget;
pub mod item_knn;
pub mod kind;
pub mod linalg;
pub mod model;
pub mod report;
pub mod sequential;
pub mod serving_file;
pub mod tune;

pub use algorithm::{Algorithm, FeatureSpec, NeuralConfig, Side, TrainConfig};
pub use model::{Model, Payload, Query};
