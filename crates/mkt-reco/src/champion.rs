//! Champion/challenger on current data: a holdout the serving model (the champion) never trained
//! on.
//!
//! The champion was trained on earlier data, which holds most of today's interactions. Ranked on a
//! holdout drawn from all of today's data, it would either have seen the held-out items (and,
//! serving, exclude them: a score near 0) or have trained on them (a leak). Only interactions
//! newer than the champion compare the two fairly: the challenger trains on everything else,
//! including the rest of the new data, and neither has seen what they are ranked on.

use crate::model::Model;
use crate::tune::{ids_of, Holdout};
use mkt_core::ids::IdMap;
use mkt_core::interactions::{Csr, Interactions};
use mkt_core::rng::Rng;

/// Share of the interactions the champion never saw that is held out.
const FRESH_SHARE: f64 = 0.2;

fn index_in(map: &IdMap, other: &IdMap, i: usize) -> Option<u32> {
    match other {
        IdMap::Int(v) => map.index_of_int(v[i]),
        IdMap::Text(v) => map.index_of_text(&v[i]),
    }
}

/// A fifth (at random, from `seed`) of the interactions of `data` that `champion` did not train
/// on, and the rest of `data` to train a challenger; `None` when there are none (nothing newer
/// than the champion to judge by).
pub fn fresh_holdout(data: &Interactions, champion: &Model, seed: u64) -> Option<Holdout> {
    let items: Vec<Option<u32>> = (0..data.n_items())
        .map(|i| index_in(&champion.items, &data.items, i))
        .collect();
    let mut rng = Rng::stream(seed, 13);
    let (mut rows, mut cols, mut vals) = (Vec::new(), Vec::new(), Vec::new());
    let (mut us, mut is) = (Vec::new(), Vec::new());
    for u in 0..data.n_users() {
        let cu = index_in(&champion.users, &data.users, u);
        let (row, weights) = data.by_user.row(u);
        for (&i, &w) in row.iter().zip(weights) {
            let seen = match (cu, items[i as usize]) {
                (Some(cu), Some(ci)) => champion.seen.contains(cu as usize, ci),
                _ => false,
            };
            // a user keeps at least one interaction to train on
            if !seen && row.len() > 1 && rng.uniform() < FRESH_SHARE {
                us.push(u as u32);
                is.push(i);
            } else {
                rows.push(u as u32);
                cols.push(i);
                vals.push(w);
            }
        }
    }
    if us.is_empty() {
        return None;
    }
    let by_user = Csr::from_triples(data.n_users(), data.n_items(), &rows, &cols, &vals);
    Some(Holdout {
        train: data.with_rows(by_user),
        users: ids_of(&data.users, &us),
        items: ids_of(&data.items, &is),
    })
}

/// When a retrained version replaces the serving one (mkt.retrain's `deploy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployRule {
    Always,
    Never,
    /// Only when the challenger scores higher than the champion on interactions neither saw.
    IfBetter,
}

impl DeployRule {
    pub fn parse(s: &str) -> mkt_core::Result<Self> {
        match s {
            "always" => Ok(DeployRule::Always),
            "never" => Ok(DeployRule::Never),
            "if_better" => Ok(DeployRule::IfBetter),
            _ => Err(mkt_core::Error::invalid(format!(
                "deploy must be 'always', 'never' or 'if_better', got '{s}'"
            ))),
        }
    }
}

/// What a retrain decided, and why (kept in the deploy history).
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub deploy: bool,
    pub reason: String,
}

/// The deploy decision of a retrain: the challenger scored `metric` (ndcg@`k`); `previous` is the
/// champion's score on the same `held` fresh interactions (None when there were none to judge
/// by); `champion` says whether anything was serving.
pub fn verdict(
    rule: DeployRule,
    k: usize,
    metric: f64,
    previous: Option<f64>,
    champion: bool,
    held: usize,
) -> Verdict {
    let deploy = match rule {
        DeployRule::Always => true,
        DeployRule::Never => false,
        // nothing new to judge by: keep what serves
        DeployRule::IfBetter => !champion || previous.is_some_and(|p| metric > p),
    };
    let reason = match (previous, champion) {
        (Some(p), _) => format!(
            "retrain: ndcg@{k} {metric:.4} vs {p:.4} of the serving version on {held} interactions it never trained on"
        ),
        (None, true) => format!(
            "retrain: ndcg@{k} {metric:.4} on a holdout; no interaction is newer than the serving version, so there is nothing to compare"
        ),
        (None, false) => format!("retrain: ndcg@{k} {metric:.4} on a holdout; nothing was serving"),
    };
    Verdict { deploy, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::TrainConfig;
    use crate::evaluate::evaluate;
    use mkt_core::ids::IdColumn;
    use mkt_core::interactions::RawInteractions;
    use mkt_core::progress::no_tick;

    fn data(extra: bool) -> Interactions {
        // four taste groups; `extra` adds the in-group items held back from the first version
        let (mut users, mut items) = (Vec::new(), Vec::new());
        for u in 0..200i64 {
            for i in 0..40i64 {
                let held_back = (u * 7 + i) % 5 == 0;
                if i % 4 == u % 4 && (!held_back || extra) {
                    users.push(u);
                    items.push(i);
                }
            }
        }
        let raw = RawInteractions {
            users: IdColumn::Int(users),
            items: IdColumn::Int(items),
            weights: vec![],
            times: None,
        };
        Interactions::build(&raw).unwrap()
    }

    #[test]
    fn holds_out_only_what_the_champion_never_saw() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (cfg, _) = TrainConfig::parse(
            crate::Algorithm::Als,
            &serde_json::json!({"factors": 8, "iterations": 5}),
        )
        .unwrap();
        let champion = cfg.fit(&data(false), &pool, &mut no_tick()).unwrap();
        assert!(fresh_holdout(&data(false), &champion, 1).is_none(), "nothing new");
        let now = data(true);
        let h = fresh_holdout(&now, &champion, 1).expect("new interactions");
        let (IdColumn::Int(hu), IdColumn::Int(hi)) = (&h.users, &h.items) else {
            panic!("int ids")
        };
        assert!(!hu.is_empty());
        for (&u, &i) in hu.iter().zip(hi) {
            assert_eq!((u * 7 + i) % 5, 0, "only held-back pairs are fresh");
            let (tu, ti) = (now.users.index_of_int(u).unwrap(), now.items.index_of_int(i).unwrap());
            assert!(!h.train.by_user.contains(tu as usize, ti));
        }
        assert_eq!(h.train.n_rows + hu.len(), now.n_rows);
        // the champion ranks the fresh items of its users' groups well: a fair, non-zero score
        let e = evaluate(&champion, &h.users, &h.items, 10, &pool).unwrap();
        let ndcg = e.metrics.named().into_iter().find(|(n, _)| *n == "ndcg@10").unwrap().1;
        assert!(ndcg > 0.2, "champion ndcg@10 {ndcg}");
    }

    #[test]
    fn the_deploy_rule_decides_by_the_fresh_comparison() {
        use DeployRule::*;
        assert_eq!(DeployRule::parse("if_better").unwrap(), IfBetter);
        assert!(DeployRule::parse("sometimes").unwrap_err().to_string().contains("'sometimes'"));
        let better = verdict(IfBetter, 10, 0.5, Some(0.4), true, 30);
        assert!(better.deploy);
        assert_eq!(
            better.reason,
            "retrain: ndcg@10 0.5000 vs 0.4000 of the serving version on 30 interactions it never trained on"
        );
        assert!(!verdict(IfBetter, 10, 0.4, Some(0.4), true, 30).deploy, "a tie keeps the champion");
        let nothing_new = verdict(IfBetter, 10, 0.9, None, true, 0);
        assert!(!nothing_new.deploy);
        assert!(nothing_new.reason.contains("nothing to compare"));
        let first = verdict(IfBetter, 10, 0.1, None, false, 0);
        assert!(first.deploy && first.reason.ends_with("nothing was serving"));
        assert!(verdict(Always, 10, 0.1, Some(0.9), true, 5).deploy);
        assert!(!verdict(Never, 10, 0.9, Some(0.1), true, 5).deploy);
    }
}
