//! The callback through which long computations report progress to their caller.
//!
//! Training runs its parallel parts in a rayon pool but calls `tick` on the caller's thread between
//! chunks of work. The SQL layer uses that moment to check for query cancel and statement timeout,
//! which must happen on the backend's main thread.

#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub phase: &'static str,
    pub done: usize,
    pub total: usize,
}

pub trait Tick {
    fn tick(&mut self, progress: &Progress);
}

impl<F: FnMut(&Progress)> Tick for F {
    fn tick(&mut self, progress: &Progress) {
        self(progress)
    }
}

/// A tick that ignores progress (tests, benchmarks).
pub fn no_tick() -> impl FnMut(&Progress) {
    |_: &Progress| {}
}

/// One epoch of an iterative trainer, as reported to the caller (NOTICEs, the training log).
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    pub epoch: usize,
    pub epochs: usize,
    pub loss: f64,
    /// Validation metric (ndcg@10) when the trainer holds out a validation split.
    pub metric: Option<f64>,
    pub seconds: f64,
}
