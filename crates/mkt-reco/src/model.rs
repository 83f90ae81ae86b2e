//! A trained recommender and how it scores.

use crate::kind::Algorithm;
use mkt_core::ids::IdMap;
use mkt_core::interactions::{Csr, Interactions};
use mkt_core::shared::Shared;
use mkt_core::{Error, Result};
use mkt_topk::{dot, scores_into, top_k, top_k_dense, QuantizedRows, Scored};
use std::sync::OnceLock;

/// What an algorithm learned beyond the shared parts of a model.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Popularity needs nothing more.
    None,
    /// Latent factors, row-major: `users` is n_users x dim, `items` is n_items x dim.
    Factors {
        dim: usize,
        users: Shared<f32>,
        items: Shared<f32>,
    },
    /// Item x item similarities, the strongest neighbours of each item.
    Neighbors(Csr),
    /// Dense item x item weights, row-major (EASE's B).
    Dense(Shared<f32>),
    /// A NeuMF network in serving form.
    NeuMf(Box<mkt_neural::neumf::NeuMf>),
    /// A sequence model and each user's latest items.
    Sequential(Box<crate::sequential::Sequential>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub algorithm: Algorithm,
    pub users: IdMap,
    pub items: IdMap,
    /// The training interactions (user x item, summed weights): what "seen" means when serving.
    pub seen: Csr,
    /// Summed weight per item: the fallback ranking for users the model does not know.
    pub popularity: Shared<f32>,
    pub payload: Payload,
    /// Built on first use from the payload; never stored.
    pub serving: ServingIndex,
}

/// What serving derives from a model, built on first use or mapped from the version's serving
/// file (see `serving_file`). Derived data: equal whenever the models are, and cloned empty.
#[derive(Debug, Default)]
pub struct ServingIndex {
    /// The 8-bit copy of item factors that makes factor-model serving read a quarter of the
    /// memory (see mkt_topk::quantized); `None` inside when a factor is not finite.
    items: OnceLock<Option<QuantizedRows>>,
    /// Items by descending popularity (ties by index): the ranking of unknown users and of
    /// popularity models is a walk down this list, not a scan of the catalogue.
    popular: OnceLock<Shared<u32>>,
}

impl ServingIndex {
    /// Sets the parts read from a serving file, unless already there.
    pub(crate) fn set(&self, items: Option<Option<QuantizedRows>>, popular: Option<Shared<u32>>) {
        if let Some(items) = items {
            let _ = self.items.set(items);
        }
        if let Some(popular) = popular {
            let _ = self.popular.set(popular);
        }
    }

    fn items(&self) -> Option<&QuantizedRows> {
        self.items.get().and_then(Option::as_ref)
    }

    fn heap_bytes(&self) -> usize {
        self.items().map_or(0, QuantizedRows::heap_bytes)
            + self.popular.get().map_or(0, Shared::heap_bytes)
    }

    pub(crate) fn mapped_bytes(&self) -> usize {
        self.items().map_or(0, QuantizedRows::mapped_bytes)
            + self.popular.get().map_or(0, Shared::mapped_bytes)
    }
}

/// Item indices by descending popularity, ties by index, leaving out scores that rank nowhere
/// (NaN, -inf): the order `top_k_dense` gives over the popularity vector.
pub fn popularity_order(popularity: &[f32]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..popularity.len() as u32)
        .filter(|&i| {
            let p = popularity[i as usize];
            !p.is_nan() && p != f32::NEG_INFINITY
        })
        .collect();
    order.sort_by(|&a, &b| {
        popularity[b as usize]
            .total_cmp(&popularity[a as usize])
            .then(a.cmp(&b))
    });
    order
}

impl Clone for ServingIndex {
    fn clone(&self) -> Self {
        ServingIndex::default()
    }
}

impl PartialEq for ServingIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// What one recommendation call asks for.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub k: usize,
    pub exclude_seen: bool,
    /// Restrict the ranking to these item indices.
    pub candidates: Option<&'a [u32]>,
}

/// Weight of popularity added to sparse scores so that items no neighbour reaches still rank by
/// popularity rather than by id.
const POPULARITY_TIE_BREAK: f32 = 1e-6;

impl Model {
    pub fn new(algorithm: Algorithm, data: &Interactions, payload: Payload) -> Self {
        let mut popularity = vec![0f32; data.n_items()];
        for (&i, &w) in data.by_user.indices.iter().zip(&data.by_user.values) {
            popularity[i as usize] += w;
        }
        Model {
            algorithm,
            users: data.users.clone(),
            items: data.items.clone(),
            seen: data.by_user.clone(),
            popularity: popularity.into(),
            payload,
            serving: ServingIndex::default(),
        }
    }

    /// Approximate private memory held (including the serving copy once built), for cache
    /// accounting; arrays viewed in a shared mapping do not count.
    pub fn heap_bytes(&self) -> usize {
        let payload = match &self.payload {
            Payload::None => 0,
            Payload::Factors { users, items, .. } => {
                // The 8-bit serving copy, when it will be built privately, is about a quarter of
                // the items.
                let serving = match self.serving.items.get() {
                    Some(_) => 0,
                    None => items.len(),
                };
                users.heap_bytes() + items.heap_bytes() + serving
            }
            Payload::Neighbors(c) => c.heap_bytes(),
            Payload::Dense(b) => b.heap_bytes(),
            Payload::NeuMf(m) => m.heap_bytes(),
            Payload::Sequential(m) => m.heap_bytes(),
        };
        self.users.heap_bytes()
            + self.items.heap_bytes()
            + self.seen.heap_bytes()
            + self.popularity.heap_bytes()
            + self.serving.heap_bytes()
            + payload
    }

    /// Bytes viewed in a shared mapping (one copy per server, not per backend).
    pub fn mapped_bytes(&self) -> usize {
        let payload = match &self.payload {
            Payload::None => 0,
            Payload::Factors { users, items, .. } => users.mapped_bytes() + items.mapped_bytes(),
            Payload::Neighbors(c) => c.mapped_bytes(),
            Payload::Dense(b) => b.mapped_bytes(),
            Payload::NeuMf(m) => m.mapped_bytes(),
            Payload::Sequential(m) => m.mapped_bytes(),
        };
        self.users.mapped_bytes()
            + self.items.mapped_bytes()
            + self.seen.mapped_bytes()
            + self.popularity.mapped_bytes()
            + self.serving_mapped_bytes()
            + payload
    }

    /// Bytes of the serving index viewed in a shared serving file.
    pub fn serving_mapped_bytes(&self) -> usize {
        self.serving.mapped_bytes()
    }

    /// The 8-bit index over the vectors items are scored against: factor models' item factors,
    /// a sequential model's item embeddings (its scores are their dot products with a query).
    fn quantized_items(&self) -> Option<&QuantizedRows> {
        let (dim, items) = self.indexed_vectors()?;
        self.serving
            .items
            .get_or_init(|| QuantizedRows::build(items, dim))
            .as_ref()
    }

    /// The item vectors a serving index is built over, for the models that have one.
    pub(crate) fn indexed_vectors(&self) -> Option<(usize, &[f32])> {
        match &self.payload {
            Payload::Factors { dim, items, .. } => Some((*dim, items)),
            Payload::Sequential(m) => Some((m.config().dim, &m.item_vectors[..])),
            _ => None,
        }
    }

    fn popular(&self) -> &[u32] {
        self.serving
            .popular
            .get_or_init(|| popularity_order(&self.popularity).into())
    }

    /// The top `k` by popularity, skipping `seen` (sorted): a walk down the popularity order.
    fn by_popularity(&self, seen: &[u32], k: usize) -> Vec<Scored> {
        self.popular()
            .iter()
            .filter(|i| seen.binary_search(i).is_err())
            .take(k)
            .map(|&index| Scored {
                index,
                score: self.popularity[index as usize],
            })
            .collect()
    }

    /// (width, row-major item vectors) of models that embed items: factor models, and NeuMF's
    /// GMF embeddings. Similarities and attributions compare items through these.
    pub fn item_vectors(&self) -> Option<(usize, &[f32])> {
        match &self.payload {
            Payload::Factors { dim, items, .. } => Some((*dim, items)),
            Payload::NeuMf(m) => Some((m.dim, &m.item_gmf)),
            Payload::Sequential(m) => Some((m.config().dim, &m.item_vectors[..])),
            _ => None,
        }
    }

    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Scores of every item for `user` (popularity when the user is unknown) into `out`.
    pub fn score_all(&self, user: Option<u32>, out: &mut Vec<f32>) {
        let n = self.n_items();
        out.clear();
        out.resize(n, 0.0);
        let Some(u) = user else {
            out.copy_from_slice(&self.popularity);
            return;
        };
        let u = u as usize;
        match &self.payload {
            Payload::None => out.copy_from_slice(&self.popularity),
            Payload::Factors { dim, users, items } => {
                scores_into(items, *dim, &users[u * dim..(u + 1) * dim], out);
            }
            Payload::Neighbors(sim) => {
                let max_pop = self
                    .popularity
                    .iter()
                    .cloned()
                    .fold(f32::MIN_POSITIVE, f32::max);
                for (o, p) in out.iter_mut().zip(&self.popularity) {
                    *o = POPULARITY_TIE_BREAK * p / max_pop;
                }
                for &i in self.seen.row(u).0 {
                    let (nbrs, sims) = sim.row(i as usize);
                    for (&j, &s) in nbrs.iter().zip(sims) {
                        out[j as usize] += s;
                    }
                }
            }
            Payload::NeuMf(m) => m.score_all(u, out),
            Payload::Sequential(m) => {
                // CPU inference of a model that decoded whole cannot fail short of memory; the
                // popularity ranking is the answer if it does.
                if m.scores(m.history.row(u), out).is_err() || out.len() != n {
                    out.clear();
                    out.extend_from_slice(&self.popularity);
                }
            }
            Payload::Dense(b) => {
                for &i in self.seen.row(u).0 {
                    let row = &b[i as usize * n..(i as usize + 1) * n];
                    for (o, w) in out.iter_mut().zip(row) {
                        *o += w;
                    }
                }
            }
        }
    }

    /// Score of one item for a known user; used when only a few candidates are ranked.
    fn score_one(&self, u: usize, item: usize) -> Option<f32> {
        match &self.payload {
            Payload::Factors { dim, users, items } => Some(dot(
                &users[u * dim..(u + 1) * dim],
                &items[item * dim..(item + 1) * dim],
            )),
            _ => None,
        }
    }

    /// The top `q.k` items for `user` (`None`: unknown user, ranked by popularity).
    /// `scratch` is reused between calls to avoid an allocation per call.
    pub fn recommend(&self, user: Option<u32>, q: &Query, scratch: &mut Vec<f32>) -> Vec<Scored> {
        let seen: &[u32] = match (user, q.exclude_seen) {
            (Some(u), true) => self.seen.row(u as usize).0,
            _ => &[],
        };
        if let (Some(cands), Some(u)) = (q.candidates, user) {
            if matches!(self.payload, Payload::Factors { .. }) && cands.len() * 8 < self.n_items() {
                let scored = cands
                    .iter()
                    .filter(|c| seen.binary_search(c).is_err())
                    .map(|&c| (c, self.score_one(u as usize, c as usize).unwrap()));
                return top_k(dedup_candidates(scored), q.k);
            }
        }
        if q.candidates.is_none() && (user.is_none() || matches!(self.payload, Payload::None)) {
            return self.by_popularity(seen, q.k);
        }
        if let (None, Some(u), Payload::Factors { dim, users, items }) =
            (q.candidates, user, &self.payload)
        {
            if let Some(index) = self.quantized_items() {
                let query = &users[u as usize * dim..(u as usize + 1) * dim];
                return index.top_k(items, query, seen, q.k, scratch);
            }
        }
        if let (None, Some(u), Payload::Sequential(m)) = (q.candidates, user, &self.payload) {
            if let Some(top) = self.sequence_top_k(m, m.history.row(u as usize), seen, q.k, scratch)
            {
                return top;
            }
        }
        self.score_all(user, scratch);
        for &i in seen {
            scratch[i as usize] = f32::NEG_INFINITY;
        }
        match q.candidates {
            Some(cands) => top_k(
                dedup_candidates(cands.iter().map(|&c| (c, scratch[c as usize]))),
                q.k,
            ),
            None => top_k_dense(scratch, q.k),
        }
    }

    /// The top `k` items to follow `recent` (item indices, oldest first) for an anonymous session,
    /// leaving out `exclude` (sorted); a sequential model only. With no recent item the answer is
    /// the popularity ranking.
    pub fn recommend_next(
        &self,
        recent: &[u32],
        k: usize,
        exclude: &[u32],
    ) -> Result<Vec<Scored>> {
        let Payload::Sequential(m) = &self.payload else {
            return Err(Error::NotSupported(format!(
                "algorithm '{}' does not read the order of events; recommend_next needs a model \
                 trained with algorithm 'sequential'",
                self.algorithm.name()
            )));
        };
        let mut scores = Vec::new();
        if !recent.is_empty() {
            return self.rank_next(m, recent, exclude, None, k, &mut scores);
        }
        scores.extend_from_slice(&self.popularity);
        for &e in exclude {
            scores[e as usize] = f32::NEG_INFINITY;
        }
        Ok(top_k_dense(&scores, k))
    }

    /// Where a sequential model's serving reads histories at call time, if it does.
    pub fn live_history(&self) -> Option<&crate::sequential::LiveHistory> {
        match &self.payload {
            Payload::Sequential(m) => m.live.as_ref(),
            _ => None,
        }
    }

    /// The most positions a sequential model reads (0 for other models).
    pub fn sequence_length(&self) -> usize {
        match &self.payload {
            Payload::Sequential(m) => m.config().max_length,
            _ => 0,
        }
    }

    /// The top `q.k` items for `user` after `recent` (item indices, oldest first: the user's
    /// latest events read at call time). `exclude_seen` leaves out both the items seen in
    /// training and `recent`. Without recent events this is `recommend`.
    pub fn recommend_after(
        &self,
        user: Option<u32>,
        recent: &[u32],
        q: &Query,
        scratch: &mut Vec<f32>,
    ) -> Result<Vec<Scored>> {
        let Payload::Sequential(m) = &self.payload else {
            return Err(Error::NotSupported(format!(
                "algorithm '{}' does not read the order of events",
                self.algorithm.name()
            )));
        };
        if recent.is_empty() {
            return Ok(self.recommend(user, q, scratch));
        }
        let mut excluded = Vec::new();
        if q.exclude_seen {
            if let Some(u) = user {
                excluded.extend_from_slice(self.seen.row(u as usize).0);
            }
            excluded.extend_from_slice(recent);
        }
        self.rank_next(m, recent, &excluded, q.candidates, q.k, scratch)
    }

    /// The top `k` of a sequential model after `recent`, leaving out `excluded`, among
    /// `candidates` if given: through the 8-bit index where there is one, else by scoring every
    /// item into `scratch`.
    fn rank_next(
        &self,
        m: &crate::sequential::Sequential,
        recent: &[u32],
        excluded: &[u32],
        candidates: Option<&[u32]>,
        k: usize,
        scratch: &mut Vec<f32>,
    ) -> Result<Vec<Scored>> {
        if candidates.is_none() {
            if let Some(top) = self.sequence_top_k(m, recent, excluded, k, scratch) {
                return Ok(top);
            }
        }
        m.scores(recent, scratch)?;
        for &i in excluded {
            scratch[i as usize] = f32::NEG_INFINITY;
        }
        Ok(match candidates {
            Some(cands) => top_k(
                dedup_candidates(cands.iter().map(|&c| (c, scratch[c as usize]))),
                k,
            ),
            None => top_k_dense(scratch, k),
        })
    }

    /// A sequential model's top `k` after `recent` through the 8-bit index over its item
    /// embeddings (the same ranking as scoring every item, reading a quarter of the bytes);
    /// None where there is no index or the forward pass fails, for the caller's dense path.
    fn sequence_top_k(
        &self,
        m: &crate::sequential::Sequential,
        recent: &[u32],
        excluded: &[u32],
        k: usize,
        scratch: &mut Vec<f32>,
    ) -> Option<Vec<Scored>> {
        let index = self.quantized_items()?;
        let query = m.next_query(recent).ok()?;
        Some(index.top_k(&m.item_vectors, &query, excluded, k, scratch))
    }

    /// Items most similar to `item`, the item itself excluded.
    pub fn similar_items(&self, item: u32, k: usize) -> Result<Vec<Scored>> {
        let i = item as usize;
        let n = self.n_items();
        let scored: Vec<(u32, f32)> = match &self.payload {
            Payload::None => {
                return Err(Error::NotSupported(
                    "a popularity model has no item similarities; train als, item_knn or ease"
                        .into(),
                ))
            }
            Payload::Factors { .. } | Payload::NeuMf(_) | Payload::Sequential(_) => {
                let (dim, items) = self.item_vectors().expect("a vector model");
                let norms: Vec<f32> = items.chunks_exact(dim).map(|r| dot(r, r).sqrt()).collect();
                let q = &items[i * dim..(i + 1) * dim];
                let mut s = vec![0f32; n];
                scores_into(items, dim, q, &mut s);
                s.iter()
                    .enumerate()
                    .map(|(j, &d)| {
                        let denom = norms[i] * norms[j];
                        (j as u32, if denom > 0.0 { d / denom } else { 0.0 })
                    })
                    .collect()
            }
            Payload::Neighbors(sim) => {
                let (nbrs, sims) = sim.row(i);
                nbrs.iter().copied().zip(sims.iter().copied()).collect()
            }
            Payload::Dense(b) => b[i * n..(i + 1) * n]
                .iter()
                .enumerate()
                .map(|(j, &w)| (j as u32, w))
                .collect(),
        };
        Ok(top_k(scored.into_iter().filter(|(j, _)| *j != item), k))
    }
}

/// Candidates given twice must not be returned twice.
fn dedup_candidates(it: impl Iterator<Item = (u32, f32)>) -> impl Iterator<Item = (u32, f32)> {
    let mut seen = std::collections::HashSet::new();
    it.filter(move |(c, _)| seen.insert(*c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::TrainConfig;
    use mkt_core::ids::IdColumn;
    use mkt_core::interactions::RawInteractions;
    use mkt_core::progress::no_tick;

    fn tiny() -> Interactions {
        // items 100..=104; popularity: 101 (3), 102 (2), 100 (1), 103 (1), 104 (1)
        let raw = RawInteractions {
            users: IdColumn::Int(vec![1, 1, 2, 2, 3, 3, 3, 4]),
            items: IdColumn::Int(vec![101, 102, 101, 102, 101, 103, 104, 100]),
            weights: vec![],
            times: None,
        };
        Interactions::build(&raw).unwrap()
    }

    #[test]
    fn popularity_ranks_ties_by_id_and_excludes_seen() {
        let data = tiny();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let m = TrainConfig::Popularity
            .fit(&data, &pool, &mut no_tick())
            .unwrap();
        let q = Query {
            k: 3,
            exclude_seen: true,
            candidates: None,
        };
        let mut s = Vec::new();
        let ids = |v: Vec<Scored>| {
            v.iter()
                .map(|x| m.items.int_id(x.index).unwrap())
                .collect::<Vec<_>>()
        };
        // unknown user: plain popularity, ties (100, 103, 104) by id
        assert_eq!(ids(m.recommend(None, &q, &mut s)), vec![101, 102, 100]);
        // user 4 has seen 100
        let u4 = m.users.index_of_int(4);
        assert_eq!(ids(m.recommend(u4, &q, &mut s)), vec![101, 102, 103]);
        let q = Query {
            k: 10,
            exclude_seen: false,
            candidates: Some(&[4, 0, 4]),
        };
        assert_eq!(ids(m.recommend(u4, &q, &mut s)), vec![100, 104]);
        assert!(m.similar_items(0, 3).is_err());
    }

    #[test]
    fn factor_serving_equals_a_full_f32_scan() {
        let data = mkt_demo::interactions(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let params = serde_json::json!({"factors": 24, "iterations": 3});
        let (cfg, _) = TrainConfig::parse(Algorithm::Als, &params).unwrap();
        let m = cfg.fit(&data, &pool, &mut no_tick()).unwrap();
        let Payload::Factors { dim, users, items } = &m.payload else {
            panic!("als has factors")
        };
        assert!(m.quantized_items().is_some());
        let mut s = Vec::new();
        for u in (0..m.n_users() as u32).step_by(7) {
            for (k, exclude_seen) in [(10, true), (50, false)] {
                let q = Query {
                    k,
                    exclude_seen,
                    candidates: None,
                };
                let seen = m.seen.row(u as usize).0;
                let uu = u as usize;
                let full = top_k(
                    items
                        .chunks_exact(*dim)
                        .enumerate()
                        .filter(|(i, _)| !exclude_seen || !seen.contains(&(*i as u32)))
                        .map(|(i, row)| (i as u32, dot(row, &users[uu * dim..(uu + 1) * dim]))),
                    k,
                );
                assert_eq!(m.recommend(Some(u), &q, &mut s), full, "user {u}");
            }
        }
    }

    #[test]
    fn the_popularity_walk_equals_a_full_scan() {
        let data = mkt_demo::interactions(1);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let m = TrainConfig::Popularity.fit(&data, &pool, &mut no_tick()).unwrap();
        let mut s = Vec::new();
        for k in [1, 10, 200, m.n_items() + 3] {
            let q = Query { k, exclude_seen: true, candidates: None };
            assert_eq!(m.recommend(None, &q, &mut s), top_k_dense(&m.popularity, k), "k={k}");
            for u in (0..m.n_users() as u32).step_by(37) {
                let mut scores = m.popularity.to_vec();
                for &i in m.seen.row(u as usize).0 {
                    scores[i as usize] = f32::NEG_INFINITY;
                }
                assert_eq!(m.recommend(Some(u), &q, &mut s), top_k_dense(&scores, k), "user {u} k={k}");
            }
        }
        // ties, negative weights and a NaN rank exactly as the scan ranks them
        let pop = [1.0, 3.0, -2.0, 3.0, f32::NAN, 0.0, 1.0];
        let order: Vec<u32> = popularity_order(&pop);
        let scan: Vec<u32> = top_k_dense(&pop, 10).iter().map(|s| s.index).collect();
        assert_eq!(order, scan);
    }
}
