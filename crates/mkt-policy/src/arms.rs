//! What a policy knows about one action in one state.

/// Statistics of one (state, action) pair. For Q-learning `value` is Q(s, a); for Thompson
/// sampling `alpha`/`beta` are the Beta posterior and `value` its mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmStats {
    /// Rewards received.
    pub n: u64,
    pub value: f64,
    pub alpha: f64,
    pub beta: f64,
}
