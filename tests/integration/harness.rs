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
