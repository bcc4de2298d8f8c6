//! Changing the configuration on disk the way a person would: `active:` rewritten in place and
//! variables added (comments and formatting kept), and the change committed with git2.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{ConfigError, ConfigTree};

/// Replaces the value of the top-level `active:` key in an environment file's text, keeping
/// everything else (spacing, quotes style, trailing comment). `None` if there is no such line.
pub fn with_active(text: &str, workspace: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + workspace.len());
    let mut found = false;
    for line in text.split_inclusive('\n') {
        if !found && let Some(rest) = line.strip_prefix("active:") {
            let value_start = rest.len() - rest.trim_start_matches([' ', '\t']).len();
            let after = &rest[value_start..];
            let value_len = match after.chars().next() {
                Some(q @ ('"' | '\'')) => after[1..].find(q).map_or(after.len(), |i| i + 2),
                _ => after
                    .find([' ', '\t', '#', '\r', '\n'])
                    .unwrap_or(after.len()),
            };
            out.push_str("active:");
            out.push_str(&rest[..value_start]);
            out.push_str(workspace);
            out.push_str(&after[value_len..]);
            found = true;
        } else {
            out.push_str(line);
        }
    }
    found.then_some(out)
}

/// Sets `active:` in `environments/<env>.yaml` under `root`; returns whether the file changed.
/// The file is read as every configuration file is (no symbolic link on the way, within the
/// size cap) and written without following a link, so the edit lands in the repository's own
/// file and nowhere else.
pub fn set_active(root: &Path, environment: &str, workspace: &str) -> Result<bool, ConfigError> {
    edit_environment(root, environment, |text| {
        with_active(text, workspace).ok_or_else(|| "no top-level `active:` line to update".into())
    })
}

/// Adds `variables` (name → workspace → value) to `environments/<env>.yaml` under `root`, read
/// and written as [`set_active`] does; returns whether the file changed.
pub fn add_variables(
    root: &Path,
    environment: &str,
    variables: &BTreeMap<String, BTreeMap<String, Value>>,
) -> Result<bool, ConfigError> {
    edit_environment(root, environment, |text| {
        with_variables(text, variables).ok_or_else(|| {
            "its `variables:` is written inline (`variables: {a: 1}`); write it as a block (one variable per line) to let tandem add to it".into()
        })
    })
}

/// Rewrites `environments/<env>.yaml` under `root` with `edit`; whether the file changed.
fn edit_environment(
    root: &Path,
    environment: &str,
    edit: impl FnOnce(&str) -> Result<String, String>,
) -> Result<bool, ConfigError> {
    super::check_environment_name(environment)?;
    let rel = format!("environments/{environment}.yaml");
    let read_error = |reason: String| ConfigError::Read {
        path: rel.clone(),
        reason,
    };
    let tree = ConfigTree::WorkTree {
        root: root.to_path_buf(),
    };
    let text = tree
        .read(&rel)?
        .ok_or_else(|| read_error("the file does not exist".into()))?;
    let text = text.as_str();
    let updated = edit(text).map_err(read_error)?;
    if updated == text {
        return Ok(false);
    }
    write_no_follow(&root.join(&rel), updated.as_bytes()).map_err(|e| read_error(e.to_string()))?;
    Ok(true)
}

/// Adds `variables` (name → workspace → value, each value a scalar) to an environment file's
/// text: under its top-level block `variables:` (after its last entry, indented as its entries
/// are), or as a new block at the end; `variables: {}` becomes a block. `None` when `variables:`
/// is written inline with entries. Everything else is kept as it is.
pub fn with_variables(
    text: &str,
    variables: &BTreeMap<String, BTreeMap<String, Value>>,
) -> Option<String> {
    if variables.is_empty() {
        return Some(text.to_string());
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let blank = |l: &str| l.trim().is_empty() || l.trim_start().starts_with('#');
    let header = lines.iter().position(|l| l.starts_with("variables:"));
    let entries = |indent: &str| {
        let mut out = String::new();
        for (name, values) in variables {
            out.push_str(&format!("{indent}{name}:\n"));
            for (workspace, value) in values {
                // JSON's scalars are YAML's: a string double-quoted, escapes and all.
                let value = serde_json::to_string(value).unwrap_or_default();
                out.push_str(&format!("{indent}{indent}{workspace}: {value}\n"));
            }
        }
        out
    };
    let Some(header) = header else {
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("variables:\n");
        out.push_str(&entries("  "));
        return Some(out);
    };
    let rest = lines[header]["variables:".len()..].trim();
    let inline = !(rest.is_empty() || rest.starts_with('#'));
    if inline && rest.trim_end_matches(|c: char| c != '}' && c.is_whitespace()) != "{}" {
        return None;
    }
    // The block's lines: indented (or blank) lines after the header, up to the last indented one.
    let mut last = header;
    let mut indent = "  ".to_string();
    let mut found_entry = false;
    for (i, line) in lines.iter().enumerate().skip(header + 1) {
        if blank(line) {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            break;
        }
        if !found_entry {
            indent = line[..line.len() - line.trim_start().len()].to_string();
            found_entry = true;
        }
        last = i;
    }
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i == header && inline {
            out.push_str("variables:\n");
        } else {
            out.push_str(line);
        }
        if i == last {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&entries(&indent));
        }
    }
    Some(out)
}

/// Replaces a file atomically, never writing through a symbolic link.
fn write_no_follow(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    // Beside it, then renamed over it: a promotion killed mid-write must not leave the file
    // empty. The temporary file is created new (never written through a link left there), and
    // a rename replaces the directory entry itself, never what a link points to.
    let temp = path.with_extension("yaml.tandem-tmp");
    let _ = std::fs::remove_file(&temp);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(content)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// Commits the file `rel` (relative to `root`) as it is on disk, on top of HEAD, without
/// committing anything else that happens to be staged. Returns the new commit's SHA, or `None`
/// when `root` is not in a Git repository or the file already matches HEAD.
pub fn commit_file(root: &Path, rel: &str, message: &str) -> Result<Option<String>, ConfigError> {
    let Ok(repo) = git2::Repository::discover(root) else {
        return Ok(None);
    };
    let git = |e: git2::Error| ConfigError::Read {
        path: rel.to_string(),
        reason: format!("git: {}", e.message()),
    };
    let workdir = repo.workdir().ok_or_else(|| ConfigError::Read {
        path: rel.into(),
        reason: "bare repository".into(),
    })?;
    let absolute = root
        .join(rel)
        .canonicalize()
        .map_err(|e| ConfigError::Read {
            path: rel.into(),
            reason: e.to_string(),
        })?;
    let in_repo = absolute
        .strip_prefix(
            workdir
                .canonicalize()
                .unwrap_or_else(|_| workdir.to_path_buf()),
        )
        .map_err(|_| ConfigError::Read {
            path: rel.into(),
            reason: "outside the repository".into(),
        })?
        .to_path_buf();
    let content = std::fs::read(&absolute).map_err(|e| ConfigError::Read {
        path: rel.into(),
        reason: e.to_string(),
    })?;
    let head = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    // A private index built from HEAD: only this file changes.
    let mut index = git2::Index::new().map_err(git)?;
    if let Some(head) = &head {
        index.read_tree(&head.tree().map_err(git)?).map_err(git)?;
    }
    let blob = repo.blob(&content).map_err(git)?;
    let entry = git2::IndexEntry {
        ctime: git2::IndexTime::new(0, 0),
        mtime: git2::IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o100644,
        uid: 0,
        gid: 0,
        file_size: content.len() as u32,
        id: blob,
        flags: 0,
        flags_extended: 0,
        path: in_repo.to_string_lossy().replace('\\', "/").into_bytes(),
    };
    index.add(&entry).map_err(git)?;
    let tree_id = index.write_tree_to(&repo).map_err(git)?;
    if head.as_ref().is_some_and(|h| h.tree_id() == tree_id) {
        return Ok(None);
    }
    let tree = repo.find_tree(tree_id).map_err(git)?;
    let signature = repo
        .signature()
        .or_else(|_| git2::Signature::now("tandem", "tandem@localhost"))
        .map_err(git)?;
    let parents: Vec<&git2::Commit> = head.iter().collect();
    let oid = repo
        .commit(
            Some("HEAD"),
            &signature,
            &signature,
            message,
            &tree,
            &parents,
        )
        .map_err(git)?;
    // Keep the real index in step so the file does not show as modified.
    if let Ok(mut real) = repo.index() {
        let _ = real.add_path(&in_repo);
        let _ = real.write();
    }
    Ok(Some(oid.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn set_active_never_writes_through_a_link() {
        let outside = tempfile::tempdir().expect("temp dir");
        let target = outside.path().join("victim.yaml");
        std::fs::write(&target, "active: primary\n").expect("write");
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(root.path().join("environments")).expect("mkdir");
        std::os::unix::fs::symlink(&target, root.path().join("environments/prod.yaml"))
            .expect("symlink");
        let err = set_active(root.path(), "prod", "secondary").expect_err("refused");
        assert!(matches!(err, ConfigError::Symlink { .. }), "{err}");
        assert_eq!(
            std::fs::read_to_string(&target).expect("read"),
            "active: primary\n"
        );
        assert!(set_active(root.path(), "../x", "secondary").is_err());
        // An ordinary file is edited in place.
        std::fs::remove_file(root.path().join("environments/prod.yaml")).expect("rm");
        std::fs::write(
            root.path().join("environments/prod.yaml"),
            "active: primary\n",
        )
        .expect("write");
        assert!(set_active(root.path(), "prod", "secondary").expect("edited"));
        assert_eq!(
            std::fs::read_to_string(root.path().join("environments/prod.yaml")).expect("read"),
            "active: secondary\n"
        );
    }

    fn vars() -> BTreeMap<String, BTreeMap<String, Value>> {
        BTreeMap::from([(
            "root".to_string(),
            BTreeMap::from([
                ("primary".to_string(), serde_json::json!("east \"1\"")),
                ("secondary".to_string(), serde_json::json!(2)),
            ]),
        )])
    }

    #[test]
    fn variables_are_added_to_the_block_or_as_a_new_one() {
        let added = "  root:\n    primary: \"east \\\"1\\\"\"\n    secondary: 2\n";
        assert_eq!(
            with_variables("active: primary\n", &vars()).expect("added"),
            format!("active: primary\nvariables:\n{added}")
        );
        let text = "active: primary\nvariables:   # shared\n  team: x\n\n  # east/west\n  region:\n    primary: e\n    secondary: w\n\n# after\ninclude: []\n";
        assert_eq!(
            with_variables(text, &vars()).expect("added"),
            format!(
                "active: primary\nvariables:   # shared\n  team: x\n\n  # east/west\n  region:\n    primary: e\n    secondary: w\n{added}\n# after\ninclude: []\n"
            )
        );
        let four = "variables:\n    team: x\n";
        assert!(with_variables(four, &vars()).expect("added").ends_with(
            "    team: x\n    root:\n        primary: \"east \\\"1\\\"\"\n        secondary: 2\n"
        ));
        assert_eq!(
            with_variables("variables: {}\nactive: a", &vars()).expect("added"),
            format!("variables:\n{added}active: a")
        );
        assert!(with_variables("variables: {team: x}\n", &vars()).is_none());
        // What is written loads back as the same values.
        let written = with_variables("active: primary\n", &vars()).expect("added");
        let loaded: serde_json::Value = serde_saphyr::from_str(&written).expect("yaml");
        assert_eq!(loaded["variables"]["root"]["primary"], "east \"1\"");
        assert_eq!(loaded["variables"]["root"]["secondary"], 2);
    }

    #[test]
    fn rewrites_only_the_value() {
        let text = "# env\nworkspaces: {}\nactive: primary           # the live one\ninclude: []\n";
        assert_eq!(
            with_active(text, "secondary").expect("found"),
            "# env\nworkspaces: {}\nactive: secondary           # the live one\ninclude: []\n"
        );
        assert_eq!(
            with_active("active: \"primary\"\n", "dr").expect("found"),
            "active: dr\n"
        );
        assert_eq!(
            with_active("active:primary", "dr").expect("found"),
            "active:dr"
        );
        assert!(with_active("  active: nested\n", "dr").is_none());
    }
}
