//! The state's files on disk: where they live, and creating, reading and locking them without
//! ever following a symbolic link.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use super::StoreError;
use super::value_key::{VALUE_KEY_BYTES, ValueKey, hex, unhex};

/// The files of a persisted workspace: the snapshot and the files beside it.
#[derive(Debug, Clone)]
pub(super) struct StateFiles {
    pub(super) snapshot: PathBuf,
    pub(super) journal: PathBuf,
    pub(super) old_journal: PathBuf,
    pub(super) lock: PathBuf,
    pub(super) tmp: PathBuf,
    pub(super) key: PathBuf,
}

impl StateFiles {
    pub(super) fn of(snapshot: &Path) -> Self {
        let journal = sibling(snapshot, "journal");
        StateFiles {
            snapshot: snapshot.to_path_buf(),
            old_journal: sibling(&journal, "old"),
            journal,
            lock: sibling(snapshot, "lock"),
            tmp: sibling(snapshot, "tmp"),
            key: sibling(snapshot, "key"),
        }
    }

    pub(super) fn all(&self) -> [&Path; 6] {
        [
            &self.snapshot,
            &self.journal,
            &self.old_journal,
            &self.lock,
            &self.tmp,
            &self.key,
        ]
    }
}

/// Turns an I/O error on `path` into a [`StoreError::Io`] naming it.
pub(super) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Refuses `path` if it is a symbolic link (a missing file is fine).
pub(super) fn refuse_symlink(path: &Path) -> Result<(), StoreError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(StoreError::Symlink {
            path: path.display().to_string(),
        }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(path)(e)),
    }
}

/// Creates the folders the state at `state` lives in (owner-only), refusing, with
/// `confined_to`, a state outside that folder and any symlinked folder from it down.
pub(super) fn prepare_folders(state: &Path, confined_to: Option<&Path>) -> Result<(), StoreError> {
    let Some(parent) = state.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    let Some(base) = confined_to else {
        return private_folder_builder()
            .recursive(true)
            .create(parent)
            .map_err(io_error(parent));
    };
    let escapes = || StoreError::Escapes {
        path: state.display().to_string(),
        folder: base.display().to_string(),
    };
    let below = parent.strip_prefix(base).map_err(|_| escapes())?;
    let mut folder = base.to_path_buf();
    real_folder(&folder)?;
    for component in below.components() {
        match component {
            Component::Normal(name) => folder.push(name),
            _ => return Err(escapes()),
        }
        real_folder(&folder)?;
    }
    Ok(())
}

/// Makes sure `folder` is a real folder (not a link to one), creating it if missing.
pub(super) fn real_folder(folder: &Path) -> Result<(), StoreError> {
    match std::fs::symlink_metadata(folder) {
        Ok(meta) if meta.file_type().is_symlink() => Err(StoreError::Symlink {
            path: folder.display().to_string(),
        }),
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(io_error(folder)(std::io::Error::other(
            "exists and is not a folder",
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => private_folder_builder()
            .create(folder)
            .map_err(io_error(folder)),
        Err(e) => Err(io_error(folder)(e)),
    }
}

/// A folder builder that makes folders readable by their owner only.
pub(super) fn private_folder_builder() -> std::fs::DirBuilder {
    #[allow(unused_mut)]
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
}

/// Creates `path` afresh for writing, readable by its owner only. Whatever is there is removed
/// first (a link itself, never what it points to) and the file is created exclusively, so
/// nothing is ever truncated or written through a link.
pub(super) fn create_private(path: &Path) -> std::io::Result<File> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// The bytes of `path`, or `None` if there is no such file.
pub(super) fn read_existing(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The fingerprint key kept at `path`, created (owner-only) if there is none yet.
pub(super) fn load_or_create_key(path: &Path) -> Result<ValueKey, StoreError> {
    if let Some(text) = read_existing(path).map_err(io_error(path))? {
        let bytes = std::str::from_utf8(&text)
            .ok()
            .and_then(|t| unhex(t.trim()))
            .and_then(|b| <[u8; VALUE_KEY_BYTES]>::try_from(b).ok())
            .ok_or_else(|| StoreError::Corrupt {
                path: path.display().to_string(),
                reason: format!("not a key of {} hex digits", VALUE_KEY_BYTES * 2),
            })?;
        return Ok(ValueKey::from_bytes(&bytes));
    }
    let (key, bytes) = ValueKey::generate().map_err(StoreError::Random)?;
    let mut file = create_private(path).map_err(io_error(path))?;
    file.write_all(format!("{}\n", hex(&bytes)).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(path))?;
    Ok(key)
}

/// Writes `bytes` to `path` atomically: a new temp file (owner-only), fsync, rename (which
/// replaces whatever is at `path`, a link included, without following it).
pub(super) fn write_snapshot(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = sibling(path, "tmp");
    {
        let mut file = create_private(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// `path` with `.suffix` appended to its file name (`ws.json` → `ws.json.lock`).
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

/// Takes `<state>.lock`, holding our PID; a lock left by a process that is gone is taken over.
pub(super) fn take_lock(lock: &Path, state: &Path) -> Result<(), StoreError> {
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
    create_private(lock)
        .and_then(|mut file| file.write_all(me.to_string().as_bytes()))
        .map_err(io_error(lock))
}
