//! mkt.train_recommender, and the reading and storing that mkt.tune_recommender shares with it.

use crate::gucs::MAX_MEMORY_MB;
use crate::catalog::{self, NewVersion};
use crate::error::{OrSql, required, SqlResult};
use crate::training_log::Live;
use crate::{features, gucs, parallel, source};
use mkt_core::ids::{IdKind, IdMap};
use mkt_core::interactions::{Interactions, RawInteractions};
use mkt_neural::{Encoded, Teacher};
use mkt_reco::{blob, Algorithm, Model, Side, TrainConfig};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

/// What a training call read: the interactions and, for neural models, the encoded features.
pub(super) struct Input {
    pub data: Interactions,
    pub user_col: String,
    pub item_col: String,
    pub weight_col: Option<String>,
    pub user_kind: IdKind,
    pub item_kind: IdKind,
    pub user_features: Option<Encoded>,
    pub item_features: Option<Encoded>,
    pub teacher: Option<TeacherModel>,
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

/// The deployed version of a neural model's teacher, with the student's users and items mapped
/// to the teacher's indices by id.
pub(super) struct TeacherModel {
    model: Arc<Model>,
    users: Vec<Option<u32>>,
    items: Vec<Option<u32>>,
    scratch: RefCell<Vec<f32>>,
}

impl TeacherModel {
    fn load(name: &str, data: &Interactions) -> SqlResult<Self> {
        let (_, model) = crate::cache::get(name)?;
        let map = |from: &IdMap, to: &IdMap| -> Vec<Option<u32>> {
            (0..from.len() as u32).map(|i| to.index_of(&from.id(i))).collect()
        };
        let users = map(&data.users, &model.users);
        let items = map(&data.items, &model.items);
        if users.iter().all(Option::is_none) || items.iter().all(Option::is_none) {
            return Err(crate::error::invalid(format!(
                "teacher '{name}' knows none of the training data's {}",
                if users.iter().all(Option::is_none) { "users" } else { "items" }
            )));
        }
        Ok(TeacherModel { model, users, items, scratch: RefCell::new(Vec::new()) })
    }
}

impl Teacher for TeacherModel {
    fn scores(&self, user: u32, out: &mut [f32]) -> bool {
        let Some(tu) = self.users[user as usize] else {
            return false;
        };
        let mut buf = self.scratch.borrow_mut();
        self.model.score_all(Some(tu), &mut buf);
        for (o, t) in out.iter_mut().zip(&self.items) {
            *o = t.map_or(f32::NAN, |t| buf[t as usize]);
        }
        true
    }
}

pub(super) fn parse_config(alg: Algorithm, params: &serde_json::Value) -> SqlResult<(TrainConfig, bool)> {
    TrainConfig::parse_with_device(alg, params, gucs::device_name()).sql()
}

/// Reads `source` (and the feature tables `config` names) into training input.
pub(super) fn read_input(
    source: &str,
    user_col: &str,
    item_col: &str,
    weight_col: Option<&str>,
    config: &TrainConfig,
) -> SqlResult<Input> {
    crate::error::require_primary("training")?;
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
    // Before anything large is allocated for the model.
    config
        .check_memory(&data, MAX_MEMORY_MB.get() as usize, "mkt.max_memory_mb")
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
    })
}

/// Trains `config` on `input`, stores the version (with its epochs) and deploys it if asked.
/// Returns (model_id, version, seconds since `started`).
#[allow(clippy::too_many_arguments)]
pub(super) fn train_and_store(
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
    let pool = parallel::pool()?;
    let mut live = Live::start(model_name, alg.name());
    let mut last_notice: Option<Instant> = None;
    let model = config
        .fit_with(
            &input.data,
            &input.side(),
            &pool,
            &mut parallel::progress(),
            &mut |e| {
                live.record(e);
                parallel::epoch_notice(e, &mut last_notice);
            },
        )
        .sql()?;
    if let Some((best, metric)) = live
        .epochs
        .iter()
        .filter_map(|(e, _)| e.metric.map(|m| (e.epoch, m)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
    {
        notice!(
            "pg_marketing: trained {} epochs; kept epoch {best} (validation ndcg@10 {metric:.4})",
            live.epochs.len()
        );
    }
    let bytes = blob::encode(&model).sql()?;
    let train_seconds = started.elapsed().as_secs_f64();
    let data = &input.data;
    let (model_id, version) = catalog::insert_version(&NewVersion {
        model_name,
        algorithm: alg.name(),
        params,
        source,
        user_col: &input.user_col,
        item_col: &input.item_col,
        weight_col: input.weight_col.as_deref(),
        user_id_type: input.user_kind.sql_type(),
        item_id_type: input.item_kind.sql_type(),
        n_users: data.n_users() as i64,
        n_items: data.n_items() as i64,
        n_interactions: data.n_rows as i64,
        train_seconds,
        blob: &bytes,
    })?;
    live.store(model_id)?;
    if deploy {
        catalog::deploy(model_name, model_id, deploy_reason)?;
    }
    Ok((model_id, version, train_seconds))
}

#[pg_extern(volatile, parallel_unsafe)]
fn train_recommender(
    model_name: Option<&str>,
    source: Option<&str>,
    user_col: default!(Option<&str>, "'user_id'"),
    item_col: default!(Option<&str>, "'item_id'"),
    weight_col: default!(Option<&str>, "NULL"),
    algorithm: default!(Option<&str>, "'als'"),
    params: default!(Option<pgrx::JsonB>, "'{}'"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(model_name, String),
            name!(version, i32),
            name!(algorithm, String),
            name!(n_users, i64),
            name!(n_items, i64),
            name!(n_interactions, i64),
            name!(train_seconds, f64),
        ),
    >,
    ErrorReport,
> {
    let model_name = required(model_name, "model_name")?;
    let source = required(source, "source")?;
    let user_col = required(user_col, "user_col")?;
    let item_col = required(item_col, "item_col")?;
    let algorithm = required(algorithm, "algorithm")?;
    let params = required(params, "params")?;
    let started = Instant::now();
    catalog::check_can_train(model_name)?;
    let alg = Algorithm::parse(algorithm).sql()?;
    let (config, deploy) = parse_config(alg, &params.0)?;
    let input = read_input(source, user_col, item_col, weight_col, &config)?;
    let (_, version, train_seconds) = train_and_store(
        model_name, source, alg, &config, &params.0, deploy, "trained", &input, started,
    )?;
    let data = &input.data;
    Ok(TableIterator::once((
        model_name.to_string(),
        version,
        alg.name().to_string(),
        data.n_users() as i64,
        data.n_items() as i64,
        data.n_rows as i64,
        train_seconds,
    )))
}
