//! Everything a policy has learned, as its catalog rows hold it.

use crate::arms::ArmStats;
use crate::linucb::LinArm;
use std::collections::HashMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Learned {
    /// Per state, per action (Q-learning, Thompson sampling).
    pub table: HashMap<String, Vec<Option<ArmStats>>>,
    /// Per action (LinUCB); None for table-kept policies.
    pub linear: Option<Vec<LinArm>>,
}
