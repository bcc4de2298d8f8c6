//! Reading secret values from their sources, only when they are needed, never keeping them.
//!
//! A source is checked again here, after `~` and every symlink are resolved, against the same
//! deny-list the configuration was validated with ([`crate::config::secret_source`]): a file that
//! was a harmless path at validation may be a link to a credential store on the machine that
//! runs the apply.

use std::io::Read as _;
use std::path::Path;

use std::collections::BTreeSet;

use crate::config::secret_source::{Refusal, ResolveError, SourceGuard};
use crate::model::ValueSource;
use crate::plan::{Action, Plan, PlannedAction, UncomparedSecret, WorkspacePlan};

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
    read_source(source, placeholder_ok).map_err(|problem| match problem {
        SourceProblem::Absent(reason) | SourceProblem::Refused(reason) => reason,
    })
}

/// Why a secret's value cannot be had in this run. Messages name the source (a variable or a
/// path), never any of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceProblem {
    /// Absent in this run: a variable not set or empty, a file missing or unreadable. Plans do
    /// not compare such a secret; apply refuses it unless told to skip it.
    Absent(String),
    /// A source tandem will not read (a credential store, a variable holding credentials).
    Refused(String),
}

/// Like [`read_value`], telling an absent source from a refused one.
pub fn read_source(source: &ValueSource, placeholder_ok: bool) -> Result<Vec<u8>, SourceProblem> {
    match read_guarded(source, &SourceGuard::for_process()) {
        Err(SourceFailure::Unreadable(_)) if placeholder_ok => Ok(placeholder(source)),
        Err(SourceFailure::Unreadable(reason)) => Err(SourceProblem::Absent(reason)),
        Err(SourceFailure::Refused(reason)) => Err(SourceProblem::Refused(reason)),
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

fn read_guarded(source: &ValueSource, guard: &SourceGuard) -> Result<Vec<u8>, SourceFailure> {
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

/// Checks the secrets a plan writes or leaves uncompared against this run's sources, just
/// before applying it: a put whose source is absent now is not compared (and not written); a
/// secret a saved plan could not compare (made by a run without secret values, such as a
/// pull request's) whose source can be read now is put, and that write compares the value with
/// tandem's record and writes it only when it differs. Workspaces in `embedded` give every
/// unreadable source a placeholder, so nothing is absent there.
pub fn settle(plan: &mut Plan, embedded: &BTreeSet<String>) {
    for w in &mut plan.workspaces {
        let placeholder_ok = embedded.contains(&w.workspace);
        settle_workspace(w, &|source| absent_now(source, placeholder_ok));
    }
}

/// Why `source` is absent in this run, if it is (a refused source is the write's to report).
fn absent_now(source: Option<&ValueSource>, placeholder_ok: bool) -> Option<String> {
    match read_source(source?, placeholder_ok) {
        Err(SourceProblem::Absent(why)) => Some(why),
        Ok(_) | Err(SourceProblem::Refused(_)) => None,
    }
}

fn settle_workspace(
    w: &mut WorkspacePlan,
    absent: &dyn Fn(Option<&ValueSource>) -> Option<String>,
) {
    let (readable, mut still): (Vec<UncomparedSecret>, Vec<UncomparedSecret>) =
        std::mem::take(&mut w.not_compared)
            .into_iter()
            .partition(|s| s.source.is_some() && absent(s.source.as_ref()).is_none());
    let mut kept = Vec::with_capacity(w.actions.len());
    for a in std::mem::take(&mut w.actions) {
        if let Action::PutSecret {
            scope,
            key,
            reason,
            source,
        } = &a.action
            && let Some(why) = absent(source.as_ref())
        {
            still.push(UncomparedSecret {
                resource: a.resource.clone(),
                scope: scope.clone(),
                key: key.clone(),
                source: source.clone(),
                exists: reason != "new",
                reason: why,
            });
            continue;
        }
        kept.push(a);
    }
    w.actions = kept;
    w.not_compared = still;
    for s in readable {
        let put = PlannedAction {
            resource: s.resource.clone(),
            action: Action::PutSecret {
                reason: if s.exists { "unchecked" } else { "new" }.to_string(),
                scope: s.scope,
                key: s.key,
                source: s.source,
            },
        };
        // A resource's actions run in plan order: after its scope is created (and its other
        // puts), before its other changes.
        let same = |a: &PlannedAction| a.resource == put.resource;
        let at = w
            .actions
            .iter()
            .rposition(|a| {
                same(a)
                    && matches!(
                        a.action,
                        Action::CreateScope { .. } | Action::PutSecret { .. }
                    )
            })
            .map(|i| i + 1)
            .or_else(|| w.actions.iter().position(same))
            .unwrap_or(w.actions.len());
        w.actions.insert(at, put);
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
        assert!(matches!(
            read_source(&missing, false),
            Err(SourceProblem::Absent(why)) if why.contains("missing")
        ));
        assert!(matches!(
            read_source(&ValueSource::File(big.display().to_string()), false),
            Err(SourceProblem::Refused(_))
        ));
    }

    fn scope_plan(actions: Vec<Action>, not_compared: Vec<UncomparedSecret>) -> WorkspacePlan {
        let resource = crate::model::ResourceId {
            kind: crate::model::Kind::SecretScopes,
            key: "etl".into(),
        };
        WorkspacePlan {
            workspace: "primary".into(),
            role: crate::model::Role::Active,
            actions: actions
                .into_iter()
                .map(|action| PlannedAction {
                    resource: resource.clone(),
                    action,
                })
                .collect(),
            overrides: Vec::new(),
            live_fingerprint: String::new(),
            notes: Vec::new(),
            config_digests: Default::default(),
            not_compared,
        }
    }

    fn env(var: &str) -> Option<ValueSource> {
        Some(ValueSource::Env(var.into()))
    }

    fn put(key: &str, reason: &str, var: &str) -> Action {
        Action::PutSecret {
            scope: "etl".into(),
            key: key.into(),
            reason: reason.into(),
            source: env(var),
        }
    }

    fn uncompared(key: &str, exists: bool, var: &str) -> UncomparedSecret {
        UncomparedSecret {
            resource: crate::model::ResourceId {
                kind: crate::model::Kind::SecretScopes,
                key: "etl".into(),
            },
            scope: "etl".into(),
            key: key.into(),
            source: env(var),
            exists,
            reason: format!("environment variable {var} is not set or empty"),
        }
    }

    #[test]
    fn settling_puts_what_can_be_read_now_and_leaves_the_rest_uncompared() {
        let set = ["NOW_SET", "ALSO_SET"];
        let absent = |s: Option<&ValueSource>| match s {
            Some(ValueSource::Env(v)) if !set.contains(&v.as_str()) => {
                Some(format!("environment variable {v} is not set or empty"))
            }
            _ => None,
        };
        let acl = Action::PutAcl {
            scope: "etl".into(),
            principal: "data-eng".into(),
            before: None,
            permission: "READ".into(),
        };
        let mut w = scope_plan(
            vec![
                Action::CreateScope { name: "etl".into() },
                put("gone_now", "new", "GONE"),
                acl.clone(),
            ],
            vec![
                uncompared("readable", false, "NOW_SET"),
                uncompared("still", true, "STILL"),
            ],
        );
        settle_workspace(&mut w, &absent);
        let actions: Vec<&Action> = w.actions.iter().map(|a| &a.action).collect();
        assert_eq!(
            actions,
            [
                &Action::CreateScope { name: "etl".into() },
                &put("readable", "new", "NOW_SET"),
                &acl
            ]
        );
        let left: Vec<(&str, bool)> = w
            .not_compared
            .iter()
            .map(|s| (s.key.as_str(), s.exists))
            .collect();
        assert_eq!(left, [("still", true), ("gone_now", false)]);

        // Without other actions of its scope, a put is simply added; an existing secret is
        // compared when written.
        let mut w = scope_plan(Vec::new(), vec![uncompared("known", true, "ALSO_SET")]);
        settle_workspace(&mut w, &absent);
        assert_eq!(w.actions[0].action, put("known", "unchecked", "ALSO_SET"));
        assert!(w.not_compared.is_empty());
    }
}
