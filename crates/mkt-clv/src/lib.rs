//! Customer lifetime value: RFM summaries of transactions, the buy-till-you-die models (BG/NBD,
//! MBG/NBD, Pareto/NBD) of who is still active and how often they will buy, and the Gamma-Gamma
//! model of what they spend. Pure Rust: the SQL layer reads the transactions and stores models.
#![forbid(unsafe_code)]

pub mod evaluate;
pub mod fit;
pub mod history;
pub mod model;
pub mod options;
pub mod period;
pub mod purchases;
pub mod report;
pub mod simulate;
pub mod special;
pub mod spend;
pub mod summary;
pub mod train;
