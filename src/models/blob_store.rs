//! Model versions as files under the data directory, mapped read-only by every backend that
//! serves them (mkt-core's `FileStore`; see its module comment). A hot standby writes its own.
//!
//! A version's files are built once per server: by the transaction that deploys it, or else by
//! the first caller, while other callers wait for that builder instead of building their own.

use crate::models::catalog::BlobKey;
use crate::models::stored::Stored;
use crate::pg::error::{OrSql, SqlResult};
use mkt_core::model_files::{BuildLock, FileStore};
use pgrx::pg_sys;
use std::time::{Duration, Instant};

/// Relative to the data directory, which is every backend's working directory.
const DIR: &str = "pg_marketing_models";

/// How often a caller waiting for another backend's build looks again.
const WAIT_STEP: Duration = Duration::from_millis(5);

fn store() -> FileStore {
    // SAFETY: MyDatabaseId is set once the backend is connected, before any SQL function runs.
    FileStore::new(DIR, unsafe { pg_sys::MyDatabaseId }.to_u32())
}

/// Where the stored bytes come from when a file must be written: the version's blob, and the keys
/// of the versions whose files stay (the others are swept).
pub struct Blobs<B, K> {
    pub blob: B,
    pub live_keys: K,
}

/// The version decoded with its large arrays viewing the shared files of the version, built
/// first if they are missing; `None` when they cannot be made or mapped (the caller then decodes
/// a private copy).
pub fn load_mapped<B, K>(model_id: i64, key: BlobKey, from: Blobs<B, K>) -> SqlResult<Option<Stored>>
where
    B: FnOnce() -> SqlResult<Vec<u8>>,
    K: FnOnce() -> SqlResult<Vec<(i64, BlobKey)>>,
{
    if !ensure_files(model_id, key, from)? {
        return Ok(None);
    }
    map(&store(), model_id, key)
}

/// Makes sure both files of the version are in place, building them (once per server: other
/// callers wait for the builder) when they are missing; false when they cannot be made.
pub fn ensure_files<B, K>(model_id: i64, key: BlobKey, from: Blobs<B, K>) -> SqlResult<bool>
where
    B: FnOnce() -> SqlResult<Vec<u8>>,
    K: FnOnce() -> SqlResult<Vec<(i64, BlobKey)>>,
{
    if key.1 == 0 {
        return Ok(false); // no bytes stored: the private decode reports it
    }
    let files = store();
    if files.ready(model_id, key) {
        return Ok(true);
    }
    let lock = match wait_for_lock(&files, model_id, key) {
        Ok(lock) => lock,
        Err(e) => {
            pgrx::debug1!("pg_marketing: cannot lock a model file: {e}");
            return Ok(false);
        }
    };
    files.revive(&lock, model_id, key);
    // Another backend may have built them while this one waited.
    if !files.ready(model_id, key) {
        build(&files, &lock, model_id, key, from)?;
    }
    Ok(files.ready(model_id, key))
}

/// Takes the build lock of a version's files, waiting (interruptibly) while another backend
/// holds it.
fn wait_for_lock(files: &FileStore, model_id: i64, key: BlobKey) -> std::io::Result<BuildLock> {
    loop {
        if let Some(lock) = files.try_lock(model_id, key)? {
            return Ok(lock);
        }
        pgrx::check_for_interrupts!();
        std::thread::sleep(WAIT_STEP);
    }
}

fn build<B, K>(
    files: &FileStore,
    lock: &BuildLock,
    model_id: i64,
    key: BlobKey,
    from: Blobs<B, K>,
) -> SqlResult<()>
where
    B: FnOnce() -> SqlResult<Vec<u8>>,
    K: FnOnce() -> SqlResult<Vec<(i64, BlobKey)>>,
{
    let started = Instant::now();
    if !files.exists(model_id, key) {
        let blob = (from.blob)()?;
        if let Err(e) = files.write_model(lock, model_id, key, &blob, (from.live_keys)().ok()) {
            pgrx::debug1!("pg_marketing: cannot write a model file: {e}");
            return Ok(());
        }
    }
    let Some(bytes) = files.map(model_id, key) else {
        return Ok(());
    };
    let serving = Stored::decode_mapped(bytes).sql()?.encode_serving().sql()?;
    if let Err(e) = files.write_serving(lock, model_id, key, &serving) {
        pgrx::debug1!("pg_marketing: cannot write a serving file: {e}");
        return Ok(());
    }
    // In the server log, so a build per version and server can be told from one per backend.
    pgrx::log!(
        "pg_marketing: built the serving files of model id {model_id} in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

fn map(files: &FileStore, model_id: i64, key: BlobKey) -> SqlResult<Option<Stored>> {
    let (Some(bytes), Some(serving)) = (files.map(model_id, key), files.map_serving(model_id, key))
    else {
        return Ok(None);
    };
    let stored = Stored::decode_mapped(bytes).sql()?;
    if let Err(e) = stored.attach_serving(serving) {
        // A damaged serving file costs a private index, not the call.
        pgrx::debug1!("pg_marketing: cannot use a serving file: {e}");
    }
    Ok(Some(stored))
}

/// Removes the files of versions now; if the transaction rolls back, the next load writes them
/// again.
pub fn forget(model_ids: &[i64]) {
    store().forget(model_ids);
}

/// Retires a version's files once the transaction commits: backends still serving it keep their
/// mappings, and a later build removes the files after they had a minute to let go (see
/// `FileStore::retire`).
pub fn retire_at_commit(model_id: i64) {
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, move || {
        store().retire(&[model_id])
    });
}
