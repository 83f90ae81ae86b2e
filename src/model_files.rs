//! Model versions as files under the data directory, mapped read-only by every backend that
//! serves them.
//!
//! Decoded into private memory, a model costs each serving backend its own copy (a 1M-user x
//! 64-factor model: 256 MiB per connection). Mapped from one file, the kernel keeps one copy in
//! the page cache for all of them. The first backend that needs a version writes its blob to a
//! temporary name and links it into place, so no one maps a half-written file; a file never changes after
//! that and goes when its version is dropped. The name holds the database, the model id, the xmin
//! of the blob rows and their length: after the extension is dropped and created again, ids
//! restart, and a leftover file must not pass for a new model.
//!
//! The files are a cache: anything that goes wrong with them (a full or read-only disk) falls back
//! to decoding the blob into private memory, and a hot standby writes its own.

use crate::catalog;
use crate::error::{OrSql, SqlResult};
use mkt_core::shared::Backing;
use mkt_reco::Model;
use pgrx::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Relative to the data directory, which is every backend's working directory.
const DIR: &str = "pg_marketing_models";

struct MappedFile(memmap2::Mmap);

impl Backing for MappedFile {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

fn database() -> u32 {
    // SAFETY: MyDatabaseId is set once the backend is connected, before any SQL function runs.
    unsafe { pg_sys::MyDatabaseId }.to_u32()
}

fn prefix(model_id: i64) -> String {
    format!("{}-{model_id}-", database())
}

/// What identifies the stored bytes of a version: (xmin of its blob rows, total length).
fn stored_key(model_id: i64) -> SqlResult<Option<(i64, i64)>> {
    Spi::connect(|c| {
        let t = c.select(
            "SELECT min(xmin::text::bigint), sum(octet_length(data))::bigint \
             FROM mkt.model_blobs WHERE model_id = $1",
            None,
            &[model_id.into()],
        )?;
        let row = t.first();
        Ok::<_, pgrx::spi::Error>(match (row.get::<i64>(1)?, row.get::<i64>(2)?) {
            (Some(x), Some(n)) => Some((x, n)),
            _ => None,
        })
    })
    .sql()
}

/// The version decoded with its large arrays viewing a shared file mapping; `None` when the file
/// cannot be made or mapped (the caller then decodes a private copy).
pub fn load_mapped(model_id: i64) -> SqlResult<Option<Model>> {
    let Some((xmin, len)) = stored_key(model_id)? else {
        return Ok(None);
    };
    let path = Path::new(DIR).join(format!("{}{xmin}-{len}.model", prefix(model_id)));
    if !path.exists() {
        let blob = catalog::load_blob(model_id)?;
        if let Err(e) = write_new(&path, &blob) {
            pgrx::debug1!("pg_marketing: cannot write {}: {e}", path.display());
            return Ok(Some(mkt_reco::blob::decode(&blob).sql()?));
        }
    }
    let map = match std::fs::File::open(&path).and_then(|f| {
        // SAFETY: the file is only ever created whole under this name and never written again, so
        // the mapped bytes do not change while mapped (see the module comment).
        unsafe { memmap2::Mmap::map(&f) }
    }) {
        Ok(m) if m.len() as i64 == len => m,
        Ok(_) | Err(_) => {
            let _ = std::fs::remove_file(&path);
            return Ok(None);
        }
    };
    Ok(Some(
        mkt_reco::blob::decode_mapped(Arc::new(MappedFile(map))).sql()?,
    ))
}

fn write_new(path: &Path, blob: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(DIR)?;
    sweep();
    let tmp = PathBuf::from(format!("{}.{}.tmp", path.display(), std::process::id()));
    std::fs::write(&tmp, blob)?;
    // A link, not a rename: when another backend got there first, its file stays the one every
    // backend maps (a rename would replace it, and the page cache would hold two copies).
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Files younger than this survive a sweep: their version may have committed after the sweeping
/// backend's snapshot was taken.
const SWEEP_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes this database's files whose version is gone (dropped, or from an earlier install of
/// the extension). Backends still mapping one keep their mapping until they let go of it.
fn sweep() {
    let Ok(live) = Spi::connect(|c| {
        c.select(
            "SELECT model_id, min(xmin::text::bigint), sum(octet_length(data))::bigint \
             FROM mkt.model_blobs GROUP BY model_id",
            None,
            &[],
        )?
        .map(|r| {
            Ok(format!(
                "{}{}-{}.model",
                prefix(r.get::<i64>(1)?.unwrap_or(0)),
                r.get::<i64>(2)?.unwrap_or(0),
                r.get::<i64>(3)?.unwrap_or(0)
            ))
        })
        .collect::<Result<std::collections::HashSet<String>, pgrx::spi::Error>>()
    }) else {
        return;
    };
    let ours = format!("{}-", database());
    let Ok(entries) = std::fs::read_dir(DIR) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > SWEEP_MIN_AGE);
        if old && name.starts_with(&ours) && name.ends_with(".model") && !live.contains(&name) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Removes the files of dropped versions now rather than at the next sweep; if the drop rolls
/// back, the next load writes the file again.
pub fn forget(model_ids: &[i64]) {
    let Ok(entries) = std::fs::read_dir(DIR) else {
        return;
    };
    let prefixes: Vec<String> = model_ids.iter().map(|&id| prefix(id)).collect();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if prefixes.iter().any(|p| name.starts_with(p)) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
