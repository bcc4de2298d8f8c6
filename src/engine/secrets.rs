//! Reading secret values from their sources, only when they are needed, never keeping them.
//!
//! A source is checked again here, after `~` and every symlink are resolved, against the same
//! deny-list the configuration was validated with ([`crate::config::secret_source`]): a file that
//! was a harmless path at validation may be a link to a credential store on the machine that
//! runs the apply.

use std::io::Read as _;
use std::path::Path;

use crate::config::secret_source::{Refusal, ResolveError, SourceGuard};
use crate::model::ValueSource;

/// The largest secret value Databricks stores (128 KiB); a bigger file is not a secret.
pub const MAX_SECRET_BYTES: u64 = 128 * 1024;

/// The value an embedded (`local:`) workspace gets for a source that cannot be read: emulated
/// workspaces need no real secrets, so the examples run with no setup. Never used for real
/// workspaces, nor for a source tandem refuses to read.
pub fn placeholder(source: &ValueSource) -> Vec<u8> {
    match source {
        ValueSource::Env(var) => format!("tandem-local-placeholder:env:{var}").into_bytes(),
        ValueSource::File(path) => format!("tandem-local-placeholder:file:{path}").into_bytes(),
    }
}

/// Reads the value a source names (an environment variable or a file); with `placeholder`, a
/// source that cannot be read yields [`placeholder`] (a refused one is an error all the same).
pub fn read_value(source: &ValueSource, placeholder_ok: bool) -> Result<Vec<u8>, String> {
    match read_source(source, &SourceGuard::for_process()) {
        Err(SourceFailure::Unreadable(_)) if placeholder_ok => Ok(placeholder(source)),
        Err(SourceFailure::Unreadable(reason) | SourceFailure::Refused(reason)) => Err(reason),
        Ok(value) => Ok(value),
    }
}

/// Why a value could not be had. Messages name the source, never any of its content.
enum SourceFailure {
    /// Missing or unreadable.
    Unreadable(String),
    /// A source tandem will not read.
    Refused(String),
}

fn read_source(source: &ValueSource, guard: &SourceGuard) -> Result<Vec<u8>, SourceFailure> {
    match source {
        ValueSource::Env(var) => {
            if let Some(refusal) = guard.refuse_variable(var) {
                return Err(SourceFailure::Refused(format!(
                    "environment variable {var} {}; a secret may not be read from it",
                    refusal.describe()
                )));
            }
            // An empty variable is what CI gives for a missing secret: never write it.
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(|v| v.to_string_lossy().into_owned().into_bytes())
                .ok_or_else(|| {
                    SourceFailure::Unreadable(format!(
                        "environment variable {var} is not set or empty"
                    ))
                })
        }
        ValueSource::File(path) => {
            let resolved = guard.resolve_file(path).map_err(|e| match e {
                // Not a refusal: the path cannot be resolved here (an embedded workspace gets
                // its placeholder, as for a missing file).
                ResolveError::Refused(Refusal::NoHome) => SourceFailure::Unreadable(format!(
                    "cannot read {path}: {}",
                    Refusal::NoHome.describe()
                )),
                ResolveError::Refused(refusal) => SourceFailure::Refused(format!(
                    "file {path} {}; a secret may not be read from it",
                    refusal.describe()
                )),
                ResolveError::Unreadable(reason) => {
                    SourceFailure::Unreadable(format!("cannot read {path}: {reason}"))
                }
            })?;
            read_file(&resolved).map_err(|reason| match reason {
                FileFailure::Io(e) => SourceFailure::Unreadable(format!("cannot read {path}: {e}")),
                FileFailure::NotAFile => {
                    SourceFailure::Refused(format!("{path} is not a regular file"))
                }
                FileFailure::TooLarge => SourceFailure::Refused(format!(
                    "{path} is larger than the {} KiB a Databricks secret holds",
                    MAX_SECRET_BYTES / 1024
                )),
            })
        }
    }
}

enum FileFailure {
    Io(std::io::Error),
    NotAFile,
    TooLarge,
}

/// Reads a resolved (link-free) path without following a link swapped in since, refusing what
/// is not a regular file (a FIFO would hang, a device never ends) or exceeds a secret's size.
fn read_file(path: &Path) -> Result<Vec<u8>, FileFailure> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let mut file = options.open(path).map_err(FileFailure::Io)?;
    let meta = file.metadata().map_err(FileFailure::Io)?;
    if !meta.is_file() {
        return Err(FileFailure::NotAFile);
    }
    if meta.len() > MAX_SECRET_BYTES {
        return Err(FileFailure::TooLarge);
    }
    let mut value = Vec::with_capacity(meta.len() as usize);
    (&mut file)
        .take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut value)
        .map_err(FileFailure::Io)?;
    if value.len() as u64 > MAX_SECRET_BYTES {
        return Err(FileFailure::TooLarge);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_link_to_a_process_file_is_refused_even_for_embedded_workspaces() {
        let dir = tempfile::tempdir().expect("temp dir");
        let link = dir.path().join("password");
        std::os::unix::fs::symlink("/proc/self/environ", &link).expect("symlink");
        let source = ValueSource::File(link.display().to_string());
        let err = read_value(&source, true).expect_err("refused, not a placeholder");
        assert!(err.contains("credential store or process file"), "{err}");
        assert!(err.contains(&link.display().to_string()), "{err}");
        let direct = ValueSource::File("/proc/self/environ".into());
        assert!(read_value(&direct, true).is_err());
    }

    #[test]
    fn credential_variables_are_refused_at_read_time() {
        let err =
            read_value(&ValueSource::Env("DATABRICKS_TOKEN".into()), true).expect_err("refused");
        assert!(err.contains("holds credentials"), "{err}");
        assert!(err.contains("DATABRICKS_TOKEN"), "{err}");
    }

    #[test]
    fn ordinary_files_are_read_and_big_ones_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let small = dir.path().join("small");
        std::fs::write(&small, b"s3cret").expect("write");
        let value =
            read_value(&ValueSource::File(small.display().to_string()), false).expect("read");
        assert_eq!(value, b"s3cret");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; MAX_SECRET_BYTES as usize + 1]).expect("write");
        let err =
            read_value(&ValueSource::File(big.display().to_string()), true).expect_err("too large");
        assert!(err.contains("128 KiB"), "{err}");
        // A missing file is a placeholder for embedded workspaces, as before.
        let missing = ValueSource::File(dir.path().join("missing").display().to_string());
        assert!(read_value(&missing, true).is_ok());
        assert!(read_value(&missing, false).is_err());
    }
}
