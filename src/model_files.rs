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

use crate::catalog::{self, BlobKey};
use crate::error::{OrSql, SqlResult};
use mkt_core::shared::Backing;
use mkt_reco::Model;
use pgrx::prelude::*;
use std::collections::HashSet;
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

fn file_name(model_id: i64, (xmin, len): BlobKey) -> String {
    format!("{}{xmin}-{len}.model", prefix(model_id))
}

/// The version decoded with its large arrays viewing a shared file mapping; `None` when the file
/// cannot be made or mapped (the caller then decodes a private copy).
pub fn load_mapped(model_id: i64, key: BlobKey) -> SqlResult<Option<Model>> {
    let len = key.1;
    if len == 0 {
        return Ok(None); // no bytes stored: the private decode reports it
    }
    let path = Path::new(DIR).join(file_name(model_id, key));
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
    let Ok(keys) = catalog::blob_keys() else {
        return;
    };
    let live: HashSet<String> = keys.into_iter().map(|(id, k)| file_name(id, k)).collect();
    let ours = format!("{}-", database());
    remove_where(|e, name| {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > SWEEP_MIN_AGE);
        old && name.starts_with(&ours) && name.ends_with(".model") && !live.contains(name)
    });
}

/// Removes the files of dropped versions now rather than at the next sweep; if the drop rolls
/// back, the next load writes the file again.
pub fn forget(model_ids: &[i64]) {
    let prefixes: Vec<String> = model_ids.iter().map(|&id| prefix(id)).collect();
    remove_where(|_, name| prefixes.iter().any(|p| name.starts_with(p)));
}

fn remove_where(doomed: impl Fn(&std::fs::DirEntry, &str) -> bool) {
    let Ok(entries) = std::fs::read_dir(DIR) else {
        return;
    };
    for e in entries.flatten() {
        if doomed(&e, &e.file_name().to_string_lossy()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
