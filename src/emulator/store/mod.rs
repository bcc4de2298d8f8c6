//! The emulated workspace's data and its persistence.
//!
//! Everything lives in one [`Db`] behind a mutex. With a state file, every change is journalled
//! before the response is sent (one JSON line per changed record, appended while the lock is
//! held, so a killed process loses nothing it acknowledged); the journal is folded into a
//! snapshot (temp file, fsync, rename) when it grows and when the emulator stops. Folding a grown
//! journal happens in the background: the journal is set aside as `<state>.journal.old` and a
//! new one started, so requests never wait for the snapshot to reach the disk. Journal lines
//! hold whole records, so replaying the old journal and then the new one over either snapshot
//! gives the same state. A journal line that does not parse stops the replay with an error (only
//! a torn last line, a write cut short by a crash, is dropped, with a warning).
//!
//! The state files may sit in a folder someone else wrote (an embedded workspace's
//! `.tandem/local/` in a config repository): none of them may be a symbolic link, every file is
//! created afresh and exclusively (never truncated or written through a link) and readable by
//! its owner only.

mod files;
pub mod records;
mod value_key;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use files::{
    StateFiles, create_private, io_error, load_or_create_key, prepare_folders, read_existing,
    refuse_symlink, take_lock, write_snapshot,
};
pub use records::{
    AclEntry, AclRecord, ClusterEvent, ClusterRecord, FileRecord, GroupRecord, JobRecord,
    PoolRecord, RunRecord, ScopeRecord, SecretRecord, ServicePrincipalRecord, UserRecord,
};
pub use value_key::{VALUE_KEY_BYTES, ValueKey};

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
    /// Cluster policies (as `policies/clusters/get` answers them) by policy ID.
    pub policies: BTreeMap<String, Value>,
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
    /// [`Db::policies`].
    Policies,
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
            Collection::Policies => get(&self.policies, key),
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
            Collection::Policies => set(&mut self.policies, k, v),
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
    /// A journal line other than a torn last one is not a valid entry.
    #[error(
        "emulator journal {path}: line {line} is not a valid entry ({reason}); the workspace was \
         not opened and nothing was changed: repair or delete that line, or move the journal away \
         to go back to the last snapshot"
    )]
    #[diagnostic(help(
        "only a torn last line (a crash mid-write) is dropped on its own. Once the line is \
         repaired or deleted, the entries after it are replayed; moving the journal away loses \
         every change since the last snapshot"
    ))]
    JournalCorrupt {
        /// The journal.
        path: String,
        /// The line, from 1.
        line: usize,
        /// Why (never the line's text).
        reason: String,
    },
    /// A state file, or a folder it lives in, is a symbolic link.
    #[error(
        "{path} is a symbolic link: the emulator never reads or writes its state through one; \
         remove the link"
    )]
    #[diagnostic(help(
        "look at what the link points to: a link there could make a run overwrite the file it \
         names. `.tandem/` is tandem's own folder: keep it in .gitignore, never in a commit"
    ))]
    Symlink {
        /// The link.
        path: String,
    },
    /// The state file is not inside the folder it must stay in.
    #[error("emulator state {path} is not inside {folder}")]
    #[diagnostic(help("an embedded workspace keeps its state under the config root's .tandem/"))]
    Escapes {
        /// The state file.
        path: String,
        /// The folder.
        folder: String,
    },
    /// The key of the secret fingerprints could not be drawn.
    #[error("cannot draw the key of the emulator's secret fingerprints: {0}")]
    Random(std::io::Error),
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
    files: StateFiles,
    journal: File,
    lines: usize,
    /// The snapshot being written in the background, if any.
    folding: Option<std::thread::JoinHandle<()>>,
}

/// The database and, with a state file, its persistence.
pub struct Store {
    inner: Mutex<(Db, Option<Persistence>)>,
    value_key: ValueKey,
}

impl Store {
    /// A store kept in memory only (its fingerprint key too).
    pub fn in_memory(db: Db) -> Result<Self, StoreError> {
        let (value_key, _) = ValueKey::generate().map_err(StoreError::Random)?;
        Ok(Store {
            inner: Mutex::new((db, None)),
            value_key,
        })
    }

    /// Opens (or creates) the state at `path`; `seed` fills a new, empty workspace.
    ///
    /// No file of the state (snapshot, journals, lock, temp file, key) may be a symbolic link,
    /// nor, with `confined_to`, any folder from `confined_to` down to the state: the state of an
    /// embedded workspace lives in a folder a config repository could carry, and a link there
    /// would make the emulator read or overwrite whatever it points to.
    pub fn open(
        path: &Path,
        confined_to: Option<&Path>,
        seed: impl FnOnce() -> Db,
    ) -> Result<Self, StoreError> {
        prepare_folders(path, confined_to)?;
        let files = StateFiles::of(path);
        for file in files.all() {
            refuse_symlink(file)?;
        }
        take_lock(&files.lock, path)?;
        Self::open_locked(files.clone(), seed).inspect_err(|_| {
            let _ = std::fs::remove_file(&files.lock);
        })
    }

    fn open_locked(files: StateFiles, seed: impl FnOnce() -> Db) -> Result<Self, StoreError> {
        let mut db = match read_existing(&files.snapshot).map_err(io_error(&files.snapshot))? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path: files.snapshot.display().to_string(),
                reason: format!(
                    "{} at line {} column {}",
                    category(&e),
                    e.line(),
                    e.column()
                ),
            })?,
            None => seed(),
        };
        // Replay the journals, a set-aside one first.
        for journal in [&files.old_journal, &files.journal] {
            replay(&mut db, journal)?;
        }
        let value_key = load_or_create_key(&files.key)?;
        let bytes = serde_json::to_vec(&db)
            .map_err(std::io::Error::other)
            .map_err(io_error(&files.snapshot))?;
        write_snapshot(&files.snapshot, &bytes).map_err(io_error(&files.snapshot))?;
        let _ = std::fs::remove_file(&files.old_journal);
        let journal = create_private(&files.journal).map_err(io_error(&files.journal))?;
        Ok(Store {
            inner: Mutex::new((
                db,
                Some(Persistence {
                    files,
                    journal,
                    lines: 0,
                    folding: None,
                }),
            )),
            value_key,
        })
    }

    /// The key of this workspace's secret fingerprints.
    pub fn value_key(&self) -> &ValueKey {
        &self.value_key
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
            let _ = std::fs::remove_file(&p.files.lock);
        }
    }
}

/// What kind of JSON failure `e` is, without quoting any of the text (it may not be what it
/// seems to be).
fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "not an emulator record",
        serde_json::error::Category::Eof => "cut short",
    }
}

/// Replays the journal at `path` (if any) into `db`. A line that is not a valid entry stops the
/// replay with an error naming it — unless it is the last line and has no newline after it: a
/// write torn by a crash, never acknowledged, which is dropped with a warning.
fn replay(db: &mut Db, path: &Path) -> Result<(), StoreError> {
    let Some(bytes) = read_existing(path).map_err(io_error(path))? else {
        return Ok(());
    };
    let complete = bytes.last() == Some(&b'\n');
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let last = lines.len();
    for (index, line) in lines.into_iter().enumerate() {
        let number = index + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let applied = serde_json::from_slice::<JournalLine>(line)
            .map_err(|e| format!("{} at column {}", category(&e), e.column()))
            .and_then(|entry| db.apply(entry).map_err(|e| category(&e).to_string()));
        match applied {
            Ok(()) => {}
            Err(reason) if number == last && !complete => {
                tracing::warn!(
                    "emulator journal {}: line {number}, the last, is incomplete ({reason}): a \
                     write torn by a crash, never acknowledged; dropped",
                    path.display()
                );
            }
            Err(reason) => {
                return Err(StoreError::JournalCorrupt {
                    path: path.display().to_string(),
                    line: number,
                    reason,
                });
            }
        }
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
        .and_then(|bytes| write_snapshot(&p.files.snapshot, &bytes));
    match written {
        Ok(()) => match start_journal(p) {
            Ok(()) => {
                let _ = std::fs::remove_file(&p.files.old_journal);
            }
            Err(e) => tracing::error!(error = %e, "emulator journal reset failed"),
        },
        Err(e) => tracing::error!(error = %e, "emulator snapshot failed; journal kept"),
    }
}

/// Starts an empty journal in place of the current one.
fn start_journal(p: &mut Persistence) -> std::io::Result<()> {
    p.journal = create_private(&p.files.journal)?;
    p.lines = 0;
    Ok(())
}

/// Sets the journal aside and starts a new one, then writes the snapshot on another thread: only
/// serialising the database holds up requests, not the disk.
fn fold_in_background(db: &Db, p: &mut Persistence) {
    finish_folding(p);
    let old = p.files.old_journal.clone();
    if old.exists() {
        // The last background snapshot failed: its journal must not be overwritten.
        return compact(db, p);
    }
    let bytes = match serde_json::to_vec(db) {
        Ok(bytes) => bytes,
        Err(e) => return tracing::error!(error = %e, "emulator snapshot failed; journal kept"),
    };
    if let Err(e) = std::fs::rename(&p.files.journal, &old) {
        return tracing::error!(error = %e, "emulator journal rotation failed; journal kept");
    }
    if let Err(e) = start_journal(p) {
        // Lines go on to the set-aside journal (its file is still open): nothing is lost.
        return tracing::error!(error = %e, "emulator journal reset failed");
    }
    let snapshot = p.files.snapshot.clone();
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
        let store = Store::open(&path, None, Db::default).expect("open");
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
        let recovered = Store::open(&crashed.join("ws.json"), None, Db::default).expect("reopen");
        assert_eq!(recovered.read(|db| db.counters.next_seq), writes);
        drop(store);
        let reopened = Store::open(&path, None, Db::default).expect("reopen");
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
            let store = Store::open(&path, None, Db::default).expect("open");
            assert_eq!(store.read(|db| db.counters.next_seq), 7);
            assert!(!dir.path().join("ws.json.journal.old").exists());
            drop(store);
        }
    }

    /// A journal of `seqs` counter entries, one per line.
    fn journal(seqs: &[i64]) -> String {
        seqs.iter().map(|seq| counters(*seq)).collect()
    }

    #[test]
    fn a_corrupt_middle_line_stops_the_replay_and_names_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ws.json");
        let mut lines: Vec<String> = journal(&[1, 2, 3]).lines().map(String::from).collect();
        lines[1] = "{\"c\":\"counters\",\"k\":\"\",\"v\":{\"next_seq\":\"secret-ish\"}}".into();
        let tampered = lines.join("\n") + "\n";
        std::fs::write(dir.path().join("ws.json.journal"), &tampered).expect("journal");
        let error = Store::open(&path, None, Db::default)
            .err()
            .expect("refused");
        match &error {
            StoreError::JournalCorrupt { path, line, .. } => {
                assert!(path.ends_with("ws.json.journal"), "{path}");
                assert_eq!(*line, 2);
            }
            other => panic!("{other}"),
        }
        assert!(
            !error.to_string().contains("secret-ish"),
            "the line's text is not quoted: {error}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("ws.json.journal")).expect("journal"),
            tampered,
            "the journal is left for repair"
        );
        assert!(!path.exists(), "no snapshot was written");
        assert!(
            !dir.path().join("ws.json.lock").exists(),
            "the lock is given back"
        );
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_every_entry_before_it_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ws.json");
        let whole = journal(&[1, 2, 3]);
        // Cut inside the last entry: no newline after it.
        std::fs::write(
            dir.path().join("ws.json.journal"),
            &whole[..whole.len() - 4],
        )
        .expect("journal");
        let store = Store::open(&path, None, Db::default).expect("open");
        assert_eq!(store.read(|db| db.counters.next_seq), 2);
        drop(store);
        // A complete last entry without its newline is still an entry.
        std::fs::write(dir.path().join("ws.json.journal"), whole.trim_end()).expect("journal");
        let store = Store::open(&path, None, Db::default).expect("open");
        assert_eq!(store.read(|db| db.counters.next_seq), 3);
    }

    #[cfg(unix)]
    #[test]
    fn nothing_is_read_or_written_through_a_symlink() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").expect("victim");
        let state = dir.path().join("state");
        std::fs::create_dir(&state).expect("mkdir");
        let path = state.join("ws.json");
        for suffix in ["", ".journal", ".journal.old", ".lock", ".tmp", ".key"] {
            let link = state.join(format!("ws.json{suffix}"));
            std::os::unix::fs::symlink(&victim, &link).expect("symlink");
            let error = Store::open(&path, None, Db::default)
                .err()
                .expect("refused");
            assert!(
                matches!(&error, StoreError::Symlink { path } if path.ends_with(&format!("ws.json{suffix}"))),
                "{suffix}: {error}"
            );
            assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "keep me");
            std::fs::remove_file(&link).expect("unlink");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_confined_state_refuses_symlinked_folders_and_paths_outside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join(".tandem");
        std::fs::create_dir(&base).expect("mkdir");
        std::os::unix::fs::symlink(outside.path(), base.join("local")).expect("symlink");
        let path = base.join("local").join("ws.json");
        let error = Store::open(&path, Some(&base), Db::default)
            .err()
            .expect("refused");
        assert!(
            matches!(&error, StoreError::Symlink { path } if path.ends_with("local")),
            "{error}"
        );
        assert_eq!(std::fs::read_dir(outside.path()).expect("dir").count(), 0);
        let escaping = base.join("..").join("ws.json");
        assert!(matches!(
            Store::open(&escaping, Some(&base), Db::default),
            Err(StoreError::Escapes { .. })
        ));
        // Without a link, the folders are created, owner-only.
        std::fs::remove_file(base.join("local")).expect("unlink");
        drop(Store::open(&path, Some(&base), Db::default).expect("open"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(base.join("local"))
            .expect("folder")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }

    #[cfg(unix)]
    #[test]
    fn state_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ws.json");
        let store = Store::open(&path, None, Db::default).expect("open");
        bump(&store);
        for name in ["ws.json", "ws.json.journal", "ws.json.lock", "ws.json.key"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .expect(name)
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{name}: {mode:o}");
        }
    }

    #[test]
    fn the_fingerprint_key_survives_a_restart_and_is_not_in_the_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ws.json");
        let key = || std::fs::read_to_string(dir.path().join("ws.json.key")).expect("key");
        drop(Store::open(&path, None, Db::default).expect("open"));
        let first = key();
        assert_eq!(first.trim().len(), VALUE_KEY_BYTES * 2);
        drop(Store::open(&path, None, Db::default).expect("reopen"));
        assert_eq!(key(), first, "a restart reads the key back");
        let state = std::fs::read_to_string(&path).expect("state");
        assert!(!state.contains(first.trim()));
        std::fs::write(dir.path().join("ws.json.key"), "not hex").expect("tamper");
        assert!(matches!(
            Store::open(&path, None, Db::default),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
