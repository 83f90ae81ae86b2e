//! Model versions as files that every serving backend maps read-only.
//!
//! Decoded into private memory, a model costs each serving backend its own copy (a 1M-user x
//! 64-factor model: 256 MiB per connection). Mapped from one file, the kernel keeps one copy in
//! the page cache for all of them. Each version has two files: its stored bytes (`.model`) and
//! what serving derives from them (`.serving`: the 8-bit, norm-ordered copy of item vectors),
//! so no process builds its own index either.
//!
//! One process builds a version's files, holding the version's lock file (`.lock`, an `flock`
//! that the kernel releases when the process dies); the others wait for it and then map. Files are
//! written under a temporary name, synced and renamed, so no one maps a half-written file, and a
//! builder that was killed leaves only a temporary file, which the next builder removes. A file
//! never changes after that. The name holds the database, the model id and the key of the stored
//! bytes (the xmin of the blob rows and their length): after the extension is dropped and created
//! again, ids restart, and a leftover file must not pass for a new model.
//!
//! The files are a cache: anything that goes wrong with them (a full or read-only disk) only costs
//! the sharing; the caller then decodes a private copy.

use crate::shared::Backing;
use std::collections::HashSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What identifies the stored bytes of a version: the xmin and total length of its blob rows.
pub type BlobKey = (i64, i64);

/// Files younger than this survive a sweep: their version may have committed after the sweeping
/// backend's snapshot was taken.
const SWEEP_MIN_AGE: Duration = Duration::from_secs(600);

/// Retired files (of a version a deploy replaced) survive a sweep this long, so the backends that
/// served it let go of their mappings first: the last process to unmap an unlinked file frees its
/// page cache then and there (about 160 ms for a 1M-item model), and that must not be a serving
/// call.
const RETIRED_MIN_AGE: Duration = Duration::from_secs(60);

/// The ending of the serving file, with the generation of what it holds: a server upgraded to a
/// build that lays serving files out differently must not map one an earlier build wrote under
/// the same version. A version's file of another generation does not count as there; it is
/// rebuilt, and the old one removed, when the version is next loaded. Generation 2: a sequence
/// model's first-block rows hold each head's values through the output projection.
const SERVING_ENDING: &str = ".v2.serving";

/// The endings of a version's files; anything else in the folder is left alone.
const ENDINGS: [&str; 5] = [".model", ".serving", ".lock", ".tmp", ".retired"];

struct MappedFile(memmap2::Mmap);

impl Backing for MappedFile {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

fn map_file(path: &Path) -> std::io::Result<memmap2::Mmap> {
    let f = File::open(path)?;
    // SAFETY: files are only ever created whole under their final name (rename of a synced
    // temporary file) and never written again, so the mapped bytes do not change while mapped.
    unsafe { memmap2::Mmap::map(&f) }
}

/// The build lock of one version's files, held until dropped (or the process ends).
pub struct BuildLock(#[allow(dead_code)] File);

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

    /// The name of a version's files without their ending.
    fn base(&self, model_id: i64, (xmin, len): BlobKey) -> String {
        format!("{}{xmin}-{len}", self.prefix(model_id))
    }

    pub fn file_name(&self, model_id: i64, key: BlobKey) -> String {
        format!("{}.model", self.base(model_id, key))
    }

    pub fn path(&self, model_id: i64, key: BlobKey) -> PathBuf {
        self.dir.join(self.file_name(model_id, key))
    }

    pub fn serving_path(&self, model_id: i64, key: BlobKey) -> PathBuf {
        self.dir.join(format!("{}{SERVING_ENDING}", self.base(model_id, key)))
    }

    /// The file of a version mapped read-only, if it is there whole (`len` bytes); a file of
    /// another length is removed.
    pub fn map(&self, model_id: i64, key: BlobKey) -> Option<Arc<dyn Backing>> {
        let path = self.path(model_id, key);
        match map_file(&path) {
            Ok(m) if m.len() as i64 == key.1 => Some(Arc::new(MappedFile(m))),
            Ok(_) => {
                let _ = std::fs::remove_file(&path);
                None
            }
            Err(_) => None,
        }
    }

    /// The serving file of a version mapped read-only (its reader checks what it holds).
    pub fn map_serving(&self, model_id: i64, key: BlobKey) -> Option<Arc<dyn Backing>> {
        let m = map_file(&self.serving_path(model_id, key)).ok()?;
        Some(Arc::new(MappedFile(m)))
    }

    pub fn exists(&self, model_id: i64, key: BlobKey) -> bool {
        self.path(model_id, key).exists()
    }

    /// Both files of a version are in place.
    pub fn ready(&self, model_id: i64, key: BlobKey) -> bool {
        self.exists(model_id, key) && self.serving_path(model_id, key).exists()
    }

    /// The build lock of a version's files if no other process holds it (`None`: one does).
    pub fn try_lock(&self, model_id: i64, key: BlobKey) -> std::io::Result<Option<BuildLock>> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(format!("{}.lock", self.base(model_id, key)));
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        match f.try_lock() {
            Ok(()) => Ok(Some(BuildLock(f))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    /// Writes a version's stored bytes (under its build lock). `live` are the keys of the
    /// versions whose files are kept: older files of this database that match none are swept on
    /// the way.
    pub fn write_model(
        &self,
        _lock: &BuildLock,
        model_id: i64,
        key: BlobKey,
        blob: &[u8],
        live: Option<Vec<(i64, BlobKey)>>,
    ) -> std::io::Result<()> {
        if let Some(live) = live {
            self.sweep(&live);
        }
        self.write_whole(&self.path(model_id, key), blob)
    }

    /// Writes a version's serving file (under its build lock).
    pub fn write_serving(
        &self,
        _lock: &BuildLock,
        model_id: i64,
        key: BlobKey,
        bytes: &[u8],
    ) -> std::io::Result<()> {
        let path = self.serving_path(model_id, key);
        self.write_whole(&path, bytes)?;
        // Serving files of the version from an earlier generation: no longer mapped by anyone
        // who loads the version from now on.
        let (base, current) = (format!("{}.", self.base(model_id, key)), path.file_name());
        self.remove_where(|e, n| {
            n.starts_with(&base) && n.ends_with(".serving") && Some(e.file_name().as_os_str()) != current
        });
        Ok(())
    }

    /// Temporary name, sync, rename: a reader sees no file or the whole file. Temporary files
    /// of the same target left by a builder that died are removed first (the lock says no one
    /// else is writing them).
    fn write_whole(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        self.remove_where(|_, n| n.starts_with(&name) && n.ends_with(".tmp"));
        let tmp = PathBuf::from(format!("{}.{}.tmp", path.display(), std::process::id()));
        let written = File::create(&tmp).and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
        let renamed = written.and_then(|_| std::fs::rename(&tmp, path));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        renamed?;
        // The rename itself survives a crash only once the folder is synced.
        File::open(&self.dir).and_then(|d| d.sync_all())
    }

    /// Removes this database's files whose version is not in `live` (left by a deploy that
    /// rolled back, or from an earlier install of the extension) and retired files old enough.
    /// Backends still mapping one keep their mapping until they let go of it; the disk space goes
    /// then.
    fn sweep(&self, live: &[(i64, BlobKey)]) {
        let live: HashSet<String> = live.iter().map(|&(id, k)| self.base(id, k)).collect();
        let ours = format!("{}-", self.database);
        self.remove_where(|e, name| {
            let older = |age| {
                e.metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().unwrap_or_default() > age)
            };
            let base = name.split('.').next().unwrap_or_default();
            name.starts_with(&ours)
                && ENDINGS.iter().any(|end| name.ends_with(end))
                && if name.ends_with(".retired") {
                    older(RETIRED_MIN_AGE)
                } else {
                    !live.contains(base) && older(SWEEP_MIN_AGE)
                }
        });
    }

    /// Retires the files of versions a deploy replaced: renamed (mappings stay valid) and swept
    /// by a later build once `RETIRED_MIN_AGE` old.
    pub fn retire(&self, model_ids: &[i64]) {
        let prefixes: Vec<String> = model_ids.iter().map(|&id| self.prefix(id)).collect();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !prefixes.iter().any(|p| name.starts_with(p)) || name.ends_with(".retired") {
                continue;
            }
            if name.ends_with(".model") || name.ends_with(".serving") {
                let to = self.dir.join(format!("{name}.retired"));
                if std::fs::rename(e.path(), &to).is_ok() {
                    // The age counts from retirement, not from the build.
                    let now = std::time::SystemTime::now();
                    let _ = File::open(&to).and_then(|f| f.set_modified(now));
                }
            } else {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Puts a retired version's files back (a rollback to the version a deploy replaced): they
    /// are whole, so nothing is rebuilt. Call under the version's build lock.
    pub fn revive(&self, _lock: &BuildLock, model_id: i64, key: BlobKey) {
        for path in [self.path(model_id, key), self.serving_path(model_id, key)] {
            let retired = PathBuf::from(format!("{}.retired", path.display()));
            if !path.exists() && retired.exists() {
                let _ = std::fs::rename(&retired, &path);
            }
        }
    }

    /// Removes the files of versions now rather than at the next sweep (dropped, rewritten or no
    /// longer deployed).
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

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn one_builder_at_a_time_and_files_appear_whole() {
        let (s, dir) = store(1);
        assert!(s.map(7, (100, 3)).is_none(), "nothing written yet");
        let lock = s.try_lock(7, (100, 3)).unwrap().expect("free");
        // a second open file description (another backend) cannot take it while it is held
        assert!(s.try_lock(7, (100, 3)).unwrap().is_none());
        // a builder that died left a temporary file: the next one removes it
        std::fs::write(dir.join("1-7-100-3.model.999999.tmp"), b"ab").unwrap();
        s.write_model(&lock, 7, (100, 3), b"abc", None).unwrap();
        assert!(!s.ready(7, (100, 3)), "no serving file yet");
        // one of an earlier generation is not this build's, and goes when the new one is written
        std::fs::write(dir.join("1-7-100-3.serving"), b"old").unwrap();
        assert!(!s.ready(7, (100, 3)) && s.map_serving(7, (100, 3)).is_none());
        s.write_serving(&lock, 7, (100, 3), b"idx").unwrap();
        assert!(s.ready(7, (100, 3)));
        drop(lock);
        assert!(s.try_lock(7, (100, 3)).unwrap().is_some(), "released when dropped");
        assert_eq!(s.map(7, (100, 3)).unwrap().bytes(), b"abc");
        assert_eq!(s.map_serving(7, (100, 3)).unwrap().bytes(), b"idx");
        assert_eq!(names(&dir), ["1-7-100-3.lock", "1-7-100-3.model", "1-7-100-3.v2.serving"]);
        // a file whose length is not the key's is removed, not mapped
        std::fs::write(s.path(8, (5, 10)), b"short").unwrap();
        assert!(s.map(8, (5, 10)).is_none() && !s.exists(8, (5, 10)));
        s.forget(&[7]);
        assert!(names(&dir).is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn names_hold_the_database_and_forget_only_touches_its_versions() {
        let (s, dir) = store(2);
        let other = FileStore::new(&dir, 3);
        let write = |st: &FileStore, id: i64, b: &[u8], live| {
            let lock = st.try_lock(id, (1, 1)).unwrap().unwrap();
            st.write_model(&lock, id, (1, 1), b, live).unwrap();
        };
        write(&s, 1, b"a", None);
        write(&s, 12, b"b", None);
        write(&other, 1, b"c", None);
        s.forget(&[1]);
        assert!(!s.exists(1, (1, 1)) && s.exists(12, (1, 1)) && other.exists(1, (1, 1)));
        // a sweep spares young files, whatever the catalog says
        write(&s, 13, b"d", Some(vec![]));
        assert!(s.exists(12, (1, 1)));
        // retired files stay (renamed) until a sweep finds them old enough; a revive puts them back
        s.retire(&[12]);
        assert!(!s.exists(12, (1, 1)) && s.dir().join("2-12-1-1.model.retired").exists());
        let lock = s.try_lock(12, (1, 1)).unwrap().unwrap();
        s.revive(&lock, 12, (1, 1));
        assert_eq!(s.map(12, (1, 1)).unwrap().bytes(), b"b");
        drop(lock);
        s.retire(&[12]);
        write(&s, 14, b"e", Some(vec![]));
        assert!(s.dir().join("2-12-1-1.model.retired").exists(), "young: kept");
        let old = std::time::SystemTime::now() - Duration::from_secs(120);
        File::open(s.dir().join("2-12-1-1.model.retired")).unwrap().set_modified(old).unwrap();
        write(&s, 15, b"f", Some(vec![]));
        assert!(!s.dir().join("2-12-1-1.model.retired").exists(), "old: swept");
        let _ = std::fs::remove_dir_all(dir);
    }
}
