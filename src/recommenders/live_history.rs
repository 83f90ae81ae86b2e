//! A sequence model's live history (`params.history_source`): checked when the model is trained,
//! read when a user is served, so an event written a second ago changes the next recommendation.

use crate::pg::error::{OrSql, SqlResult};
use crate::pg::table_rows::{self, Key};
use crate::pg::{plans, source};
use crate::recommenders::catalog;
use mkt_core::ids::{Id, IdKind, IdMap};
use mkt_core::names::{parse_source, quote_shown, Source};
use mkt_core::Error;
use mkt_reco::sequential::LiveHistory;
use mkt_reco::Model;
use pgrx::prelude::*;

/// Checks `history_source` against the training source's column names and id kinds. A table
/// without an index led by the user column still serves correctly (reading it whole each call),
/// so that is a NOTICE naming the index to create.
pub fn check(
    history_source: &str,
    user: (&str, IdKind),
    item: (&str, IdKind),
    time_col: &str,
) -> SqlResult<LiveHistory> {
    if let Source::Query(_) = parse_source(history_source).sql()? {
        return Err(Error::WrongObjectType(
            "params.history_source must name a table or view (it is read on every call)".into(),
        ))
        .sql();
    }
    let src = source::resolve(history_source)?;
    let cols = source::describe(&src)?;
    let ucol = source::find_exact(&cols, user.0, "history user")?;
    let icol = source::find_exact(&cols, item.0, "history item")?;
    let tcol = source::find_exact(&cols, time_col, "history time")?;
    source::check_time(tcol, "history time")?;
    for (col, want, role) in [(ucol, user.1, "user"), (icol, item.1, "item")] {
        if source::id_kind(col, role)? != want {
            return Err(Error::WrongType(format!(
                "history_source column {} is {}, but the model's {role} ids are {}",
                quote_shown(&col.name),
                col.type_name,
                want.sql_type()
            )))
            .sql();
        }
    }
    if src.stored && !catalog::indexed_by(&src.from, &ucol.name)? {
        notice!(
            "history_source {} has no index led by {}, so each call reads it whole; \
             create one: CREATE INDEX ON {} ({}, {} DESC) INCLUDE ({})",
            quote_shown(history_source),
            quote_shown(&ucol.name),
            src.from,
            mkt_core::names::quote_ident(&ucol.name),
            mkt_core::names::quote_ident(&tcol.name),
            mkt_core::names::quote_ident(&icol.name)
        );
    }
    Ok(LiveHistory {
        source: src.from,
        user_col: ucol.name.clone(),
        user_type: ucol.type_name.clone(),
        item_col: icol.name.clone(),
        time_col: tcol.name.clone(),
    })
}

/// `user`'s latest events in `live` as item indices of `model`, oldest first (items the model
/// does not know are left out).
pub fn latest(model: &Model, live: &LiveHistory, user: &Id) -> SqlResult<Vec<u32>> {
    let int_items = matches!(model.items, IdMap::Int(_));
    let key = match user {
        Id::Int(v) => Key::Int8(*v),
        Id::Text(t) => Key::Text(t),
    };
    let mut recent = Vec::new();
    let types: &[pg_sys::Oid] = match int_items {
        true => &[pg_sys::INT8OID, pg_sys::INT4OID, pg_sys::INT2OID],
        false => &[pg_sys::TEXTOID],
    };
    let direct = table_rows::newest(
        &live.source,
        (&live.user_col, &live.time_col, &live.item_col),
        key,
        model.sequence_length(),
        types,
        |d, type_oid| {
            // SAFETY: a stored datum of the item column, of type `type_oid` (one of `types`),
            // valid during the call.
            let index = unsafe {
                match type_oid {
                    pg_sys::INT8OID => i64::from_datum(d, false),
                    pg_sys::INT4OID => i32::from_datum(d, false).map(i64::from),
                    pg_sys::INT2OID => i16::from_datum(d, false).map(i64::from),
                    _ => None,
                }
                .map_or_else(
                    || {
                        <&str>::from_datum(d, false)
                            .and_then(|s| model.items.index_of(&Id::Text(s.to_string())))
                    },
                    |i| model.items.index_of_int(i),
                )
            };
            recent.extend(index);
        },
    );
    if direct {
        recent.reverse();
        return Ok(recent);
    }
    let sql = live.query(
        model.sequence_length(),
        matches!(user, Id::Int(_)),
        int_items,
    );
    let arg = match user {
        Id::Int(v) => (*v).into(),
        Id::Text(t) => t.as_str().into(),
    };
    let mut recent: Vec<u32> = Spi::connect(|c| {
        let t = plans::select_built(c, &sql, &[arg])?;
        let mut out = Vec::new();
        for row in t {
            let index = match int_items {
                true => row.get::<i64>(1)?.and_then(|i| model.items.index_of_int(i)),
                false => row
                    .get::<String>(1)?
                    .and_then(|s| model.items.index_of(&Id::Text(s))),
            };
            out.extend(index);
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .sql()?;
    recent.reverse();
    Ok(recent)
}
