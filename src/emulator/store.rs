//! The emulated workspace's data and its persistence.
//!
//! Everything lives in one [`Db`] behind a mutex. With a state file, every change is journalled
//! before the response is sent (one JSON line per changed record, appended while the lock is
//! held, so a killed process loses nothing it acknowledged); the journal is folded into a
//! snapshot (temp file, fsync, rename) when it grows and when the emulator stops. Folding a grown
//! journal happens in the background: the journal is set aside as `<state>.journal.old` and a
//! new one started, so requests never wait for the snapshot to reach the disk. Journal lines
//! hold whole records, so replaying the old journal and then the new one over either snapshot
//! gives the same state.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::clusters::ClusterRecord;
use super::jobs::{JobRecord, RunRecord};
use super::permissions::AclRecord;
use super::pools::PoolRecord;
use super::scim::{GroupRecord, ServicePrincipalRecord, UserRecord};
use super::secrets::ScopeRecord;
use super::workspace::FileRecord;

/// ID counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counters {
    /// Next job ID.
    pub next_job_id: i64,
    /// Next run ID.
    pub next_run_id: i64,
    /// Next sequence number for cluster, pool and object IDs.
    pub next_seq: i64,
}

/// Every object of the emulated workspace. Keys are the objects' IDs (or names) as strings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Db {
    /// ID counters.
    pub counters: Counters,
    /// Jobs by job ID.
    pub jobs: BTreeMap<String, JobRecord>,
    /// Job runs by run ID.
    pub runs: BTreeMap<String, RunRecord>,
    /// Clusters by cluster ID.
    pub clusters: BTreeMap<String, ClusterRecord>,
    /// Instance pools by pool ID.
    pub pools: BTreeMap<String, PoolRecord>,
    /// Secret scopes by lower-cased name.
    pub scopes: BTreeMap<String, ScopeRecord>,
    /// Object ACLs by `<type>/<id>` (`jobs/12`, `clusters/0101-…`, `instance-pools/…`).
    pub acls: BTreeMap<String, AclRecord>,
    /// SCIM users by ID.
    pub users: BTreeMap<String, UserRecord>,
    /// SCIM groups by ID.
    pub groups: BTreeMap<String, GroupRecord>,
    /// Service principals by application ID.
    pub service_principals: BTreeMap<String, ServicePrincipalRecord>,
    /// Workspace files and directories by absolute path.
    pub files: BTreeMap<String, FileRecord>,
}

/// One of the [`Db`]'s collections, for journalling changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Collection {
    /// [`Db::counters`] (key ignored).
    Counters,
    /// [`Db::jobs`].
    Jobs,
    /// [`Db::runs`].
    Runs,
    /// [`Db::clusters`].
    Clusters,
    /// [`Db::pools`].
    Pools,
    /// [`Db::scopes`].
    Scopes,
    /// [`Db::acls`].
    Acls,
    /// [`Db::users`].
    Users,
    /// [`Db::groups`].
    Groups,
    /// [`Db::service_principals`].
    ServicePrincipals,
    /// [`Db::files`].
    Files,
}

/// The records a write touched; journalled when the write ends.
#[derive(Debug, Default)]
pub struct Tx {
    touched: Vec<(Collection, String)>,
}

impl Tx {
    /// Marks record `key` of `collection` as changed (created, updated or deleted).
    pub fn touch(&mut self, collection: Collection, key: impl Into<String>) {
        self.touched.push((collection, key.into()));
    }
}

#[derive(Serialize, Deserialize)]
struct JournalLine {
    c: Collection,
    k: String,
    v: Option<Value>,
}

impl Db {
    fn record(&self, collection: Collection, key: &str) -> Option<Value> {
        fn get<T: Serialize>(map: &BTreeMap<String, T>, key: &str) -> Option<Value> {
            map.get(key).and_then(|v| serde_json::to_value(v).ok())
        }
        match collection {
            Collection::Counters => serde_json::to_value(&self.counters).ok(),
            Collection::Jobs => get(&self.jobs, key),
            Collection::Runs => get(&self.runs, key),
            Collection::Clusters => get(&self.clusters, key),
            Collection::Pools => get(&self.pools, key),
            Collection::Scopes => get(&self.scopes, key),
            Collection::Acls => get(&self.acls, key),
            Collection::Users => get(&self.users, key),
            Collection::Groups => get(&self.groups, key),
            Collection::ServicePrincipals => get(&self.service_principals, key),
            Collection::Files => get(&self.files, key),
        }
    }

    fn apply(&mut self, line: JournalLine) -> Result<(), serde_json::Error> {
        fn set<T: serde::de::DeserializeOwned>(
            map: &mut BTreeMap<String, T>,
            key: String,
            value: Option<Value>,
        ) -> Result<(), serde_json::Error> {
            match value {
                Some(v) => {
                    map.insert(key, serde_json::from_value(v)?);
                }
                None => {
                    map.remove(&key);
                }
            }
            Ok(())
        }
        let JournalLine { c, k, v } = line;
        match c {
            Collection::Counters => {
                if let Some(v) = v {
                    self.counters = serde_json::from_value(v)?;
                }
                Ok(())
            }
            Collection::Jobs => set(&mut self.jobs, k, v),
            Collection::Runs => set(&mut self.runs, k, v),
            Collection::Clusters => set(&mut self.clusters, k, v),
            Collection::Pools => set(&mut self.pools, k, v),
            Collection::Scopes => set(&mut self.scopes, k, v),
            Collection::Acls => set(&mut self.acls, k, v),
            Collection::Users => set(&mut self.users, k, v),
            Collection::Groups => set(&mut self.groups, k, v),
            Collection::ServicePrincipals => set(&mut self.service_principals, k, v),
            Collection::Files => set(&mut self.files, k, v),
        }
    }

    /// The next job ID.
    pub fn next_job_id(&mut self, tx: &mut Tx) -> i64 {
        self.counters.next_job_id += 1;
        tx.touch(Collection::Counters, "");
        // Job IDs look like real ones: large and not starting at 1.
        100_000_000 + self.counters.next_job_id
    }

    /// The next run ID.
    pub fn next_run_id(&mut self, tx: &mut Tx) -> i64 {
        self.counters.next_run_id += 1;
        tx.touch(Collection::Counters, "");
        500_000_000 + self.counters.next_run_id
    }

    /// The next sequence number for string IDs.
    pub fn next_seq(&mut self, tx: &mut Tx) -> i64 {
        self.counters.next_seq += 1;
        tx.touch(Collection::Counters, "");
        self.counters.next_seq
    }
}

/// Errors opening or writing the state file.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StoreError {
    /// I/O on the state file failed.
    #[error("emulator state {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The state file is not a valid emulator state.
    #[error("emulator state {path} is corrupt: {reason}")]
    #[diagnostic(help("move the file away to start with an empty workspace"))]
    Corrupt {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Another process serves the same state.
    #[error("emulator state {path} is in use by another process ({holder})")]
    #[diagnostic(help("stop the other emulator, or use another --state file"))]
    Locked {
        /// The file.
        path: String,
        /// What the lock file says.
        holder: String,
    },
}

/// Journal lines after which the journal is folded into the snapshot.
const COMPACT_AFTER: usize = 20_000;

struct Persistence {
    snapshot: PathBuf,
    journal_path: PathBuf,
    lock_path: PathBuf,
    journal: File,
    lines: usize,
    /// The snapshot being written in the background, if any.
    folding: Option<std::thread::JoinHandle<()>>,
}

/// The database and, with a state file, its persistence.
pub struct Store {
    inner: Mutex<(Db, Option<Persistence>)>,
}

impl Store {
    /// A store kept in memory only.
    pub fn in_memory(db: Db) -> Self {
        Store {
            inner: Mutex::new((db, None)),
        }
    }

    /// Opens (or creates) the state at `path`; `seed` fills a new, empty workspace.
    pub fn open(path: &Path, seed: impl FnOnce() -> Db) -> Result<Self, StoreError> {
        let io = |source| StoreError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let lock_path = sibling(path, "lock");
        take_lock(&lock_path, path)?;
        let journal_path = sibling(path, "journal");
        let mut db = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => seed(),
            Err(e) => return Err(io(e)),
        };
        // Replay the journals, a set-aside one first; a torn last line (a crash mid-write) is
        // ignored.
        let old_journal = sibling(&journal_path, "old");
        for journal in [&old_journal, &journal_path] {
            replay(&mut db, journal)?;
        }
        write_snapshot(
            path,
            &serde_json::to_vec(&db)
                .map_err(std::io::Error::other)
                .map_err(io)?,
        )
        .map_err(io)?;
        let _ = std::fs::remove_file(&old_journal);
        let journal = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&journal_path)
            .map_err(io)?;
        Ok(Store {
            inner: Mutex::new((
                db,
                Some(Persistence {
                    snapshot: path.to_path_buf(),
                    journal_path,
                    lock_path,
                    journal,
                    lines: 0,
                    folding: None,
                }),
            )),
        })
    }

    /// Runs `f` with the database for reading.
    pub fn read<R>(&self, f: impl FnOnce(&Db) -> R) -> R {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&guard.0)
    }

    /// Runs `f` with the database for writing; the records it touches are journalled before
    /// the lock is released, whether `f` succeeds or not (a failed request may have changed
    /// nothing, or may have committed part of its work — as a real service can).
    pub fn write<R>(&self, f: impl FnOnce(&mut Db, &mut Tx) -> R) -> R {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (db, persistence) = &mut *guard;
        let mut tx = Tx::default();
        let result = f(db, &mut tx);
        if let Some(p) = persistence
            && !tx.touched.is_empty()
        {
            tx.touched.sort();
            tx.touched.dedup();
            let mut buffer = Vec::new();
            for (collection, key) in tx.touched {
                let line = JournalLine {
                    c: collection,
                    v: db.record(collection, &key),
                    k: key,
                };
                if serde_json::to_writer(&mut buffer, &line).is_ok() {
                    buffer.push(b'\n');
                    p.lines += 1;
                }
            }
            if let Err(e) = p.journal.write_all(&buffer) {
                tracing::error!(error = %e, "emulator journal write failed");
            }
            if p.lines >= COMPACT_AFTER {
                fold_in_background(db, p);
            }
        }
        result
    }

    /// Folds the journal into the snapshot (call when stopping).
    pub fn flush(&self) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (db, persistence) = &mut *guard;
        if let Some(p) = persistence {
            compact(db, p);
        }
    }

    /// Replaces the whole database (the admin reset), persisting the result.
    pub fn replace(&self, db: Db) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.0 = db;
        let (db, persistence) = &mut *guard;
        if let Some(p) = persistence {
            compact(db, p);
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let guard = self.inner.get_mut().unwrap_or_else(|p| p.into_inner());
        let (db, persistence) = &mut *guard;
        if let Some(p) = persistence {
            compact(db, p);
            let _ = std::fs::remove_file(&p.lock_path);
        }
    }
}

/// Replays the journal at `path` (if any) into `db`.
fn replay(db: &mut Db, path: &Path) -> Result<(), StoreError> {
    let Ok(file) = File::open(path) else {
        return Ok(());
    };
    for line in BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        let Ok(entry) = serde_json::from_str::<JournalLine>(&line) else {
            break;
        };
        db.apply(entry).map_err(|e| StoreError::Corrupt {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

/// Waits for a snapshot being written in the background.
fn finish_folding(p: &mut Persistence) {
    if let Some(folding) = p.folding.take() {
        let _ = folding.join();
    }
}

/// Folds the journal into the snapshot now (the lock held throughout).
fn compact(db: &Db, p: &mut Persistence) {
    finish_folding(p);
    let written = serde_json::to_vec(db)
        .map_err(std::io::Error::other)
        .and_then(|bytes| write_snapshot(&p.snapshot, &bytes));
    match written {
        Ok(()) => match start_journal(p) {
            Ok(()) => {
                let _ = std::fs::remove_file(sibling(&p.journal_path, "old"));
            }
            Err(e) => tracing::error!(error = %e, "emulator journal reset failed"),
        },
        Err(e) => tracing::error!(error = %e, "emulator snapshot failed; journal kept"),
    }
}

/// Starts an empty journal in place of the current one.
fn start_journal(p: &mut Persistence) -> std::io::Result<()> {
    p.journal = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&p.journal_path)?;
    p.lines = 0;
    Ok(())
}

/// Sets the journal aside and starts a new one, then writes the snapshot on another thread: only
/// serialising the database holds up requests, not the disk.
fn fold_in_background(db: &Db, p: &mut Persistence) {
    finish_folding(p);
    let old = sibling(&p.journal_path, "old");
    if old.exists() {
        // The last background snapshot failed: its journal must not be overwritten.
        return compact(db, p);
    }
    let bytes = match serde_json::to_vec(db) {
        Ok(bytes) => bytes,
        Err(e) => return tracing::error!(error = %e, "emulator snapshot failed; journal kept"),
    };
    if let Err(e) = std::fs::rename(&p.journal_path, &old) {
        return tracing::error!(error = %e, "emulator journal rotation failed; journal kept");
    }
    if let Err(e) = start_journal(p) {
        // Lines go on to the set-aside journal (its file is still open): nothing is lost.
        return tracing::error!(error = %e, "emulator journal reset failed");
    }
    let snapshot = p.snapshot.clone();
    p.folding = Some(std::thread::spawn(move || {
        match write_snapshot(&snapshot, &bytes) {
            // The old journal is in the snapshot now.
            Ok(()) => {
                let _ = std::fs::remove_file(&old);
            }
            Err(e) => tracing::error!(error = %e, "emulator snapshot failed; old journal kept"),
        }
    }));
}

/// Writes `bytes` to `path` atomically: a temp file, fsync, rename.
fn write_snapshot(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = sibling(path, "tmp");
    {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

/// Takes `<state>.lock`, holding our PID; a lock left by a process that is gone is taken over.
fn take_lock(lock: &Path, state: &Path) -> Result<(), StoreError> {
    let me = std::process::id();
    if let Ok(text) = std::fs::read_to_string(lock) {
        let pid: Option<u32> = text.trim().parse().ok();
        let alive = pid.is_some_and(|pid| pid != me && Path::new(&format!("/proc/{pid}")).exists());
        if alive {
            return Err(StoreError::Locked {
                path: state.display().to_string(),
                holder: format!("pid {}", text.trim()),
            });
        }
    }
    std::fs::write(lock, me.to_string()).map_err(|source| StoreError::Io {
        path: lock.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bump(store: &Store) {
        store.write(|db, tx| {
            db.counters.next_seq += 1;
            tx.touch(Collection::Counters, "");
        });
    }

    fn counters(seq: i64) -> String {
        let line = JournalLine {
            c: Collection::Counters,
            k: String::new(),
            v: serde_json::to_value(Counters {
                next_seq: seq,
                ..Counters::default()
            })
            .ok(),
        };
        format!("{}\n", serde_json::to_string(&line).expect("line"))
    }

    #[test]
    fn a_journal_folded_in_the_background_loses_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ws.json");
        let store = Store::open(&path, Db::default).expect("open");
        let writes = COMPACT_AFTER as i64 + 5;
        for _ in 0..writes {
            bump(&store);
        }
        // Lines after the fold went to a new journal.
        let journal = std::fs::read_to_string(dir.path().join("ws.json.journal")).expect("journal");
        assert_eq!(journal.lines().count(), 5);
        // A crash now (no final fold): the snapshot and the journals give the same state.
        let crashed = dir.path().join("crashed");
        std::fs::create_dir(&crashed).expect("mkdir");
        {
            let mut guard = store.inner.lock().expect("lock");
            finish_folding(guard.1.as_mut().expect("persistence"));
        }
        for name in ["ws.json", "ws.json.journal"] {
            std::fs::copy(dir.path().join(name), crashed.join(name)).expect("copy");
        }
        assert!(
            !dir.path().join("ws.json.journal.old").exists(),
            "the old journal is removed once the snapshot holds it"
        );
        let recovered = Store::open(&crashed.join("ws.json"), Db::default).expect("reopen");
        assert_eq!(recovered.read(|db| db.counters.next_seq), writes);
        drop(store);
        let reopened = Store::open(&path, Db::default).expect("reopen");
        assert_eq!(reopened.read(|db| db.counters.next_seq), writes);
    }

    #[test]
    fn a_set_aside_journal_is_replayed_before_the_new_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ws.json");
        // A crash while the background snapshot was written: whether the snapshot on disk is
        // the one before (seq 1) or after (seq 5) the rotation, old + new journal give seq 7.
        for snapshot_seq in [1, 5] {
            let db = Db {
                counters: Counters {
                    next_seq: snapshot_seq,
                    ..Counters::default()
                },
                ..Db::default()
            };
            std::fs::write(&path, serde_json::to_vec(&db).expect("db")).expect("snapshot");
            std::fs::write(dir.path().join("ws.json.journal.old"), counters(5)).expect("old");
            std::fs::write(dir.path().join("ws.json.journal"), counters(7)).expect("journal");
            let store = Store::open(&path, Db::default).expect("open");
            assert_eq!(store.read(|db| db.counters.next_seq), 7);
            assert!(!dir.path().join("ws.json.journal.old").exists());
            drop(store);
        }
    }
}
