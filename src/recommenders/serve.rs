//! Serving a deployed recommender: one user's top-k, every user's, similar items.

use crate::models::cache;
use crate::pg::error::{invalid, OrSql, SqlResult};
use crate::pg::pool;
use mkt_core::ids::Id;
use mkt_reco::{Model, Query};
use mkt_topk::Scored;
use pgrx::prelude::*;
use rayon::prelude::*;
use std::cell::RefCell;

thread_local! {
    /// Score buffer reused by every call of this backend.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

fn rank_for(
    model: &Model,
    model_name: &str,
    user: &Id,
    k: usize,
    exclude_seen: bool,
    candidates: Option<Vec<Id>>,
) -> SqlResult<Vec<Scored>> {
    let u = model.users.index_of(user);
    let recent = match model.live_history() {
        Some(live) => crate::recommenders::live_history::latest(model, live, user)?,
        None => Vec::new(),
    };
    if u.is_none() && recent.is_empty() {
        notice!("user {user} is not in model '{model_name}'; recommending by popularity");
    }
    let cands: Option<Vec<u32>> =
        candidates.map(|c| c.iter().filter_map(|id| model.items.index_of(id)).collect());
    let q = Query {
        k,
        exclude_seen,
        candidates: cands.as_deref(),
    };
    if !recent.is_empty() {
        return SCRATCH.with(|s| model.recommend_after(u, &recent, &q, &mut s.borrow_mut()).sql());
    }
    Ok(SCRATCH.with(|s| model.recommend(u, &q, &mut s.borrow_mut())))
}

/// (item_id, score, rank) rows of a ranking, for models whose item ids are bigint (checked).
fn int_rows(model: &Model, top: &[Scored]) -> Vec<(i64, f32, i32)> {
    top.iter()
        .enumerate()
        .map(|(r, s)| {
            (
                model.items.int_id(s.index).unwrap_or_default(),
                s.score,
                r as i32 + 1,
            )
        })
        .collect()
}

/// The top-k of a user of a model with bigint item ids.
pub fn recommend_int(
    model_name: &str,
    user_id: i64,
    k: usize,
    exclude_seen: bool,
    candidates: Option<Vec<i64>>,
) -> SqlResult<Vec<(i64, f32, i32)>> {
    let (_, model) = cache::get(model_name)?;
    model.items.require_int("item").sql()?;
    let cands = candidates.map(|c| c.into_iter().map(Id::Int).collect());
    let top = rank_for(&model, model_name, &Id::Int(user_id), k, exclude_seen, cands)?;
    Ok(int_rows(&model, &top))
}

/// The top-k of a user, ids as text (any model).
pub fn recommend_text(
    model_name: &str,
    user_id: &str,
    k: usize,
    exclude_seen: bool,
    candidates: Option<Vec<String>>,
) -> SqlResult<Vec<(String, f32, i32)>> {
    let (_, model) = cache::get(model_name)?;
    let cands = candidates.map(|c| c.into_iter().map(Id::Text).collect());
    let top = rank_for(
        &model,
        model_name,
        &Id::Text(user_id.to_string()),
        k,
        exclude_seen,
        cands,
    )?;
    Ok(top
        .iter()
        .enumerate()
        .map(|(r, s)| (model.items.text_id(s.index), s.score, r as i32 + 1))
        .collect())
}

/// (user_id, item_id, score, rank) for every user of the model, or the given ones, computed in
/// parallel.
pub fn recommend_all(
    model_name: &str,
    k: usize,
    user_ids: Option<Vec<i64>>,
) -> SqlResult<Vec<(i64, i64, f32, i32)>> {
    let (_, model) = cache::get(model_name)?;
    model.users.require_int("user").sql()?;
    let users: Vec<(i64, Option<u32>)> = match user_ids {
        Some(ids) => ids
            .into_iter()
            .map(|id| (id, model.users.index_of_int(id)))
            .collect(),
        None => (0..model.n_users() as u32)
            .map(|u| model.users.int_id(u).map(|id| (id, Some(u))))
            .collect::<Result<_, _>>()
            .sql()?,
    };
    model.items.require_int("item").sql()?;
    let unknown = users.iter().filter(|(_, u)| u.is_none()).count();
    if unknown > 0 {
        notice!("{unknown} users are not in model '{model_name}'; they get the popularity ranking");
    }
    let pool = pool::pool()?;
    let q = Query {
        k,
        exclude_seen: true,
        candidates: None,
    };
    let mut rows: Vec<(i64, i64, f32, i32)> = Vec::with_capacity(users.len() * k);
    // Chunks keep memory bounded and let a cancel through between them.
    for chunk in users.chunks(4096) {
        let part: Vec<Vec<(i64, i64, f32, i32)>> = pool.install(|| {
            chunk
                .par_iter()
                .map_init(Vec::new, |scratch, &(id, u)| {
                    model
                        .recommend(u, &q, scratch)
                        .iter()
                        .enumerate()
                        .map(|(r, s)| {
                            (
                                id,
                                model.items.int_id(s.index).unwrap_or_default(),
                                s.score,
                                r as i32 + 1,
                            )
                        })
                        .collect()
                })
                .collect()
        });
        rows.extend(part.into_iter().flatten());
        pgrx::check_for_interrupts!();
    }
    Ok(rows)
}

/// The top-k items to follow `recent` (oldest first) in an anonymous session, leaving out
/// `exclude`; ids the model does not know are skipped (NOTICE).
pub fn recommend_next(
    model_name: &str,
    recent: &[i64],
    k: usize,
    exclude: &[i64],
) -> SqlResult<Vec<(i64, f32, i32)>> {
    let (_, model) = cache::get(model_name)?;
    model.items.require_int("item").sql()?;
    let known: Vec<u32> = recent.iter().filter_map(|&i| model.items.index_of_int(i)).collect();
    if known.len() < recent.len() {
        notice!(
            "{} of the recent items are not in model '{model_name}'; they are skipped",
            recent.len() - known.len()
        );
    }
    let mut skip: Vec<u32> = exclude.iter().filter_map(|&i| model.items.index_of_int(i)).collect();
    skip.sort_unstable();
    skip.dedup();
    let top = model.recommend_next(&known, k, &skip).sql()?;
    Ok(int_rows(&model, &top))
}

pub fn similar_items(model_name: &str, item_id: i64, k: usize) -> SqlResult<Vec<(i64, f32, i32)>> {
    let (_, model) = cache::get(model_name)?;
    model.items.require_int("item").sql()?;
    let Some(i) = model.items.index_of_int(item_id) else {
        return Err(invalid(format!(
            "item {item_id} is not in model '{model_name}'"
        )));
    };
    let top = model.similar_items(i, k).sql()?;
    Ok(int_rows(&model, &top))
}
