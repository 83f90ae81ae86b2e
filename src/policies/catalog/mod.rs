//! The SQL of decision policies: definitions (`definitions`), what they learned (`state`), the
//! decision log and waiting rewards (`decisions`), and report rows (`report`).

pub mod decisions;
pub mod definitions;
pub mod report;
pub mod state;
