//! Where configuration files come from: the work tree, or a Git revision read with git2.
//!
//! Only files inside the config root are read, and never through a symbolic link: a link in a
//! pull request could otherwise make tandem read (and print, in a diagnostic) any file of the
//! machine running it, `/proc/self/environ` included. The text of every file a diagnostic can
//! show comes through [`ConfigTree::read`] as a [`ConfigText`].

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::ConfigError;
use super::node::{FileId, Span};

/// The largest configuration file tandem reads (32 MiB): hundreds of times any real one (the
/// benchmark's 10,000 resources take 12 MiB in all), small enough that a hostile file cannot
/// exhaust memory or time.
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Lines longer than this have their columns counted from a checkpoint, not from their start.
const CHECKPOINT_BYTES: usize = 4096;

/// The text of a file of the configuration repository, read by [`ConfigTree::read`]: the only
/// text a [`SourceSet`] (and so a diagnostic) takes.
#[derive(Debug)]
pub struct ConfigText(String);

impl ConfigText {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One configuration file's text, kept for diagnostics.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the config root, with `/` separators.
    pub path: String,
    /// The file's contents.
    pub text: Arc<str>,
    line_starts: Vec<usize>,
    /// (byte offset, characters before it) every [`CHECKPOINT_BYTES`] or so, built on first
    /// need: a column in a very long line costs a bounded count, not the line's length.
    char_checkpoints: OnceLock<Vec<(usize, usize)>>,
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
            char_checkpoints: OnceLock::new(),
        }
    }

    /// 1-based line and column (in characters) of byte `offset`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let column = if offset - start <= CHECKPOINT_BYTES {
            self.chars_between(start, offset)
        } else {
            self.chars_before(offset) - self.chars_before(start)
        };
        (line + 1, column + 1)
    }

    /// Characters in `text[from..to]` (bytes when the range splits a character).
    fn chars_between(&self, from: usize, to: usize) -> usize {
        self.text
            .get(from..to)
            .map(|s| s.chars().count())
            .unwrap_or(to - from)
    }

    /// Characters before byte `offset`, counted from the nearest checkpoint.
    fn chars_before(&self, offset: usize) -> usize {
        let checkpoints = self.char_checkpoints.get_or_init(|| {
            let mut points = vec![(0, 0)];
            let (mut at, mut chars) = (0, 0);
            while at + CHECKPOINT_BYTES < self.text.len() {
                let mut next = at + CHECKPOINT_BYTES;
                while !self.text.is_char_boundary(next) {
                    next += 1;
                }
                chars += self.chars_between(at, next);
                at = next;
                points.push((at, chars));
            }
            points
        });
        let i = checkpoints.partition_point(|&(b, _)| b <= offset) - 1;
        let (at, chars) = checkpoints[i];
        chars + self.chars_between(at, offset)
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
    /// Adds a configuration file and returns its id.
    pub fn add(&mut self, path: String, text: ConfigText) -> FileId {
        self.files.push(SourceFile::new(path, Arc::from(text.0)));
        FileId((self.files.len() - 1) as u32)
    }

    /// The file with `id`.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// Overwrites the text under `span` with `*` (byte for byte, so every offset stays valid):
    /// a secret or token written into a file must not reappear in a diagnostic's excerpt.
    pub fn redact(&mut self, span: Span) {
        self.redact_all(std::iter::once(span));
    }

    /// [`SourceSet::redact`] for many spans, rewriting each file once (a file with many literal
    /// secrets costs one pass, not one per secret). Each span is covered up to the end of its
    /// line, so a quoted or multi-part scalar is hidden whole.
    pub fn redact_all(&mut self, spans: impl IntoIterator<Item = Span>) {
        let mut by_file: std::collections::BTreeMap<FileId, Vec<(usize, usize)>> =
            Default::default();
        for span in spans {
            let text = &self.files[span.file.0 as usize].text;
            let mut end = (span.start + span.len.max(1)).min(text.len());
            let mut start = span.start.min(end);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            while !text.is_char_boundary(end) {
                end += 1;
            }
            let end = text[end..].find('\n').map_or(text.len(), |i| end + i);
            by_file.entry(span.file).or_default().push((start, end));
        }
        for (file, mut ranges) in by_file {
            let file = &mut self.files[file.0 as usize];
            ranges.sort_unstable();
            let mut text = String::with_capacity(file.text.len());
            let mut at = 0;
            for (start, end) in ranges {
                let start = start.max(at);
                if start >= end {
                    continue;
                }
                text.push_str(&file.text[at..start]);
                text.extend(std::iter::repeat_n('*', end - start));
                at = end;
            }
            text.push_str(&file.text[at..]);
            file.text = Arc::from(text);
        }
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

    /// Reads one file, relative to the config root; `Ok(None)` if it does not exist. A symbolic
    /// link on the way (the file or a directory above it) is an error, never followed; so is a
    /// path that is not plainly inside the root, a file that is not a regular file, and one
    /// larger than [`MAX_FILE_BYTES`].
    pub fn read(&self, rel: &str) -> Result<Option<ConfigText>, ConfigError> {
        if !is_plain_relative(rel) {
            return Err(ConfigError::OutsideRoot {
                path: rel.to_string(),
            });
        }
        match self {
            ConfigTree::WorkTree { root } => read_work_tree(root, rel),
            ConfigTree::Git {
                repo,
                tree,
                prefix,
                commit,
            } => read_git(repo, *tree, *commit, prefix, rel),
        }
    }

    /// Every file below the config root, as `/`-separated relative paths, sorted, and the
    /// symbolic links met on the way (listed, never followed).
    pub fn list(&self) -> Result<Listing, ConfigError> {
        let mut listing = Listing::default();
        match self {
            ConfigTree::WorkTree { root } => walk_dir(root, "", &mut listing)?,
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
                        Err(_) => return Ok(listing),
                    }
                };
                start
                    .walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
                        let name = entry.name().unwrap_or_default();
                        let is_tree = entry.kind() == Some(git2::ObjectType::Tree);
                        if SKIPPED_DIRS.contains(&name) {
                            return if is_tree {
                                git2::TreeWalkResult::Skip
                            } else {
                                git2::TreeWalkResult::Ok
                            };
                        }
                        // A link is stored as a blob holding its target: the mode tells it apart.
                        if entry.filemode() == GIT_SYMLINK_MODE {
                            listing.symlinks.push(format!("{dir}{name}"));
                        } else if entry.kind() == Some(git2::ObjectType::Blob) {
                            listing.files.push(format!("{dir}{name}"));
                        }
                        git2::TreeWalkResult::Ok
                    })
                    .map_err(|e| git_read(prefix, e))?;
            }
        }
        listing.files.sort();
        listing.symlinks.sort();
        Ok(listing)
    }
}

/// What is below the config root.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Regular files, relative to the root, sorted.
    pub files: Vec<String>,
    /// Symbolic links (to files or directories; their targets are never read), sorted.
    pub symlinks: Vec<String>,
}

/// Git's file mode for a symbolic link.
const GIT_SYMLINK_MODE: i32 = 0o120000;

/// Whether `rel` is a plain relative path: `/`-separated names, none empty, `.` or `..`, no
/// backslash or drive, so joining it to the root cannot leave the root.
pub fn is_plain_relative(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.contains(['\\', '\0'])
        && !Path::new(rel).is_absolute()
        && !Path::new(rel).has_root()
        && rel
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !is_drive(part))
}

/// `C:` and the like, which Windows would take as a drive.
fn is_drive(part: &str) -> bool {
    let bytes = part.as_bytes();
    bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic()
}

fn symlink_error(path: &str, source_note: &str) -> ConfigError {
    ConfigError::Symlink {
        paths: format!("`{path}` is a symbolic link"),
        source_note: source_note.to_string(),
    }
}

fn read_work_tree(root: &Path, rel: &str) -> Result<Option<ConfigText>, ConfigError> {
    let read_error = |e: std::io::Error| ConfigError::Read {
        path: rel.to_string(),
        reason: e.to_string(),
    };
    // Every name on the way must be what it seems: a directory link would lead out of the root.
    let parts: Vec<&str> = rel.split('/').collect();
    let mut path = root.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(symlink_error(&parts[..=i].join("/"), ""));
            }
            Ok(meta) if i + 1 < parts.len() && !meta.is_dir() => return Ok(None),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(read_error(e)),
        }
    }
    // The last name is opened without following a link, so one swapped in after the check above
    // fails to open instead of being read.
    let mut file = match open_no_follow(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if is_link_refusal(&e) => return Err(symlink_error(rel, "")),
        Err(e) => return Err(read_error(e)),
    };
    let meta = file.metadata().map_err(read_error)?;
    if !meta.is_file() {
        return Err(ConfigError::NotAFile {
            path: rel.to_string(),
        });
    }
    check_size(rel, meta.len(), "")?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&mut file)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    check_size(rel, bytes.len() as u64, "")?;
    decode(rel, bytes).map(Some)
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    // O_NONBLOCK: a FIFO put where a file was expected must not hang the open.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// Whether opening failed because the last name is a link (`O_NOFOLLOW`'s ELOOP, or EMLINK on
/// the BSDs).
fn is_link_refusal(error: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(error.raw_os_error(), Some(libc::ELOOP | libc::EMLINK))
    }
    #[cfg(not(unix))]
    {
        let _ = error;
        false
    }
}

fn check_size(rel: &str, size: u64, source_note: &str) -> Result<(), ConfigError> {
    if size > MAX_FILE_BYTES {
        return Err(ConfigError::TooLarge {
            path: rel.to_string(),
            size_mib: size.div_ceil(1024 * 1024),
            cap_mib: MAX_FILE_BYTES / (1024 * 1024),
            source_note: source_note.to_string(),
        });
    }
    Ok(())
}

fn read_git(
    repo: &git2::Repository,
    tree: git2::Oid,
    commit: git2::Oid,
    prefix: &str,
    rel: &str,
) -> Result<Option<ConfigText>, ConfigError> {
    let note = format!(" at {}", &commit.to_string()[..7]);
    let mut tree = repo.find_tree(tree).map_err(|e| git_read(rel, e))?;
    let prefix_parts: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
    let parts: Vec<&str> = prefix_parts.iter().copied().chain(rel.split('/')).collect();
    for (i, part) in parts.iter().enumerate() {
        let Some(entry) = tree.get_name(part) else {
            return Ok(None);
        };
        if entry.filemode() == GIT_SYMLINK_MODE {
            // Name it as the user sees it: relative to the root when below it.
            let shown = if i < prefix_parts.len() {
                parts[..=i].join("/")
            } else {
                parts[prefix_parts.len()..=i].join("/")
            };
            return Err(symlink_error(&shown, &note));
        }
        let last = i + 1 == parts.len();
        let (kind, id) = (entry.kind(), entry.id());
        drop(entry);
        match (kind, last) {
            (Some(git2::ObjectType::Tree), false) => {
                tree = repo.find_tree(id).map_err(|e| git_read(rel, e))?;
            }
            (Some(git2::ObjectType::Blob), true) => {
                // The size from the object's header: a huge blob is refused before it is inflated.
                let (size, _) = repo
                    .odb()
                    .and_then(|odb| odb.read_header(id))
                    .map_err(|e| git_read(rel, e))?;
                check_size(rel, size as u64, &note)?;
                let blob = repo.find_blob(id).map_err(|e| git_read(rel, e))?;
                return decode(rel, blob.content().to_vec()).map(Some);
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}

fn walk_dir(dir: &Path, rel: &str, out: &mut Listing) -> Result<(), ConfigError> {
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
        if SKIPPED_DIRS.contains(&name.as_str()) {
            continue;
        }
        let path = format!("{rel}{name}");
        // The entry's own type: a link is reported as a link, whatever it points to.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            out.symlinks.push(path);
        } else if kind.is_dir() {
            walk_dir(&entry.path(), &format!("{path}/"), out)?;
        } else if kind.is_file() {
            out.files.push(path);
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

fn decode(rel: &str, bytes: Vec<u8>) -> Result<ConfigText, ConfigError> {
    String::from_utf8(bytes)
        .map(ConfigText)
        .map_err(|e| ConfigError::Read {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_read() {
        for ok in ["environments/prod.yaml", "resources/a/b.hcl", "x..y/z"] {
            assert!(is_plain_relative(ok), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            "C:/x",
            "a/\0",
        ] {
            assert!(!is_plain_relative(bad), "{bad:?}");
        }
    }

    #[test]
    fn columns_in_long_lines_match_a_plain_count() {
        let line: String = (0..20_000)
            .map(|i| if i % 7 == 0 { 'é' } else { 'a' })
            .collect();
        let text = format!("first\n{line}\nlast");
        let file = SourceFile::new("t".into(), Arc::from(text.as_str()));
        for offset in [0, 3, 6, 7, 100, 4_500, 9_001, 15_000, text.len() - 2] {
            let mut offset = offset;
            while !text.is_char_boundary(offset) {
                offset += 1;
            }
            let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
            let expected = text[line_start..offset].chars().count() + 1;
            assert_eq!(file.line_col(offset).1, expected, "offset {offset}");
        }
    }

    #[test]
    fn redacting_many_spans_keeps_offsets() {
        let mut sources = SourceSet::default();
        let id = sources.add(
            "t".into(),
            ConfigText("a: s3cret\nb: ok\nc: t0ken\n".into()),
        );
        sources.redact_all([
            Span::new(id, 3, 6),
            Span::new(id, 19, 5),
            Span::new(id, 4, 1),
        ]);
        assert_eq!(&*sources.file(id).text, "a: ******\nb: ok\nc: *****\n");
    }
}
