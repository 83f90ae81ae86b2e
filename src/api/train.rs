//! mkt.train_recommender

use crate::catalog::{self, NewVersion};
use crate::error::OrSql;
use crate::{parallel, source};
use mkt_core::interactions::{Interactions, RawInteractions};
use mkt_reco::{blob, Algorithm, TrainConfig};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use std::time::Instant;

#[pg_extern(volatile, parallel_unsafe)]
fn train_recommender(
    model_name: &str,
    source: &str,
    user_col: default!(&str, "'user_id'"),
    item_col: default!(&str, "'item_id'"),
    weight_col: default!(Option<&str>, "NULL"),
    algorithm: default!(&str, "'als'"),
    params: default!(pgrx::JsonB, "'{}'"),
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
    let started = Instant::now();
    catalog::check_model_name(model_name)?;
    let alg = Algorithm::parse(algorithm).sql()?;
    let (config, deploy) = TrainConfig::parse(alg, &params.0).sql()?;

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
    let pairs = source::read_pairs(
        &src,
        &source::PairSpec {
            user: (&ucol.name, ukind),
            item: (&icol.name, ikind),
            weight: wcol,
        },
    )?;
    if pairs.skipped_nulls > 0 {
        notice!(
            "skipped {} rows with a NULL user, item or weight",
            pairs.skipped_nulls
        );
    }
    let raw = RawInteractions {
        users: pairs.users,
        items: pairs.items,
        weights: pairs.weights,
    };
    let data = Interactions::build(&raw).sql()?;
    let pool = parallel::pool()?;
    let model = config.fit(&data, &pool, &mut parallel::progress()).sql()?;
    let bytes = blob::encode(&model).sql()?;
    let train_seconds = started.elapsed().as_secs_f64();

    let (model_id, version) = catalog::insert_version(&NewVersion {
        model_name,
        algorithm: alg.name(),
        params: &params.0,
        source,
        user_col: &ucol.name,
        item_col: &icol.name,
        weight_col: wcol,
        user_id_type: ukind.sql_type(),
        item_id_type: ikind.sql_type(),
        n_users: data.n_users() as i64,
        n_items: data.n_items() as i64,
        n_interactions: data.n_rows as i64,
        train_seconds,
        blob: &bytes,
    })?;
    if deploy {
        catalog::deploy(model_name, model_id)?;
    }
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
