//! Hyper-parameter search: the candidate params of a grid or random search, and one trial
//! (train on a validation split carved from the training data, rank the held-out items).
//!
//! `search` is `{"params": {name: [choices] | {"min": a, "max": b, "log": bool}}, "method":
//! "grid" | "random", "trials": n, "seed": s, "validation": share, "k": k, "metric": name,
//! "base": {fixed params}}`. A grid takes every combination of choice lists (ranges need random);
//! random search draws `trials` combinations.

use crate::algorithm::{Algorithm, Side, TrainConfig};
use crate::evaluate::evaluate;
use mkt_core::ids::{IdColumn, IdMap};
use mkt_core::interactions::Interactions;
use mkt_core::params::Params;
use mkt_core::progress::Tick;
use mkt_core::rng::Rng;
use mkt_core::{Error, Result};
use serde_json::{Map, Value};

/// More trials than this is an export of the grid, not a search.
pub const MAX_TRIALS: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
enum Dim {
    Choices(Vec<Value>),
    Range { min: f64, max: f64, log: bool, int: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    space: Vec<(String, Dim)>,
    grid: bool,
    trials: usize,
    pub seed: u64,
    pub validation: f64,
    pub k: usize,
    pub metric: String,
    base: Map<String, Value>,
}

pub const METRICS: [&str; 5] = ["ndcg", "recall", "precision", "map", "hit_rate"];

impl Search {
    pub const KEYS: [&'static str; 8] =
        ["params", "method", "trials", "seed", "validation", "k", "metric", "base"];

    pub fn parse(v: &Value) -> Result<Self> {
        let p = Params::new("search", v, &Self::KEYS)?;
        let Some(Value::Object(space_v)) = p.value("params") else {
            return Err(Error::invalid(
                "search needs \"params\": an object of parameter -> [choices] or {\"min\", \"max\", \"log\"}",
            ));
        };
        let mut space = Vec::new();
        for (name, d) in space_v {
            let dim = match d {
                Value::Array(a) if !a.is_empty() => Dim::Choices(a.clone()),
                Value::Object(_) => {
                    let r = Params::new(name, d, &["min", "max", "log"])?;
                    let bad = || {
                        Error::invalid(format!(
                            "search range of \"{name}\" needs numbers min <= max (and min > 0 with log)"
                        ))
                    };
                    let (min, max) = match (r.value("min"), r.value("max")) {
                        (Some(a), Some(b)) => (a.as_f64().ok_or_else(bad)?, b.as_f64().ok_or_else(bad)?),
                        _ => return Err(bad()),
                    };
                    let log = r.boolean("log", false)?;
                    if min > max || (log && min <= 0.0) {
                        return Err(bad());
                    }
                    let int = d["min"].is_i64() && d["max"].is_i64();
                    Dim::Range { min, max, log, int }
                }
                other => {
                    return Err(Error::invalid(format!(
                        "search values of \"{name}\" must be a non-empty array or a range object, got {other}"
                    )))
                }
            };
            space.push((name.clone(), dim));
        }
        if space.is_empty() {
            return Err(Error::invalid("search \"params\" names no parameter"));
        }
        let has_range = space.iter().any(|(_, d)| matches!(d, Dim::Range { .. }));
        let grid = match p.choice("method", if has_range { "random" } else { "grid" }, &["grid", "random"])? {
            "grid" if has_range => {
                return Err(Error::invalid("a grid search needs a list of values for every parameter"))
            }
            m => m == "grid",
        };
        let metric = p.choice("metric", "ndcg", &METRICS)?.to_string();
        let base = match p.value("base") {
            None => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(other) => return Err(Error::invalid(format!("search \"base\" must be an object, got {other}"))),
        };
        if let Some(k) = space.iter().map(|(k, _)| k).find(|k| base.contains_key(*k) || *k == "deploy") {
            return Err(Error::invalid(format!("parameter \"{k}\" is searched; it cannot also be fixed")));
        }
        let s = Search {
            space,
            grid,
            trials: p.int("trials", 10, 1, MAX_TRIALS as i64)? as usize,
            seed: p.int("seed", 42, 0, i64::MAX)? as u64,
            validation: p.float("validation", 1.0, 0.01, 1.0)?,
            k: p.int("k", 10, 1, 100_000)? as usize,
            metric,
            base,
        };
        if s.grid {
            let n = s.space.iter().fold(1usize, |acc, (_, d)| match d {
                Dim::Choices(c) => acc.saturating_mul(c.len()),
                Dim::Range { .. } => acc,
            });
            if n > MAX_TRIALS {
                return Err(Error::TooLarge(format!(
                    "the grid has {n} combinations; at most {MAX_TRIALS} (use method random)"
                )));
            }
        }
        Ok(s)
    }

    /// The params of every trial, base params merged in, each checked against `algorithm`.
    pub fn candidates(&self, algorithm: Algorithm) -> Result<Vec<Value>> {
        let mut out: Vec<Map<String, Value>> = Vec::new();
        if self.grid {
            out.push(self.base.clone());
            for (name, d) in &self.space {
                let Dim::Choices(c) = d else { unreachable!("grids have only choices") };
                out = out
                    .into_iter()
                    .flat_map(|m| {
                        c.iter().map(move |v| {
                            let mut m = m.clone();
                            m.insert(name.clone(), v.clone());
                            m
                        })
                    })
                    .collect();
            }
        } else {
            let mut rng = Rng::stream(self.seed, 7);
            for _ in 0..self.trials {
                let mut m = self.base.clone();
                for (name, d) in &self.space {
                    let v = match d {
                        Dim::Choices(c) => c[rng.below(c.len() as u64) as usize].clone(),
                        Dim::Range { min, max, log, int } => {
                            let u = rng.uniform();
                            let x = if *log {
                                (min.ln() + u * (max.ln() - min.ln())).exp()
                            } else {
                                min + u * (max - min)
                            };
                            if *int {
                                Value::from((x.round() as i64).clamp(*min as i64, *max as i64))
                            } else {
                                Value::from(x)
                            }
                        }
                    };
                    m.insert(name.clone(), v);
                }
                out.push(m);
            }
        }
        let out: Vec<Value> = out.into_iter().map(Value::Object).collect();
        for v in &out {
            TrainConfig::parse(algorithm, v)?;
        }
        Ok(out)
    }
}

/// The index of the best trial score; a tie goes to the earlier trial.
pub fn best_trial(scores: &[f64]) -> Result<usize> {
    scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .map(|(i, _)| i)
        .ok_or_else(|| mkt_core::Error::EmptyData("a search needs at least one trial".into()))
}

/// Training part and held-out (user, item) ids of a validation split: a fifth of the items of
/// `share` of the users with at least 5 interactions.
pub struct Holdout {
    pub train: Interactions,
    pub users: IdColumn,
    pub items: IdColumn,
}

/// The ids of internal indices `idx`, as a raw column.
pub(crate) fn ids_of(map: &IdMap, idx: &[u32]) -> IdColumn {
    match map {
        IdMap::Int(v) => IdColumn::Int(idx.iter().map(|&i| v[i as usize]).collect()),
        IdMap::Text(v) => IdColumn::Text(idx.iter().map(|&i| v[i as usize].clone()).collect()),
    }
}

pub fn holdout(data: &Interactions, share: f64, seed: u64) -> Result<Holdout> {
    let c = mkt_neural::split::carve(&data.by_user, share, &mut Rng::stream(seed, 11));
    let (mut us, mut is) = (Vec::new(), Vec::new());
    for (u, items) in &c.held_out {
        for &i in items {
            us.push(*u);
            is.push(i);
        }
    }
    if us.is_empty() {
        return Err(Error::EmptyData(
            "no user has the 5 interactions a validation split needs".into(),
        ));
    }
    Ok(Holdout {
        train: data.with_rows(c.train),
        users: ids_of(&data.users, &us),
        items: ids_of(&data.items, &is),
    })
}

/// Trains `params` on the holdout's training part and returns the search metric on its
/// held-out items.
pub fn trial(
    algorithm: Algorithm,
    params: &Value,
    h: &Holdout,
    side: &Side,
    search: &Search,
    pool: &rayon::ThreadPool,
    tick: &mut dyn Tick,
) -> Result<f64> {
    let (cfg, _) = TrainConfig::parse(algorithm, params)?;
    let model = cfg.fit_with(&h.train, side, pool, tick, &mut |_| {})?;
    let e = evaluate(&model, &h.users, &h.items, search.k, pool)?;
    let want = format!("{}@{}", search.metric, search.k);
    Ok(e.metrics
        .named()
        .into_iter()
        .find(|(n, _)| *n == want)
        .map_or(0.0, |(_, v)| v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grids_random_draws_and_bad_specs() {
        let s = Search::parse(&json!({"params": {"factors": [8, 16], "alpha": [1, 5, 10]}, "base": {"iterations": 3}})).unwrap();
        let c = s.candidates(Algorithm::Als).unwrap();
        assert_eq!(c.len(), 6);
        assert!(c.iter().all(|v| v["iterations"] == 3));
        let r = Search::parse(&json!({"params": {"regularization": {"min": 0.1, "max": 100, "log": true}, "factors": {"min": 4, "max": 8}}, "trials": 5})).unwrap();
        let c = r.candidates(Algorithm::Als).unwrap();
        assert_eq!(c.len(), 5);
        assert!(c.iter().all(|v| (0.1..=100.0).contains(&v["regularization"].as_f64().unwrap())
            && (4..=8).contains(&v["factors"].as_i64().unwrap())));
        assert_eq!(c, Search::parse(&json!({"params": {"regularization": {"min": 0.1, "max": 100, "log": true}, "factors": {"min": 4, "max": 8}}, "trials": 5})).unwrap().candidates(Algorithm::Als).unwrap());
        for bad in [
            json!({}),
            json!({"params": {}}),
            json!({"params": {"factors": []}}),
            json!({"params": {"factors": {"min": 8, "max": 4}}}),
            json!({"params": {"factors": {"min": 4, "max": 8}}, "method": "grid"}),
            json!({"params": {"factors": [8]}, "base": {"factors": 4}}),
            json!({"params": {"factors": [8]}, "metric": "auc"}),
            json!({"params": {"a": [1,2,3,4,5,6,7,8,9,10], "b": [1,2,3,4,5,6,7,8,9,10], "c": [1,2,3,4,5,6,7,8,9,10,11]}}),
        ] {
            assert!(Search::parse(&bad).is_err(), "{bad}");
        }
        // a value the algorithm refuses is caught before any training
        let s = Search::parse(&json!({"params": {"factors": [0, 8]}})).unwrap();
        assert!(s.candidates(Algorithm::Als).is_err());
    }

    #[test]
    fn the_best_trial_is_the_earliest_of_the_highest() {
        assert_eq!(best_trial(&[0.1, 0.3, 0.3, 0.2]).unwrap(), 1);
        assert_eq!(best_trial(&[0.5]).unwrap(), 0);
        assert!(best_trial(&[]).is_err());
    }
}
