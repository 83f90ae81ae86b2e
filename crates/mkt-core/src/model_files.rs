//! Model versions as files that every serving backend maps read-only.
//!
//! Decoded into private memory, a model costs each serving backend its own copy (a 1M-user x
//! 64-factor model: 256 MiB per connection). Mapped from one file, the kernel keeps one copy in
//! the page cache for all of them. The first backend that needs a version writes its bytes to a
//! temporary name and links it into place, so no one maps a half-written file; a file never
//! changes after that and goes when its version is dropped. The name holds the database, the
//! model id and the key of the stored bytes (the xmin of the blob rows and their length): after the
//! extension is dropped and created again, ids restart, and a leftover file must not pass for a new
//! model.
//!
//! The files are a cache: anything that goes wrong with them (a full or read-only disk) only costs
//! the sharing; the caller then decodes a private copy.

use crate::shared::Backing;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What identifies the stored bytes of a version: the xmin and total length of its blob rows.
pub type BlobKey = (i64, i64);

/// Files younger than this survive a sweep: their version may have committed after the sweeping
/// backend's snapshot was taken.
const SWEEP_MIN_AGE: Duration = Duration::from_secs(600);

struct MappedFile(memmap2::Mmap);

impl Backing for MappedFile {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The model files of one database in one folder.
pub struct FileStore {
    dir: PathBuf,
    database: u32,
}

impl FileStore {
    pub fn new(dir: impl Into<PathBuf>, database: u32) -> Self {
        FileStore {
            dir: dir.into(),
            database,
        }
    }

    fn prefix(&self, model_id: i64) -> String {
        format!("{}-{model_id}-", self.database)
    }

    pub fn file_name(&self, model_id: i64, (xmin, len): BlobKey) -> String {
        format!("{}{xmin}-{len}.model", self.prefix(model_id))
    }

    pub fn path(&self, model_id: i64, key: BlobKey) -> PathBuf {
        self.dir.join(self.file_name(model_id, key))
    }

    /// The file of a version mapped read-only, if it is there whole (`len` bytes); a file of
    /// another length is removed.
    pub fn map(&self, model_id: i64, key: BlobKey) -> Option<Arc<dyn Backing>> {
        let path = self.path(model_id, key);
        let map = std::fs::File::open(&path).and_then(|f| {
            // SAFETY: the file is only ever created whole under this name and never written again,
            // so the mapped bytes do not change while mapped (see the module comment).
            unsafe { memmap2::Mmap::map(&f) }
        });
        match map {
            Ok(m) if m.len() as i64 == key.1 => Some(Arc::new(MappedFile(m))),
            Ok(_) => {
                let _ = std::fs::remove_file(&path);
                None
            }
            Err(_) => None,
        }
    }

    pub fn exists(&self, model_id: i64, key: BlobKey) -> bool {
        self.path(model_id, key).exists()
    }

    /// Writes a version's bytes under its name, unless another backend got there first (its
    /// file then stays the one every backend maps). `live` are the keys of every stored version:
    /// older files of this database that match none are swept on the way.
    pub fn write(
        &self,
        model_id: i64,
        key: BlobKey,
        blob: &[u8],
        live: Option<Vec<(i64, BlobKey)>>,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        if let Some(live) = live {
            self.sweep(&live);
        }
        let path = self.path(model_id, key);
        let tmp = PathBuf::from(format!("{}.{}.tmp", path.display(), std::process::id()));
        std::fs::write(&tmp, blob)?;
        // A link, not a rename: when another backend got there first, its file stays the one every
        // backend maps (a rename would replace it, and the page cache would hold two copies).
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes this database's files whose version is gone (dropped, or from an earlier install
    /// of the extension). Backends still mapping one keep their mapping until they let go of it.
    fn sweep(&self, live: &[(i64, BlobKey)]) {
        let live: HashSet<String> = live.iter().map(|&(id, k)| self.file_name(id, k)).collect();
        let ours = format!("{}-", self.database);
        self.remove_where(|e, name| {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().unwrap_or_default() > SWEEP_MIN_AGE);
            old && name.starts_with(&ours) && name.ends_with(".model") && !live.contains(name)
        });
    }

    /// Removes the files of dropped or rewritten versions now rather than at the next sweep.
    pub fn forget(&self, model_ids: &[i64]) {
        let prefixes: Vec<String> = model_ids.iter().map(|&id| self.prefix(id)).collect();
        self.remove_where(|_, name| prefixes.iter().any(|p| name.starts_with(p)));
    }

    fn remove_where(&self, doomed: impl Fn(&std::fs::DirEntry, &str) -> bool) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            if doomed(&e, &e.file_name().to_string_lossy()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(db: u32) -> (FileStore, PathBuf) {
        let dir = std::env::temp_dir().join(format!("mkt-model-files-{}-{db}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        (FileStore::new(&dir, db), dir)
    }

    #[test]
    fn a_written_file_maps_whole_and_is_never_replaced() {
        let (s, dir) = store(1);
        assert!(s.map(7, (100, 3)).is_none(), "nothing written yet");
        s.write(7, (100, 3), b"abc", None).unwrap();
        assert_eq!(s.map(7, (100, 3)).unwrap().bytes(), b"abc");
        // a second writer keeps the first file
        s.write(7, (100, 3), b"xyz", None).unwrap();
        assert_eq!(s.map(7, (100, 3)).unwrap().bytes(), b"abc");
        // a file whose length is not the key's is removed, not mapped
        std::fs::write(s.path(8, (5, 10)), b"short").unwrap();
        assert!(s.map(8, (5, 10)).is_none() && !s.exists(8, (5, 10)));
        // no temporary file is left behind
        let names: Vec<String> = std::fs::read_dir(&dir).unwrap().flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec!["1-7-100-3.model".to_string()]);
        s.forget(&[7]);
        assert!(!s.exists(7, (100, 3)));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn names_hold_the_database_and_forget_only_touches_its_versions() {
        let (s, dir) = store(2);
        let other = FileStore::new(&dir, 3);
        s.write(1, (1, 1), b"a", None).unwrap();
        s.write(12, (1, 1), b"b", None).unwrap();
        other.write(1, (1, 1), b"c", None).unwrap();
        s.forget(&[1]);
        assert!(!s.exists(1, (1, 1)) && s.exists(12, (1, 1)) && other.exists(1, (1, 1)));
        // a sweep spares young files, whatever the catalog says
        s.write(13, (1, 1), b"d", Some(vec![])).unwrap();
        assert!(s.exists(12, (1, 1)));
        let _ = std::fs::remove_dir_all(dir);
    }
}
