//! Top-k ranking metrics with binary relevance.
//!
//! Definitions (per user, then averaged over users with at least one relevant item):
//! - precision@k = hits / k
//! - recall@k    = hits / min(k, |relevant|)
//! - f1@k        = harmonic mean of that user's precision@k and recall@k (0 when both are 0)
//! - ndcg@k      = DCG / IDCG, DCG = sum over hit ranks r (1-based) of 1/log2(r+1), and
//!   IDCG = the DCG of min(k, |relevant|) hits at ranks 1..
//! - map@k       = (sum over hit ranks r of hits-up-to-r / r) / min(k, |relevant|)
//! - hit_rate@k  = 1 if any hit
//! - coverage    = distinct recommended items / catalogue size

use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct UserMetrics {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub ndcg: f64,
    pub ap: f64,
    pub hit: f64,
}

/// Metrics of one ranked list (best first, only the first `k` entries are looked at) against the
/// relevant items. `relevant` must be sorted and free of repeats; `None` when it is empty.
pub fn user_metrics(ranked: &[u32], relevant: &[u32], k: usize) -> Option<UserMetrics> {
    if relevant.is_empty() || k == 0 {
        return None;
    }
    let mut hits = 0usize;
    let mut dcg = 0.0;
    let mut ap_sum = 0.0;
    for (pos, item) in ranked.iter().take(k).enumerate() {
        if relevant.binary_search(item).is_ok() {
            hits += 1;
            dcg += 1.0 / ((pos + 2) as f64).log2();
            ap_sum += hits as f64 / (pos + 1) as f64;
        }
    }
    let ideal = k.min(relevant.len());
    let idcg: f64 = (0..ideal).map(|p| 1.0 / ((p + 2) as f64).log2()).sum();
    let precision = hits as f64 / k as f64;
    let recall = hits as f64 / ideal as f64;
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Some(UserMetrics {
        precision,
        recall,
        f1,
        ndcg: dcg / idcg,
        ap: ap_sum / ideal as f64,
        hit: if hits > 0 { 1.0 } else { 0.0 },
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct RankingMetrics {
    pub k: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub ndcg: f64,
    pub map: f64,
    pub hit_rate: f64,
    pub coverage: f64,
    pub users: usize,
}

impl RankingMetrics {
    /// (name, value) pairs in a fixed order, named as the SQL layer reports them.
    pub fn named(&self) -> Vec<(String, f64)> {
        let k = self.k;
        vec![
            (format!("precision@{k}"), self.precision),
            (format!("recall@{k}"), self.recall),
            (format!("f1@{k}"), self.f1),
            (format!("ndcg@{k}"), self.ndcg),
            (format!("map@{k}"), self.map),
            (format!("hit_rate@{k}"), self.hit_rate),
            ("coverage".to_string(), self.coverage),
            ("users_evaluated".to_string(), self.users as f64),
        ]
    }
}

/// Sums per-user metrics; merge partial accumulators to evaluate users in parallel.
#[derive(Debug, Clone, Default)]
pub struct RankingAccumulator {
    sum: UserMetrics,
    users: usize,
    recommended: HashSet<u32>,
}

impl RankingAccumulator {
    pub fn add(&mut self, ranked: &[u32], relevant: &[u32], k: usize) {
        self.recommended.extend(ranked.iter().take(k).copied());
        if let Some(m) = user_metrics(ranked, relevant, k) {
            self.sum.precision += m.precision;
            self.sum.recall += m.recall;
            self.sum.f1 += m.f1;
            self.sum.ndcg += m.ndcg;
            self.sum.ap += m.ap;
            self.sum.hit += m.hit;
            self.users += 1;
        }
    }

    pub fn merge(mut self, other: RankingAccumulator) -> Self {
        self.sum.precision += other.sum.precision;
        self.sum.recall += other.sum.recall;
        self.sum.f1 += other.sum.f1;
        self.sum.ndcg += other.sum.ndcg;
        self.sum.ap += other.sum.ap;
        self.sum.hit += other.sum.hit;
        self.users += other.users;
        self.recommended.extend(other.recommended);
        self
    }

    pub fn finish(&self, k: usize, n_items: usize) -> RankingMetrics {
        let n = self.users.max(1) as f64;
        RankingMetrics {
            k,
            precision: self.sum.precision / n,
            recall: self.sum.recall / n,
            f1: self.sum.f1 / n,
            ndcg: self.sum.ndcg / n,
            map: self.sum.ap / n,
            hit_rate: self.sum.hit / n,
            coverage: if n_items == 0 {
                0.0
            } else {
                self.recommended.len() as f64 / n_items as f64
            },
            users: self.users,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn hand_computed_user() {
        // ranked: 10 20 30 40 50, relevant {20, 50, 99}, k = 5
        let m = user_metrics(&[10, 20, 30, 40, 50], &[20, 50, 99], 5).unwrap();
        close(m.precision, 2.0 / 5.0);
        close(m.recall, 2.0 / 3.0);
        close(m.f1, 2.0 * 0.4 * (2.0 / 3.0) / (0.4 + 2.0 / 3.0));
        // DCG = 1/log2(3) + 1/log2(6); IDCG = 1 + 1/log2(3) + 1/2
        let dcg = 1.0 / 3f64.log2() + 1.0 / 6f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        close(m.ndcg, dcg / idcg);
        // AP = (1/2 + 2/5) / 3
        close(m.ap, (0.5 + 0.4) / 3.0);
        close(m.hit, 1.0);
    }

    #[test]
    fn fewer_relevant_than_k() {
        // one relevant item at rank 3, k = 10: recall divides by min(k, 1) = 1
        let m = user_metrics(&[1, 2, 3, 4], &[3], 10).unwrap();
        close(m.precision, 0.1);
        close(m.recall, 1.0);
        close(m.ndcg, 1.0 / 4f64.log2());
        close(m.ap, 1.0 / 3.0);
    }

    #[test]
    fn only_the_first_k_count() {
        let m = user_metrics(&[1, 2, 3], &[3], 2).unwrap();
        close(m.precision, 0.0);
        close(m.recall, 0.0);
        close(m.f1, 0.0);
        close(m.ndcg, 0.0);
        close(m.hit, 0.0);
    }

    #[test]
    fn perfect_ranking_is_one() {
        let m = user_metrics(&[5, 6, 7], &[5, 6, 7, 8, 9], 3).unwrap();
        close(m.ndcg, 1.0);
        close(m.ap, 1.0);
        close(m.recall, 1.0);
        close(m.precision, 1.0);
    }

    #[test]
    fn users_without_relevant_items_are_skipped() {
        assert!(user_metrics(&[1], &[], 5).is_none());
        let mut acc = RankingAccumulator::default();
        acc.add(&[1, 2], &[], 2);
        acc.add(&[1, 2], &[2], 2);
        let mut other = RankingAccumulator::default();
        other.add(&[3, 4], &[9], 2);
        let r = acc.merge(other).finish(2, 8);
        assert_eq!(r.users, 2);
        close(r.hit_rate, 0.5);
        close(r.precision, 0.25);
        close(r.coverage, 4.0 / 8.0);
        assert_eq!(r.named()[3].0, "ndcg@2");
    }
}
