//! Sentence embeddings for item and customer texts.
pub mod encoder;
