//! Top-k selection over a score vector.
//!
//! Order is by score descending, ties broken by the smaller index (ids are sorted, so by the smaller
//! id): results are deterministic whatever the thread or call order.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub index: u32,
    pub score: f32,
}

impl Scored {
    /// `Less` means `self` ranks better.
    fn rank_cmp(&self, other: &Scored) -> Ordering {
        other
            .score
            .partial_cmp(&self.score)
            .unwrap_or(Ordering::Equal)
            .then(self.index.cmp(&other.index))
    }
}

/// Heap entry whose maximum is the worst of the kept results.
struct Worst(Scored);

impl PartialEq for Worst {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Worst {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.rank_cmp(&o.0)
    }
}

/// Keeps the best `k` entries seen so far.
pub(crate) struct Best {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl Best {
    pub(crate) fn new(k: usize) -> Self {
        Best {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    pub(crate) fn offer(&mut self, index: u32, score: f32) {
        if score.is_nan() || score == f32::NEG_INFINITY {
            return;
        }
        let cand = Scored { index, score };
        if self.heap.len() < self.k {
            self.heap.push(Worst(cand));
        } else if cand.rank_cmp(&self.heap.peek().unwrap().0) == Ordering::Less {
            self.heap.pop();
            self.heap.push(Worst(cand));
        }
    }

    /// The score an entry must exceed to get in, once `k` are kept.
    pub(crate) fn floor(&self) -> Option<f32> {
        (self.heap.len() == self.k).then(|| self.heap.peek().unwrap().0.score)
    }

    pub(crate) fn into_sorted(self) -> Vec<Scored> {
        let mut out: Vec<Scored> = self.heap.into_iter().map(|w| w.0).collect();
        out.sort_by(|a, b| a.rank_cmp(b));
        out
    }
}

/// The best `k` of `(index, score)` pairs; NaN and -inf scores never qualify.
pub fn top_k(scored: impl IntoIterator<Item = (u32, f32)>, k: usize) -> Vec<Scored> {
    if k == 0 {
        return Vec::new();
    }
    let mut best = Best::new(k);
    for (index, score) in scored {
        best.offer(index, score);
    }
    best.into_sorted()
}

/// `top_k` over a dense score vector (index = position). Once `k` entries are kept, a chunk whose
/// scores are all at or below the k-th is skipped after one vectorised comparison; that is most
/// chunks, which makes this several times faster than offering every entry. An equal score never
/// displaces a kept entry here because kept entries have smaller indices.
pub fn top_k_dense(scores: &[f32], k: usize) -> Vec<Scored> {
    const CHUNK: usize = 32;
    if k == 0 {
        return Vec::new();
    }
    let mut best = Best::new(k);
    for (c, chunk) in scores.chunks(CHUNK).enumerate() {
        let floor = best.floor();
        if let Some(f) = floor {
            if !chunk.iter().fold(false, |any, &s| any | (s > f)) {
                continue;
            }
        }
        // Only entries above the floor can get in; the floor only rises as they do.
        let base = (c * CHUNK) as u32;
        for (o, &s) in chunk.iter().enumerate() {
            if floor.is_none_or(|f| s > f) {
                best.offer(base + o as u32, s);
            }
        }
    }
    best.into_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_first_ties_by_index() {
        let scores = [0.5, 0.9, 0.5, f32::NAN, 0.1, 0.9, f32::NEG_INFINITY];
        let top = top_k(scores.iter().enumerate().map(|(i, s)| (i as u32, *s)), 4);
        let idx: Vec<u32> = top.iter().map(|s| s.index).collect();
        assert_eq!(idx, vec![1, 5, 0, 2]);
    }

    #[test]
    fn k_larger_than_input_and_zero() {
        let top = top_k([(3, 1.0), (1, 2.0)], 10);
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].index, 1);
        assert!(top_k([(0, 1.0)], 0).is_empty());
    }

    #[test]
    fn matches_full_sort() {
        let scores: Vec<f32> = (0..1000)
            .map(|i| ((i * 7919) % 1009) as f32 / 7.0)
            .collect();
        let mut all: Vec<Scored> = scores
            .iter()
            .enumerate()
            .map(|(i, s)| Scored {
                index: i as u32,
                score: *s,
            })
            .collect();
        all.sort_by(|a, b| a.rank_cmp(b));
        let top = top_k(scores.iter().enumerate().map(|(i, s)| (i as u32, *s)), 25);
        assert_eq!(top, all[..25].to_vec());
        for k in [1, 25, 999, 1000, 2000] {
            assert_eq!(
                top_k_dense(&scores, k),
                all[..k.min(1000)].to_vec(),
                "k={k}"
            );
        }
    }

    #[test]
    fn dense_skips_nan_and_neg_inf_and_keeps_ties_by_index() {
        let mut scores = vec![1.0f32; 100];
        scores[3] = f32::NAN;
        scores[50] = f32::NEG_INFINITY;
        scores[70] = 2.0;
        let idx: Vec<u32> = top_k_dense(&scores, 4).iter().map(|s| s.index).collect();
        assert_eq!(idx, vec![70, 0, 1, 2]);
        assert_eq!(top_k_dense(&scores, 1000).len(), 98);
        assert!(top_k_dense(&[f32::NAN, f32::NEG_INFINITY], 3).is_empty());
    }
}
