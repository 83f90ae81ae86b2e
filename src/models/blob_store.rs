//! Model versions as files under the data directory, mapped read-only by every backend that
//! serves them (mkt-core's `FileStore`; see its module comment). A hot standby writes its own.

use crate::models::catalog::BlobKey;
use crate::pg::error::{OrSql, SqlResult};
use mkt_core::model_files::FileStore;
use crate::models::stored::Stored;
use pgrx::pg_sys;

/// Relative to the data directory, which is every backend's working directory.
const DIR: &str = "pg_marketing_models";

fn store() -> FileStore {
    // SAFETY: MyDatabaseId is set once the backend is connected, before any SQL function runs.
    FileStore::new(DIR, unsafe { pg_sys::MyDatabaseId }.to_u32())
}

/// Where the stored bytes come from when a file must be written: the version's blob, and the keys
/// of every stored version (files of the others are swept).
pub struct Blobs<B, K> {
    pub blob: B,
    pub live_keys: K,
}

/// The version decoded with its large arrays viewing a shared file mapping; `None` when the file
/// cannot be made or mapped (the caller then decodes a private copy).
pub fn load_mapped<B, K>(model_id: i64, key: BlobKey, from: Blobs<B, K>) -> SqlResult<Option<Stored>>
where
    B: FnOnce() -> SqlResult<Vec<u8>>,
    K: FnOnce() -> SqlResult<Vec<(i64, BlobKey)>>,
{
    if key.1 == 0 {
        return Ok(None); // no bytes stored: the private decode reports it
    }
    let files = store();
    if !files.exists(model_id, key) {
        let blob = (from.blob)()?;
        if let Err(e) = files.write(model_id, key, &blob, (from.live_keys)().ok()) {
            pgrx::debug1!("pg_marketing: cannot write a model file: {e}");
            return Ok(Some(Stored::decode(&blob).sql()?));
        }
    }
    match files.map(model_id, key) {
        Some(bytes) => Ok(Some(Stored::decode_mapped(bytes).sql()?)),
        None => Ok(None),
    }
}

/// Removes the files of dropped or rewritten versions now; if the transaction rolls back, the
/// next load writes them again.
pub fn forget(model_ids: &[i64]) {
    store().forget(model_ids);
}
