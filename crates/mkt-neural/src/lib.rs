//! Neural recommenders in candle: a feature-aware two-tower model.
//!
//! The user tower reads the user's history (pooled item embeddings), an optional user id
//! embedding and the user's side features; the item tower adds an item id embedding to a network
//! over the item's side features. Scores are dot products plus an item bias, so a trained model is
//! served as plain factor vectors (the bias rides as one extra dimension).

pub mod device;
pub mod features;
pub mod net;
pub mod neumf;
pub mod params;
pub mod sequence;
mod sequence_features;
pub mod sequence_serving;
pub mod split;
pub mod train;

pub use device::DeviceChoice;
pub use features::{Encoded, FeatureTable};
pub use params::{Loss, NeuralParams};
pub use train::{fit, fit_distilled, Teacher, TeacherScores, Trained};

/// A candle failure as the core error (GPU out of memory, driver trouble, a shape bug).
pub(crate) fn compute(e: candle_core::Error) -> mkt_core::Error {
    mkt_core::Error::Compute(e.to_string())
}
