//! Sentence embeddings for item and customer texts.
pub mod bert;
pub mod bert_config;
pub mod encoder;
mod gelu;
pub mod weights;
