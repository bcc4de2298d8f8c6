//! Where configuration files come from: the work tree, or a Git revision read with git2.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ConfigError;
use super::node::{FileId, Span};

/// One configuration file's text, kept for diagnostics.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the config root, with `/` separators.
    pub path: String,
    /// The file's contents.
    pub text: Arc<str>,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// A file at `path` holding `text`.
    pub fn new(path: String, text: Arc<str>) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            path,
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of byte `offset`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let column = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(offset - start);
        (line + 1, column + 1)
    }

    /// Byte offset of 1-based `line` and `column` (in characters).
    pub fn offset_of(&self, line: usize, column: usize) -> usize {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let rest = &self.text[start..];
        rest.char_indices()
            .nth(column.saturating_sub(1))
            .map(|(i, _)| start + i)
            .unwrap_or(self.text.len())
    }
}

/// Every file read during one load, addressed by [`FileId`].
#[derive(Debug, Clone, Default)]
pub struct SourceSet {
    files: Vec<SourceFile>,
}

impl SourceSet {
    /// Adds a file and returns its id.
    pub fn add(&mut self, path: String, text: Arc<str>) -> FileId {
        self.files.push(SourceFile::new(path, text));
        FileId((self.files.len() - 1) as u32)
    }

    /// The file with `id`.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// Overwrites the text under `span` with `*` (byte for byte, so every offset stays valid):
    /// a secret or token written into a file must not reappear in a diagnostic's excerpt.
    pub fn redact(&mut self, span: Span) {
        let file = &mut self.files[span.file.0 as usize];
        let end = (span.start + span.len.max(1)).min(file.text.len());
        let (mut start, mut end) = (span.start.min(end), end);
        while !file.text.is_char_boundary(start) {
            start -= 1;
        }
        while !file.text.is_char_boundary(end) {
            end += 1;
        }
        // Cover the whole scalar up to the end of its line, quotes included.
        let line_end = file.text[end..]
            .find('\n')
            .map_or(file.text.len(), |i| end + i);
        let end = line_end.max(end);
        let mut text = String::with_capacity(file.text.len());
        text.push_str(&file.text[..start]);
        text.extend(std::iter::repeat_n('*', end - start));
        text.push_str(&file.text[end..]);
        file.text = Arc::from(text);
    }

    /// `path:line:column` of the start of `span`.
    pub fn position(&self, span: Span) -> String {
        let file = self.file(span.file);
        let (line, col) = file.line_col(span.start);
        format!("{}:{line}:{col}", file.path)
    }
}

/// Where the configuration came from, as printed by `validate` and recorded by `apply`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Provenance {
    /// Read from a Git commit (`--ref`).
    Commit {
        /// Full SHA of the commit.
        sha: String,
    },
    /// Read from the work tree; `head` is the checked-out commit if the root is in a Git repository.
    WorkingTree {
        /// Full SHA of HEAD, if any.
        head: Option<String>,
        /// Whether files differ from HEAD.
        dirty: bool,
    },
}

impl Provenance {
    /// Short form for one-line summaries: `3f2a1c9`, `3f2a1c9+dirty`, or `working tree`.
    pub fn short(&self) -> String {
        match self {
            Provenance::Commit { sha } => sha[..7.min(sha.len())].to_string(),
            Provenance::WorkingTree {
                head: Some(sha),
                dirty,
            } => format!(
                "{}{}",
                &sha[..7.min(sha.len())],
                if *dirty { "+dirty" } else { "" }
            ),
            Provenance::WorkingTree { head: None, .. } => "working tree".to_string(),
        }
    }
}

/// The tree configuration files are read from.
pub enum ConfigTree {
    /// Files on disk below `root`.
    WorkTree {
        /// The config root.
        root: PathBuf,
    },
    /// Files of one Git commit, below `prefix` (the config root's path inside the repository).
    Git {
        /// The repository.
        repo: git2::Repository,
        /// The commit's tree.
        tree: git2::Oid,
        /// The commit.
        commit: git2::Oid,
        /// The config root relative to the repository's top, `/`-separated, empty for the top.
        prefix: String,
    },
}

/// Directories never searched for configuration.
const SKIPPED_DIRS: &[&str] = &[".git", ".tandem", "target", "node_modules"];

impl ConfigTree {
    /// Opens `root`, or the revision `rev` of the Git repository that contains it.
    pub fn open(root: &Path, rev: Option<&str>) -> Result<Self, ConfigError> {
        if !root.is_dir() {
            return Err(ConfigError::RootMissing {
                root: root.display().to_string(),
            });
        }
        let Some(rev) = rev else {
            return Ok(ConfigTree::WorkTree {
                root: root.to_path_buf(),
            });
        };
        let repo = git2::Repository::discover(root).map_err(|e| ConfigError::NotARepository {
            root: root.display().to_string(),
            reason: e.message().to_string(),
        })?;
        let (tree, commit) = {
            let not_found = |e: git2::Error| ConfigError::RefNotFound {
                rev: rev.to_string(),
                reason: e.message().to_string(),
            };
            let commit = repo
                .revparse_single(rev)
                .and_then(|o| o.peel_to_commit())
                .map_err(not_found)?;
            (commit.tree_id(), commit.id())
        };
        let prefix = repo_prefix(&repo, root)?;
        Ok(ConfigTree::Git {
            repo,
            tree,
            commit,
            prefix,
        })
    }

    /// Where the files come from.
    pub fn provenance(&self) -> Provenance {
        match self {
            ConfigTree::Git { commit, .. } => Provenance::Commit {
                sha: commit.to_string(),
            },
            ConfigTree::WorkTree { root } => {
                let Ok(repo) = git2::Repository::discover(root) else {
                    return Provenance::WorkingTree {
                        head: None,
                        dirty: false,
                    };
                };
                let head = repo
                    .head()
                    .ok()
                    .and_then(|h| h.peel_to_commit().ok())
                    .map(|c| c.id().to_string());
                let mut options = git2::StatusOptions::new();
                options.include_untracked(true).include_ignored(false);
                if let Ok(prefix) = repo_prefix(&repo, root)
                    && !prefix.is_empty()
                {
                    options.pathspec(prefix);
                }
                // tandem's own files (embedded workspaces' state) are not configuration.
                let dirty = repo
                    .statuses(Some(&mut options))
                    .map(|s| {
                        s.iter().any(|e| {
                            let path = e.path().unwrap_or_default();
                            !path.starts_with(".tandem/") && !path.contains("/.tandem/")
                        })
                    })
                    .unwrap_or(false);
                Provenance::WorkingTree { head, dirty }
            }
        }
    }

    /// Reads one file, relative to the config root; `Ok(None)` if it does not exist.
    pub fn read(&self, rel: &str) -> Result<Option<String>, ConfigError> {
        match self {
            ConfigTree::WorkTree { root } => {
                let path = root.join(rel);
                match std::fs::read(&path) {
                    Ok(bytes) => decode(rel, bytes).map(Some),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(ConfigError::Read {
                        path: rel.to_string(),
                        reason: e.to_string(),
                    }),
                }
            }
            ConfigTree::Git {
                repo, tree, prefix, ..
            } => {
                let tree = repo.find_tree(*tree).map_err(|e| git_read(rel, e))?;
                let full = join_prefix(prefix, rel);
                let entry = match tree.get_path(Path::new(&full)) {
                    Ok(entry) => entry,
                    Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
                    Err(e) => return Err(git_read(rel, e)),
                };
                let blob = repo.find_blob(entry.id()).map_err(|e| git_read(rel, e))?;
                decode(rel, blob.content().to_vec()).map(Some)
            }
        }
    }

    /// Every file below the config root, as `/`-separated relative paths, sorted.
    pub fn list_files(&self) -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::new();
        match self {
            ConfigTree::WorkTree { root } => walk_dir(root, "", &mut out)?,
            ConfigTree::Git {
                repo, tree, prefix, ..
            } => {
                let tree = repo.find_tree(*tree).map_err(|e| git_read(prefix, e))?;
                let start = if prefix.is_empty() {
                    tree
                } else {
                    match tree.get_path(Path::new(prefix)) {
                        Ok(entry) => repo
                            .find_tree(entry.id())
                            .map_err(|e| git_read(prefix, e))?,
                        Err(_) => return Ok(out),
                    }
                };
                start
                    .walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
                        let name = entry.name().unwrap_or_default();
                        if entry.kind() == Some(git2::ObjectType::Tree) {
                            if SKIPPED_DIRS.contains(&name) {
                                return git2::TreeWalkResult::Skip;
                            }
                        } else if entry.kind() == Some(git2::ObjectType::Blob) {
                            out.push(format!("{dir}{name}"));
                        }
                        git2::TreeWalkResult::Ok
                    })
                    .map_err(|e| git_read(prefix, e))?;
            }
        }
        out.sort();
        Ok(out)
    }
}

fn walk_dir(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), ConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ConfigError::Read {
        path: if rel.is_empty() {
            ".".into()
        } else {
            rel.into()
        },
        reason: e.to_string(),
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{rel}{name}");
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_str()) {
                walk_dir(&entry.path(), &format!("{path}/"), out)?;
            }
        } else if kind.is_file() || kind.is_symlink() {
            out.push(path);
        }
    }
    Ok(())
}

fn repo_prefix(repo: &git2::Repository, root: &Path) -> Result<String, ConfigError> {
    let Some(workdir) = repo.workdir() else {
        return Ok(String::new());
    };
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let (workdir, root) = (canonical(workdir), canonical(root));
    let rel = root.strip_prefix(&workdir).unwrap_or(Path::new(""));
    Ok(rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/"))
}

fn join_prefix(prefix: &str, rel: &str) -> String {
    if prefix.is_empty() {
        rel.to_string()
    } else {
        format!("{prefix}/{rel}")
    }
}

fn decode(rel: &str, bytes: Vec<u8>) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| ConfigError::Read {
        path: rel.to_string(),
        reason: format!(
            "not valid UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })
}

fn git_read(rel: &str, e: git2::Error) -> ConfigError {
    ConfigError::Read {
        path: rel.to_string(),
        reason: e.message().to_string(),
    }
}

/// Files under `root` (relative to it) that differ between the merge base of HEAD and `rev` and
/// the work tree: what a pull request changes.
pub fn changed_since(root: &Path, rev: &str) -> Result<Vec<String>, ConfigError> {
    let repo = git2::Repository::discover(root).map_err(|e| ConfigError::NotARepository {
        root: root.display().to_string(),
        reason: e.message().to_string(),
    })?;
    let not_found = |e: git2::Error| ConfigError::RefNotFound {
        rev: rev.to_string(),
        reason: e.message().to_string(),
    };
    let base = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(not_found)?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(not_found)?;
    let merge_base = repo.merge_base(head.id(), base.id()).map_err(not_found)?;
    let tree = repo
        .find_commit(merge_base)
        .and_then(|c| c.tree())
        .map_err(not_found)?;
    let diff = repo
        .diff_tree_to_workdir_with_index(Some(&tree), None)
        .map_err(not_found)?;
    let prefix = repo_prefix(&repo, root)?;
    let mut files = Vec::new();
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            let Some(path) = file.path().and_then(|p| p.to_str()) else {
                continue;
            };
            let rel = if prefix.is_empty() {
                Some(path)
            } else {
                path.strip_prefix(&format!("{prefix}/"))
            };
            if let Some(rel) = rel
                && !files.iter().any(|f| f == rel)
            {
                files.push(rel.to_string());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// How many commits HEAD is ahead of `sha` (None when `sha` is unknown or not an ancestor).
pub fn commits_since(root: &Path, sha: &str) -> Option<usize> {
    let repo = git2::Repository::discover(root).ok()?;
    let from = git2::Oid::from_str(sha).ok()?;
    let head = repo.head().ok()?.peel_to_commit().ok()?.id();
    if from == head {
        return Some(0);
    }
    if !repo.graph_descendant_of(head, from).ok()? {
        return None;
    }
    repo.graph_ahead_behind(head, from)
        .ok()
        .map(|(ahead, _)| ahead)
}
