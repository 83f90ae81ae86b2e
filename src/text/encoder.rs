//! The sentence encoder of this backend: its tokenizer loaded and its weights mapped from the
//! folder `mkt.text_model` names on first use, kept until that setting names another folder. The
//! mapped weights are the page cache's one copy, shared by every backend. The pure work is
//! mkt_text's.

use std::cell::RefCell;
use std::ffi::CStr;
use std::path::PathBuf;

use crate::pg::error::{report, OrSql, SqlResult};
use crate::pg::gucs::TEXT_MODEL;
use crate::pg::pool::pool;
use crate::pg::progress::progress;
use mkt_core::progress::{Progress, Tick};
use mkt_core::Error;
use mkt_text::encoder::TextEncoder;

thread_local! {
    // Only the backend's main thread calls in: a RefCell is enough.
    static ENCODER: RefCell<Option<TextEncoder>> = const { RefCell::new(None) };
}

/// The folder the setting names, or the one `make text-model` installs into.
pub fn folder() -> PathBuf {
    if let Some(f) = TEXT_MODEL.get() {
        let f = f.to_string_lossy().into_owned();
        if !f.is_empty() {
            return PathBuf::from(f);
        }
    }
    let mut buf = [0 as std::ffi::c_char; pgrx::pg_sys::MAXPGPATH as usize];
    // SAFETY: my_exec_path is the backend's own NUL-terminated path, set before any call runs, and
    // buf has the MAXPGPATH bytes get_share_path writes at most.
    let share = unsafe {
        pgrx::pg_sys::get_share_path(
            std::ptr::addr_of!(pgrx::pg_sys::my_exec_path).cast(),
            buf.as_mut_ptr(),
        );
        CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
    };
    PathBuf::from(share)
        .join("pg_marketing")
        .join("all-MiniLM-L6-v2")
}

/// Runs `f` with this backend's encoder, loading it first when needed.
fn with_encoder<T>(f: impl FnOnce(&TextEncoder) -> SqlResult<T>) -> SqlResult<T> {
    let want = folder();
    ENCODER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().map(|e| e.folder()) != Some(want.as_path()) {
            *slot = None;
            let enc = TextEncoder::load(&want).map_err(|e| match e {
                Error::MissingFile(m) => report(Error::MissingFile(format!(
                    "{m}: install all-MiniLM-L6-v2 there with `make text-model` (scripts/text_model.sh) from the pg_marketing source, or set mkt.text_model to a folder that holds it"
                ))),
                other => report(other),
            })?;
            *slot = Some(enc);
        }
        f(slot.as_ref().expect("loaded above"))
    })
}

/// The length of this backend's vectors (384 for all-MiniLM-L6-v2); loads the encoder.
pub fn dim() -> SqlResult<usize> {
    with_encoder(|enc| Ok(enc.dim()))
}

/// One vector per text (None for NULL), each L2-normalised; blank texts give zero vectors.
pub fn embed(texts: &[Option<&str>]) -> SqlResult<Vec<Option<Vec<f32>>>> {
    let present: Vec<&str> = texts.iter().flatten().copied().collect();
    let vectors = with_encoder(|enc| {
        let threads = pool()?;
        let mut reporter = progress();
        let total = present.len();
        enc.embed(&present, Some(&threads), |done| {
            reporter.tick(&Progress {
                phase: "embed",
                done,
                total,
            });
            Ok(())
        })
        .sql()
    })?;
    let mut vectors = vectors.into_iter();
    Ok(texts
        .iter()
        .map(|t| t.and_then(|_| vectors.next()))
        .collect())
}
