//! The SQL of the model catalog: versions, blobs, deployments and their history, epochs and
//! tuning trials (`versions`), ownership and grants (`acl`), and the rows of a model report
//! (`report`).

pub mod acl;
pub mod report;
mod versions;

pub use versions::*;
