//! A temporary tandem repository and ways to run tandem against it.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// The repository's own root (where `examples/` and `environments/` live).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary config repository.
pub struct TestRepo {
    dir: tempfile::TempDir,
    git: Option<git2::Repository>,
}

/// A pair of workspaces on embedded emulators, the smallest valid environment.
pub const PAIR_ENV: &str = "workspaces:\n  primary:\n    host: local:primary\n  secondary:\n    host: local:secondary\nactive: primary\n";

impl TestRepo {
    /// An empty repository directory.
    pub fn new() -> Self {
        TestRepo {
            dir: tempfile::tempdir().expect("temp dir"),
            git: None,
        }
    }

    /// A repository with `environments/test.yaml` holding `env`.
    pub fn with_env(env: &str) -> Self {
        Self::new().file("environments/test.yaml", env)
    }

    /// Writes a file (creating directories).
    pub fn file(self, rel: &str, contents: &str) -> Self {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
        self
    }

    /// Copies a directory of the project (e.g. `examples`) into the repository.
    pub fn copy_from_project(self, rel: &str) -> Self {
        copy_dir(&project_root().join(rel), &self.dir.path().join(rel));
        self
    }

    /// Makes the directory a Git repository.
    pub fn git_init(mut self) -> Self {
        self.git = Some(git2::Repository::init(self.dir.path()).expect("git init"));
        self
    }

    /// Commits every file; returns the commit's SHA.
    pub fn commit(&self, message: &str) -> String {
        let repo = self.git.as_ref().expect("git_init first");
        let mut index = repo.index().expect("index");
        index
            .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
            .expect("add");
        index.write().expect("write index");
        let tree = repo
            .find_tree(index.write_tree().expect("tree"))
            .expect("find tree");
        let sig = git2::Signature::now("Test", "test@example.com").expect("sig");
        let parents: Vec<git2::Commit> = repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parent_refs)
            .expect("commit")
            .to_string()
    }

    /// The repository's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes (or overwrites) a file of an existing repository, creating directories.
    pub fn write(&self, rel: &str, contents: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }

    /// Like [`TestRepo::tandem`], with extra environment variables set on the tandem process
    /// (set after the inherited tandem settings are removed, so `TANDEM_LOG` may be given).
    pub fn tandem_env(&self, args: &[&str], envs: &[(&str, &str)]) -> TandemRun {
        let mut command = Command::cargo_bin("tandem").expect("binary");
        command
            .arg("-C")
            .arg(self.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("TANDEM_ENV")
            .env_remove("TANDEM_LOG");
        for (key, value) in envs {
            command.env(key, value);
        }
        TandemRun {
            output: command.output().expect("run tandem"),
        }
    }

    /// `tandem -C <repo> <args>`, with colour off and no inherited tandem settings.
    pub fn tandem(&self, args: &[&str]) -> TandemRun {
        let output = Command::cargo_bin("tandem")
            .expect("binary")
            .arg("-C")
            .arg(self.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("TANDEM_ENV")
            .env_remove("TANDEM_LOG")
            .output()
            .expect("run tandem");
        TandemRun { output }
    }
}

/// The outcome of one tandem run.
pub struct TandemRun {
    output: Output,
}

impl TandemRun {
    /// Exit code.
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    /// Standard output.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    /// Standard error.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    /// Asserts success and returns stdout.
    pub fn success(&self) -> String {
        assert_eq!(
            self.code(),
            0,
            "tandem failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }
    /// Standard output and standard error together.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout(), self.stderr())
    }
    /// Asserts exit code 1 and returns stderr.
    pub fn failure(&self) -> String {
        assert_eq!(
            self.code(),
            1,
            "expected failure:\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self.stderr()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Git inspection helpers (added for tests/integration/promote.rs). Additions only: nothing above
// this line depends on them.
// ---------------------------------------------------------------------------------------------

impl TestRepo {
    /// The Git repository (after [`TestRepo::git_init`]).
    pub fn git_repo(&self) -> &git2::Repository {
        self.git.as_ref().expect("git_init first")
    }

    /// A file of the work tree, as text.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(rel)).expect("read file")
    }

    /// The commit HEAD points to.
    pub fn head_commit(&self) -> git2::Commit<'_> {
        self.git_repo()
            .head()
            .expect("HEAD")
            .peel_to_commit()
            .expect("HEAD commit")
    }

    /// HEAD's SHA.
    pub fn head_sha(&self) -> String {
        self.head_commit().id().to_string()
    }

    /// HEAD's full commit message.
    pub fn head_message(&self) -> String {
        self.head_commit().message().unwrap_or_default().to_string()
    }

    /// How many commits HEAD's history holds.
    pub fn commit_count(&self) -> usize {
        let repo = self.git_repo();
        let mut walk = repo.revwalk().expect("revwalk");
        walk.push_head().expect("push HEAD");
        walk.count()
    }

    /// The content of `rel` in HEAD's tree (`None` when HEAD has no such file).
    pub fn file_at_head(&self, rel: &str) -> Option<String> {
        let commit = self.head_commit();
        let tree = commit.tree().expect("tree");
        let entry = tree.get_path(Path::new(rel)).ok()?;
        let blob = entry
            .to_object(self.git_repo())
            .expect("object")
            .peel_to_blob()
            .expect("blob");
        Some(String::from_utf8_lossy(blob.content()).into_owned())
    }

    /// The paths HEAD changed compared with its first parent (every path for a root commit).
    pub fn files_changed_by_head(&self) -> Vec<String> {
        let repo = self.git_repo();
        let commit = self.head_commit();
        let tree = commit.tree().expect("tree");
        let parent_tree = commit
            .parent(0)
            .ok()
            .map(|p| p.tree().expect("parent tree"));
        let diff = repo
            .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), None)
            .expect("diff");
        diff.deltas()
            .filter_map(|d| d.new_file().path().or_else(|| d.old_file().path()))
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .collect()
    }

    /// Whether `rel` differs from HEAD in the index or the work tree (untracked counts).
    pub fn is_modified(&self, rel: &str) -> bool {
        let status = self.git_repo().status_file(Path::new(rel)).expect("status");
        !status.is_empty() && status != git2::Status::CURRENT && status != git2::Status::IGNORED
    }

    /// `git checkout HEAD -- <rel>`: the file (or every file under a folder) as HEAD has it.
    pub fn checkout_from_head(&self, rel: &str) {
        let mut options = git2::build::CheckoutBuilder::new();
        options.force().path(rel);
        self.git_repo()
            .checkout_head(Some(&mut options))
            .expect("checkout");
    }
}
