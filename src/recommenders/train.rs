//! Training a recommender: reading the source (and feature tables, and a teacher) into training
//! input, fitting, and storing the version; mkt.train_recommender, mkt.tune_recommender and
//! mkt.retrain share it.

use crate::models::catalog::{self, NewVersion};
use crate::models::{access, lifecycle};
use crate::pg::error::{require_primary, OrSql, SqlResult};
use crate::pg::gucs::{self, MAX_MEMORY_MB};
use crate::pg::live::Live;
use crate::pg::{pool, progress, source};
use crate::recommenders::features;
use crate::recommenders::teacher::TeacherModel;
use mkt_core::ids::IdKind;
use mkt_core::interactions::{Interactions, RawInteractions};
use mkt_neural::{Encoded, Teacher};
use mkt_reco::sequential::LiveHistory;
use mkt_reco::{blob, Algorithm, Payload, Side, TrainConfig};
use pgrx::prelude::*;
use std::time::Instant;

/// What a training call read: the interactions and, for neural models, the encoded features.
pub struct Input {
    pub data: Interactions,
    pub user_col: String,
    pub item_col: String,
    pub weight_col: Option<String>,
    pub user_kind: IdKind,
    pub item_kind: IdKind,
    pub user_features: Option<Encoded>,
    pub item_features: Option<Encoded>,
    pub teacher: Option<TeacherModel>,
    /// Where a sequence model's serving reads histories at call time.
    pub live: Option<LiveHistory>,
}

impl Input {
    pub fn side(&self) -> Side<'_> {
        Side {
            users: self.user_features.as_ref(),
            items: self.item_features.as_ref(),
            teacher: self.teacher.as_ref().map(|t| t as &dyn Teacher),
        }
    }
}

pub fn parse_config(alg: Algorithm, params: &serde_json::Value) -> SqlResult<(TrainConfig, bool)> {
    TrainConfig::parse_with_device(alg, params, gucs::device_name()).sql()
}

/// Reads `source` (and the feature tables `config` names) into training input.
pub fn read_input(
    source: &str,
    user_col: &str,
    item_col: &str,
    weight_col: Option<&str>,
    config: &TrainConfig,
) -> SqlResult<Input> {
    require_primary("training")?;
    // Before the interactions: a key column of the wrong type should fail before a long read.
    let (user_spec, item_spec) = config.feature_specs();
    let user_table = user_spec.map(|s| features::read(s, "user")).transpose()?;
    let item_table = item_spec.map(|s| features::read(s, "item")).transpose()?;
    let src = source::resolve(source)?;
    let cols = source::describe(&src)?;
    let ucol = source::find(&cols, user_col, "user")?;
    let icol = source::find(&cols, item_col, "item")?;
    let ukind = source::id_kind(ucol, "user")?;
    let ikind = source::id_kind(icol, "item")?;
    let wcol = match weight_col {
        Some(w) => {
            let c = source::find(&cols, w, "weight")?;
            source::check_number(c, "weight")?;
            Some(c.name.as_str())
        }
        None => None,
    };
    let tcol = match config.time_col() {
        Some(t) => {
            let c = source::find(&cols, t, "time")?;
            source::check_time(c, "time")?;
            Some(c)
        }
        None => None,
    };
    // Before the long read: a history source that cannot serve fails the call now.
    let live = match (config.history_source(), tcol) {
        (Some(h), Some(t)) => Some(crate::recommenders::live_history::check(
            h,
            (&ucol.name, ukind),
            (&icol.name, ikind),
            &t.name,
        )?),
        _ => None,
    };
    let pairs = source::read_pairs(
        &src,
        &source::PairSpec {
            user: (&ucol.name, ukind),
            item: (&icol.name, ikind),
            weight: wcol,
            time: tcol,
        },
    )?;
    if pairs.skipped_nulls > 0 {
        notice!(
            "skipped {} rows with a NULL user, item, weight or time",
            pairs.skipped_nulls
        );
    }
    let raw = RawInteractions {
        users: pairs.users,
        items: pairs.items,
        weights: pairs.weights,
        times: tcol.map(|_| pairs.times),
    };
    let data = Interactions::build_with(
        &raw,
        user_table.as_ref().map(|t| &t.keys),
        item_table.as_ref().map(|t| &t.keys),
    )
    .sql()?;
    // Before anything large is allocated for the model; the feature tables (text features above
    // all) are already in memory and count against the same limit.
    let held = [&user_table, &item_table]
        .iter()
        .filter_map(|t| t.as_ref().map(|t| t.numeric_bytes()))
        .sum();
    config
        .check_memory(&data, held, MAX_MEMORY_MB.get() as usize, "mkt.max_memory_mb")
        .sql()?;
    let buckets = config.hash_buckets();
    let user_features = user_table
        .map(|t| t.encode("user", &data.users, buckets))
        .transpose()
        .sql()?;
    let item_features = item_table
        .map(|t| t.encode("item", &data.items, buckets))
        .transpose()
        .sql()?;
    let teacher = config
        .teacher()
        .map(|name| TeacherModel::load(name, &data))
        .transpose()?;
    Ok(Input {
        data,
        user_col: ucol.name.clone(),
        item_col: icol.name.clone(),
        weight_col: wcol.map(str::to_string),
        user_kind: ukind,
        item_kind: ikind,
        user_features,
        item_features,
        teacher,
        live,
    })
}

/// Trains `config` on `input`, stores the version (with its epochs) and deploys it if asked.
/// Returns (model_id, version, seconds since `started`).
#[allow(clippy::too_many_arguments)]
pub fn train_and_store(
    model_name: &str,
    source: &str,
    alg: Algorithm,
    config: &TrainConfig,
    params: &serde_json::Value,
    deploy: bool,
    deploy_reason: &str,
    input: &Input,
    started: Instant,
) -> SqlResult<(i64, i32, f64)> {
    let pool = pool::pool()?;
    let mut live = Live::start(model_name, alg.name());
    let mut last_notice: Option<Instant> = None;
    let mut model = config
        .fit_with(
            &input.data,
            &input.side(),
            &pool,
            &mut progress::progress(),
            &mut |e| {
                live.record(e);
                progress::epoch_notice(e, &mut last_notice);
            },
        )
        .sql()?;
    if let Some((best, metric)) = live
        .epochs()
        .iter()
        .filter_map(|(e, _)| e.metric.map(|m| (e.epoch, m)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
    {
        notice!(
            "pg_marketing: trained {} epochs; kept epoch {best} (validation ndcg@10 {metric:.4})",
            live.epochs().len()
        );
    }
    if let (Some(live), Payload::Sequential(m)) = (&input.live, &mut model.payload) {
        m.live = Some(live.clone());
    }
    let bytes = blob::encode(&model).sql()?;
    let train_seconds = started.elapsed().as_secs_f64();
    let data = &input.data;
    let (model_id, version) = lifecycle::store(&NewVersion {
        model_name,
        algorithm: alg.name(),
        params,
        source,
        user_col: &input.user_col,
        item_col: Some(&input.item_col),
        weight_col: input.weight_col.as_deref(),
        user_id_type: input.user_kind.sql_type(),
        item_id_type: Some(input.item_kind.sql_type()),
        n_users: data.n_users() as i64,
        n_items: data.n_items() as i64,
        n_interactions: data.n_rows as i64,
        train_seconds,
        blob: &bytes,
    })?;
    catalog::store_epochs(model_id, live.epochs())?;
    if deploy {
        lifecycle::deploy(model_name, model_id, deploy_reason)?;
    }
    Ok((model_id, version, train_seconds))
}

/// What mkt.train_recommender returns.
pub struct Trained {
    pub version: i32,
    pub algorithm: &'static str,
    pub n_users: i64,
    pub n_items: i64,
    pub n_interactions: i64,
    pub train_seconds: f64,
}

/// mkt.train_recommender: a new version of `model_name` from `source`.
pub fn train(
    model_name: &str,
    source: &str,
    user_col: &str,
    item_col: &str,
    weight_col: Option<&str>,
    algorithm: &str,
    params: &serde_json::Value,
) -> SqlResult<Trained> {
    let started = Instant::now();
    access::check_can_train(model_name)?;
    let alg = Algorithm::parse(algorithm).sql()?;
    let (config, deploy) = parse_config(alg, params)?;
    let input = read_input(source, user_col, item_col, weight_col, &config)?;
    let (_, version, train_seconds) = train_and_store(
        model_name, source, alg, &config, params, deploy, "trained", &input, started,
    )?;
    let data = &input.data;
    Ok(Trained {
        version,
        algorithm: alg.name(),
        n_users: data.n_users() as i64,
        n_items: data.n_items() as i64,
        n_interactions: data.n_rows as i64,
        train_seconds,
    })
}
