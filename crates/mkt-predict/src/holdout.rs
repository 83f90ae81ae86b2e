//! The rows a model holds out: which ones (a seeded draw per row) and the sample of them a version
//! keeps for its report's curves.

use mkt_core::rng::Rng;

/// Held-out rows a version keeps for its report's curves.
pub const HOLDOUT_SAMPLE: usize = 2000;

/// Rows held out for validation: each row by its own seeded draw, so the split does not depend on
/// how many rows there are or in which order they came.
pub fn split(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    (0..n).partition(|&i| fraction <= 0.0 || Rng::stream(seed, i as u64).uniform() >= fraction)
}

/// At most `HOLDOUT_SAMPLE` indices of `0..n`, evenly spaced.
pub fn sample_indices(n: usize) -> Vec<usize> {
    let step = n.div_ceil(HOLDOUT_SAMPLE).max(1);
    (0..n).step_by(step).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_bounded_and_splits_do_not_depend_on_the_row_count() {
        assert_eq!(sample_indices(10).len(), 10);
        assert!(sample_indices(1_000_001).len() <= HOLDOUT_SAMPLE);
        let (_, a) = split(1000, 0.2, 7);
        let (_, b) = split(2000, 0.2, 7);
        assert!(a.iter().all(|i| b.contains(i)));
    }
}
