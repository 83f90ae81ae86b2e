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

/// The best `k` of `(index, score)` pairs; NaN and -inf scores never qualify.
pub fn top_k(scored: impl IntoIterator<Item = (u32, f32)>, k: usize) -> Vec<Scored> {
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Worst> = BinaryHeap::with_capacity(k + 1);
    for (index, score) in scored {
        if score.is_nan() || score == f32::NEG_INFINITY {
            continue;
        }
        let cand = Scored { index, score };
        if heap.len() < k {
            heap.push(Worst(cand));
        } else if cand.rank_cmp(&heap.peek().unwrap().0) == Ordering::Less {
            heap.pop();
            heap.push(Worst(cand));
        }
    }
    let mut out: Vec<Scored> = heap.into_iter().map(|w| w.0).collect();
    out.sort_by(|a, b| a.rank_cmp(b));
    out
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
    }
}
