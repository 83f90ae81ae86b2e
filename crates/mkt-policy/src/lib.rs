//! Decision policies: which offer, ad or message a customer gets, learned from rewards.
//!
//! Policy state lives wherever the caller keeps it (catalog rows in the SQL layer, a `Learner` in
//! memory for simulations and batch training); this crate holds the math both share, so a decision
//! or an update computed in SQL is the one the simulator makes.

pub mod arms;
pub mod campaign;
pub mod config;
pub mod decide;
pub mod draw_memo;
pub mod explore;
pub mod heatmap;
pub mod learned;
pub mod learner;
pub mod linucb;
pub mod qlearning;
pub mod reward_route;
pub mod simulate;
pub mod state;
pub mod thompson;
pub mod update;

pub use arms::ArmStats;
pub use config::{Algorithm, PolicyConfig};
pub use decide::Decision;
pub use learned::Learned;
pub use learner::Learner;
