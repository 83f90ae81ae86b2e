//! The recommender picture of mkt.model_report: where a model's recommendations land in the
//! catalogue, against where the training interactions are. A model that only echoes the
//! bestsellers shows its bars piled on the first tenth; one that reaches the long tail does not.

use crate::model::{Model, Query};
use mkt_metrics::bar_chart;

/// Users whose recommendations are counted: an even sample, so the page stays quick on any size.
const SAMPLE_USERS: usize = 200;
const K: usize = 10;
const GROUPS: usize = 10;

/// Per popularity group of items (group 0 holds the most popular tenth of the items): the
/// percentage of training weight, and of the sampled users' top-k recommendations, that falls in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reach {
    pub interactions: Vec<f64>,
    pub recommendations: Vec<f64>,
    /// Users sampled.
    pub users: usize,
    /// Percentage of the catalogue recommended to at least one sampled user.
    pub coverage: f64,
}

pub fn popularity_reach(model: &Model) -> Reach {
    let n_items = model.n_items();
    let groups = GROUPS.min(n_items).max(1);
    let mut order: Vec<u32> = (0..n_items as u32).collect();
    order.sort_by(|&a, &b| {
        model.popularity[b as usize]
            .total_cmp(&model.popularity[a as usize])
            .then(a.cmp(&b))
    });
    let mut group_of = vec![0usize; n_items];
    for (rank, &item) in order.iter().enumerate() {
        group_of[item as usize] = rank * groups / n_items;
    }
    let mut interactions = vec![0f64; groups];
    for (item, &w) in model.popularity.iter().enumerate() {
        interactions[group_of[item]] += w as f64;
    }
    let n_users = model.n_users();
    let users = SAMPLE_USERS.min(n_users);
    let mut recommendations = vec![0f64; groups];
    let mut reached = vec![false; n_items];
    let mut scratch = Vec::new();
    let q = Query {
        k: K,
        exclude_seen: true,
        candidates: None,
    };
    for s in 0..users {
        let user = (s * n_users / users) as u32;
        for r in model.recommend(Some(user), &q, &mut scratch) {
            recommendations[group_of[r.index as usize]] += 1.0;
            reached[r.index as usize] = true;
        }
    }
    let percent = |v: &mut Vec<f64>| {
        let total: f64 = v.iter().sum();
        if total > 0.0 {
            v.iter_mut().for_each(|x| *x *= 100.0 / total);
        }
    };
    percent(&mut interactions);
    percent(&mut recommendations);
    let coverage = if n_items == 0 {
        0.0
    } else {
        reached.iter().filter(|&&r| r).count() as f64 * 100.0 / n_items as f64
    };
    Reach {
        interactions,
        recommendations,
        users,
        coverage,
    }
}

/// (heading, SVG document) pictures of a recommender version's report page.
pub fn charts(model: &Model) -> Vec<(String, String)> {
    let r = popularity_reach(model);
    let categories: Vec<String> = (1..=r.interactions.len()).map(|g| g.to_string()).collect();
    let svg = bar_chart::svg(
        &format!(
            "% by item popularity tenth: top-{K} of {} users reach {:.1}% of the catalogue",
            r.users, r.coverage
        ),
        "popularity tenth of the items (1 = most popular)",
        &categories,
        &[
            ("interactions".into(), r.interactions),
            (format!("top-{K}s"), r.recommendations),
        ],
    );
    vec![("Recommendations by item popularity".into(), svg)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Algorithm;
    use crate::model::Payload;
    use mkt_core::ids::IdColumn;
    use mkt_core::interactions::{Interactions, RawInteractions};

    fn data(pairs: &[(i64, i64)]) -> Interactions {
        Interactions::build(&RawInteractions {
            users: IdColumn::Int(pairs.iter().map(|p| p.0).collect()),
            items: IdColumn::Int(pairs.iter().map(|p| p.1).collect()),
            weights: vec![],
            times: None,
        })
        .unwrap()
    }

    /// 20 items, item i bought by 20 - i of 20 users (user u buys items 0..20-u).
    fn staircase() -> Interactions {
        let mut pairs = Vec::new();
        for u in 0..20i64 {
            for i in 0..(20 - u) {
                pairs.push((u, i));
            }
        }
        data(&pairs)
    }

    #[test]
    fn popularity_recommends_the_head_and_interactions_split_by_tenth() {
        let model = Model::new(Algorithm::Popularity, &staircase(), Payload::None);
        let r = popularity_reach(&model);
        assert_eq!(r.users, 20);
        // tenths of 2 items each: (20 + 19) / 210 of the weight in the first
        assert!((r.interactions[0] - 39.0 * 100.0 / 210.0).abs() < 1e-9);
        assert!((r.interactions.iter().sum::<f64>() - 100.0).abs() < 1e-9);
        // the popularity model gives every user the most popular items not yet bought: user u
        // gets min(u, 10) of items 20-u.., 145 in all; only user 19 gets one of the first tenth
        // (item 1), while items 18 and 19 go to 10 users each
        assert!((r.recommendations[0] - 100.0 / 145.0).abs() < 1e-9);
        assert!((r.recommendations[GROUPS - 1] - 2000.0 / 145.0).abs() < 1e-9);
        let total: f64 = r.recommendations.iter().sum();
        assert!((total - 100.0).abs() < 1e-9);
        assert!(
            (r.coverage - 95.0).abs() < 1e-9,
            "every item but item 0: {}",
            r.coverage
        );
        let charts = charts(&model);
        assert_eq!(charts.len(), 1);
        assert!(charts[0].1.starts_with("<svg") && charts[0].1.contains("95.0%"));
    }

    #[test]
    fn a_catalogue_smaller_than_ten_items_gets_a_group_per_item() {
        let model = Model::new(
            Algorithm::Popularity,
            &data(&[(1, 1), (2, 1), (2, 2)]),
            Payload::None,
        );
        let r = popularity_reach(&model);
        assert_eq!(r.interactions.len(), 2);
        assert!((r.interactions[0] - 200.0 / 3.0).abs() < 1e-9);
        // user 1 gets item 2 (the tail), user 2 has bought everything
        assert_eq!(r.recommendations, vec![0.0, 100.0]);
    }
}
