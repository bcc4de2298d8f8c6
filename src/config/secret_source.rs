//! Secret sources tandem refuses to read: credential stores, process and device files, files of
//! the config repository, and the variables tandem's own credentials live in.
//!
//! This is a deny-list, not an allow-list, on purpose: a secret's `file:` or `env:` source exists
//! to live anywhere outside the repository (a file a CI secret is mounted at, a vault agent's
//! output, a variable set by the pipeline), and tandem cannot know every legitimate place. What it
//! can know are the places where a pull request would make it copy the runner's own credentials
//! into a workspace, where any workspace user could read them. The same checks run when the
//! configuration is validated and again, after `~` and symlinks are resolved, when a value is
//! read ([`SourceGuard::resolve_file`]).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use super::env::Environment;

/// Variables holding credentials of tandem or of the CI job running it, each with why: a
/// secret's `env:` source may not name one (nor any workspace's `token_env`).
pub const CREDENTIAL_VARIABLES: &[(&str, &str)] = &[
    (
        "DATABRICKS_TOKEN",
        "the Databricks token tandem authenticates with",
    ),
    (
        "DATABRICKS_CLIENT_SECRET",
        "a Databricks service principal's OAuth secret",
    ),
    ("DATABRICKS_PASSWORD", "a Databricks password"),
    (
        "ARM_CLIENT_SECRET",
        "an Azure service principal's secret (Terraform and the Databricks SDK read it)",
    ),
    (
        "AZURE_CLIENT_SECRET",
        "an Azure service principal's secret (the Azure SDKs read it)",
    ),
    (
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "GitHub Actions' token for requesting the job's OIDC identity",
    ),
    ("ACTIONS_RUNTIME_TOKEN", "GitHub Actions' runtime token"),
    ("GITHUB_TOKEN", "the CI job's GitHub token"),
];

/// System directories, each with why: their files describe processes and devices (a process's
/// environment is `/proc/self/environ`), never hold a secret of the configuration's own.
const SYSTEM_DIRS: &[(&str, &str)] = &[
    (
        "/proc",
        "process information, environment variables included",
    ),
    ("/sys", "kernel and device state"),
    ("/dev", "devices and a process's open files"),
];

/// Credential stores, relative to the home directory, each with why (a file, or a directory and
/// everything below it).
const HOME_STORES: &[(&str, &str)] = &[
    (
        ".databrickscfg",
        "the Databricks CLI's configuration, which holds tokens",
    ),
    (".databricks", "the Databricks CLI's token cache"),
    (".azure", "the Azure CLI's credentials and token cache"),
    (".ssh", "SSH keys"),
    (".aws", "AWS credentials and configuration"),
    (".git-credentials", "Git's stored passwords and tokens"),
    (".netrc", "passwords for hosts (curl, git, pip read it)"),
    (".config/gh", "the GitHub CLI's tokens"),
    (".config/gcloud", "Google Cloud credentials"),
    (".docker/config.json", "container registry credentials"),
    (".kube", "Kubernetes credentials"),
];

/// Why a source is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A credential store, process or device file (with what it holds).
    CredentialStore(String),
    /// A file of the config repository (secrets never live in Git).
    InsideRepository,
    /// A variable holding credentials (with whose).
    CredentialVariable(String),
    /// `~/…` while `HOME` is not set.
    NoHome,
}

impl Refusal {
    /// One sentence for messages: why tandem will not read the source.
    pub fn describe(&self) -> String {
        match self {
            Refusal::CredentialStore(what) => {
                format!("is a credential store or process file ({what})")
            }
            Refusal::InsideRepository => "is inside the config repository".to_string(),
            Refusal::CredentialVariable(what) => format!("holds credentials ({what})"),
            Refusal::NoHome => "starts with ~/ but HOME is not set".to_string(),
        }
    }
}

/// The places and variables secret sources may not name, for one process and configuration.
#[derive(Debug, Clone, Default)]
pub struct SourceGuard {
    /// The home directory as given and as resolved.
    homes: Vec<PathBuf>,
    /// The Databricks CLI configuration `DATABRICKS_CONFIG_FILE` names, as given and resolved.
    databricks_config: Vec<PathBuf>,
    /// Config roots and the Git work trees and Git directories holding them, resolved.
    repositories: Vec<PathBuf>,
    /// A variable holding a workspace credential → what it is (`the token_env of workspace …`).
    token_variables: BTreeMap<String, String>,
}

/// Config roots and token variables of every configuration this process loaded: values are read
/// long after the load (by the planner and apply), and their read-time checks need them.
static DECLARED: Mutex<Option<SourceGuard>> = Mutex::new(None);

impl SourceGuard {
    /// The guard for a configuration at `root` with `environment`, with this process's `HOME`
    /// and `DATABRICKS_CONFIG_FILE`.
    pub fn for_config(root: &Path, environment: &Environment) -> Self {
        let mut guard = Self::for_process();
        guard.add_config(root, environment);
        guard
    }

    /// The guard for this process: its `HOME` and `DATABRICKS_CONFIG_FILE`, and every
    /// configuration loaded so far ([`declare`]).
    pub fn for_process() -> Self {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        let config_file = std::env::var_os("DATABRICKS_CONFIG_FILE").filter(|f| !f.is_empty());
        let mut guard = SourceGuard::default();
        if let Some(home) = &home {
            guard.homes = with_resolved(normalize(home));
        }
        if let Some(file) = config_file {
            let file = file.to_string_lossy().into_owned();
            if let Ok(path) = guard.expand(&file) {
                guard.databricks_config = with_resolved(path);
            }
        }
        if let Some(declared) = DECLARED.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            guard
                .repositories
                .extend(declared.repositories.iter().cloned());
            guard.token_variables.extend(
                declared
                    .token_variables
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
        guard
    }

    fn add_config(&mut self, root: &Path, environment: &Environment) {
        let mut places = vec![normalize(&absolute(root))];
        if let Ok(repo) = git2::Repository::discover(root) {
            places.extend(repo.workdir().map(|w| normalize(&absolute(w))));
            places.push(normalize(&absolute(repo.path())));
        }
        for place in places {
            for p in with_resolved(place) {
                if !self.repositories.contains(&p) {
                    self.repositories.push(p);
                }
            }
        }
        for workspace in &environment.workspaces {
            for (key, var) in workspace.auth.secret_variables() {
                self.token_variables
                    .entry(var.to_string())
                    .or_insert_with(|| format!("the {key} of workspace `{}`", workspace.name));
            }
        }
    }

    /// Why an `env:` source naming `variable` is refused, if it is.
    pub fn refuse_variable(&self, variable: &str) -> Option<Refusal> {
        if let Some((_, why)) = CREDENTIAL_VARIABLES.iter().find(|(v, _)| *v == variable) {
            return Some(Refusal::CredentialVariable((*why).to_string()));
        }
        self.token_variables
            .get(variable)
            .map(|why| Refusal::CredentialVariable(why.clone()))
    }

    /// Why a `file:` source is refused, judged on its text (`~` expanded, `.` and `..` folded,
    /// nothing on disk consulted), if it is.
    pub fn refuse_file(&self, source: &str) -> Option<Refusal> {
        // `~/…` names a credential store whatever HOME is (or whether it is set at all).
        if let Some(rest) = source.strip_prefix("~/") {
            let below_home = normalize(&Path::new("/").join(rest));
            if let Some(refusal) = home_store(&below_home, Path::new("/")) {
                return Some(refusal);
            }
        }
        match self.expand(source) {
            Ok(path) => self.refuse_path(&path),
            Err(refusal) => Some(refusal),
        }
    }

    /// The file to read for a `file:` source: `~` expanded and every symlink resolved, each form
    /// checked; a path that does not resolve is an error naming it.
    pub fn resolve_file(&self, source: &str) -> Result<PathBuf, ResolveError> {
        let path = self.expand(source).map_err(ResolveError::Refused)?;
        if let Some(refusal) = self.refuse_path(&path) {
            return Err(ResolveError::Refused(refusal));
        }
        let resolved = path
            .canonicalize()
            .map_err(|e| ResolveError::Unreadable(e.to_string()))?;
        match self.refuse_path(&resolved) {
            Some(refusal) => Err(ResolveError::Refused(refusal)),
            None => Ok(resolved),
        }
    }

    /// `~/x` under HOME, folded lexically; `~` alone is HOME. Relative paths stay relative
    /// (the validation reports them).
    fn expand(&self, source: &str) -> Result<PathBuf, Refusal> {
        let home = || self.homes.first().cloned().ok_or(Refusal::NoHome);
        let path = if source == "~" {
            home()?
        } else if let Some(rest) = source.strip_prefix("~/") {
            home()?.join(rest)
        } else {
            PathBuf::from(source)
        };
        Ok(normalize(&path))
    }

    fn refuse_path(&self, path: &Path) -> Option<Refusal> {
        if !path.is_absolute() {
            return None;
        }
        for (dir, why) in SYSTEM_DIRS {
            if within(path, Path::new(dir)) {
                return Some(Refusal::CredentialStore((*why).to_string()));
            }
        }
        if self.databricks_config.iter().any(|f| within(path, f)) {
            return Some(Refusal::CredentialStore(
                "the Databricks CLI configuration DATABRICKS_CONFIG_FILE names".to_string(),
            ));
        }
        if let Some(refusal) = self.homes.iter().find_map(|home| home_store(path, home)) {
            return Some(refusal);
        }
        if self.repositories.iter().any(|r| within(path, r)) {
            return Some(Refusal::InsideRepository);
        }
        None
    }
}

/// The credential store of the home directory `home` that `path` is in, if any.
fn home_store(path: &Path, home: &Path) -> Option<Refusal> {
    HOME_STORES
        .iter()
        .find(|(store, _)| within(path, &home.join(store)))
        .map(|(_, why)| Refusal::CredentialStore((*why).to_string()))
}

/// Why a secret file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// tandem refuses to read it.
    Refused(Refusal),
    /// It does not exist or cannot be resolved (the I/O error's text).
    Unreadable(String),
}

/// Remembers the config root and token variables of a loaded configuration, so the checks made
/// when secret values are read ([`SourceGuard::for_process`]) include them.
pub fn declare(root: &Path, environment: &Environment) {
    let mut declared = DECLARED.lock().unwrap_or_else(|p| p.into_inner());
    declared
        .get_or_insert_with(SourceGuard::default)
        .add_config(root, environment);
}

/// `path` made absolute against the current directory (unchanged when that is unknown).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `path` and, when it differs and exists, its symlink-free form.
fn with_resolved(path: PathBuf) -> Vec<PathBuf> {
    let resolved = path.canonicalize().ok();
    let mut out = vec![path];
    if let Some(r) = resolved
        && r != out[0]
    {
        out.push(r);
    }
    out
}

/// Folds `.` and `..` without consulting the file system (`/a/../..` is `/`); a relative path
/// keeps its leading `..` (validation reports relative paths anyway).
fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(component),
            },
            other => out.push(other),
        }
    }
    out.iter().collect()
}

/// Whether `path` is `base` or below it, comparing names without regard to ASCII case (a
/// case-insensitive file system reaches `~/.SSH` as `~/.ssh`).
fn within(path: &Path, base: &Path) -> bool {
    let mut path = path.components();
    for b in base.components() {
        match path.next() {
            Some(p) if p.as_os_str().eq_ignore_ascii_case(b.as_os_str()) => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(home: &str) -> SourceGuard {
        SourceGuard {
            homes: vec![PathBuf::from(home)],
            databricks_config: vec![PathBuf::from("/etc/databricks/cli.cfg")],
            repositories: vec![PathBuf::from("/work/repo")],
            token_variables: [(
                "PRIMARY_TOKEN".to_string(),
                "the token_env of workspace `primary`".to_string(),
            )]
            .into(),
        }
    }

    #[test]
    fn process_files_and_credential_stores_are_refused() {
        let g = guard("/home/ci");
        for source in [
            "/proc/self/environ",
            "/proc/1/../self/environ",
            "/./proc/self/environ",
            "/sys/class/x",
            "/dev/stdin",
            "/dev/fd/0",
            "~/.databrickscfg",
            "/home/ci/.databrickscfg",
            "/home/ci/x/../.databrickscfg",
            "~/.databricks/token-cache.json",
            "~/.azure/msal_token_cache.json",
            "~/.ssh/id_rsa",
            "~/.SSH/id_rsa",
            "~/.aws/credentials",
            "~/.git-credentials",
            "~/.netrc",
            "~/../ci/.netrc",
            "/etc/databricks/cli.cfg",
        ] {
            assert!(
                matches!(g.refuse_file(source), Some(Refusal::CredentialStore(_))),
                "{source}"
            );
        }
        assert_eq!(
            g.refuse_file("/work/repo/secrets/x.pem"),
            Some(Refusal::InsideRepository)
        );
        assert_eq!(
            g.refuse_file("/work/repo/../repo/x"),
            Some(Refusal::InsideRepository)
        );
    }

    #[test]
    fn ordinary_secret_files_are_allowed() {
        let g = guard("/home/ci");
        for source in [
            "/run/secrets/etl.pem",
            "~/secrets/etl-password",
            "/home/ci/.databrickscfg.d/../notes",
            "/work/repository-secrets/x",
            "/procfs-not/x",
            "/developer/x",
        ] {
            assert_eq!(g.refuse_file(source), None, "{source}");
        }
    }

    #[test]
    fn tilde_without_home_is_refused_and_stores_are_still_named() {
        let g = SourceGuard::default();
        assert_eq!(g.refuse_file("~/x"), Some(Refusal::NoHome));
        assert!(matches!(
            g.refuse_file("~/.databrickscfg"),
            Some(Refusal::CredentialStore(_))
        ));
        assert_eq!(g.refuse_file("/run/secrets/x"), None);
    }

    #[test]
    fn credential_variables_are_refused() {
        let g = guard("/home/ci");
        for v in [
            "DATABRICKS_TOKEN",
            "GITHUB_TOKEN",
            "ACTIONS_RUNTIME_TOKEN",
            "PRIMARY_TOKEN",
        ] {
            assert!(g.refuse_variable(v).is_some(), "{v}");
        }
        assert_eq!(g.refuse_variable("ETL_PASSWORD"), None);
        assert!(
            g.refuse_variable("PRIMARY_TOKEN")
                .is_some_and(|r| r.describe().contains("workspace `primary`"))
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_resolved_before_judging() {
        let dir = tempfile::tempdir().expect("temp dir");
        let link = dir.path().join("innocent.pem");
        std::os::unix::fs::symlink("/proc/self/environ", &link).expect("symlink");
        let g = SourceGuard::default();
        let source = link.to_str().expect("utf-8");
        assert_eq!(g.refuse_file(source), None, "the text alone looks fine");
        assert!(matches!(
            g.resolve_file(source),
            Err(ResolveError::Refused(Refusal::CredentialStore(_)))
        ));
        let plain = dir.path().join("plain.pem");
        std::fs::write(&plain, "x").expect("write");
        assert!(g.resolve_file(plain.to_str().expect("utf-8")).is_ok());
        assert!(matches!(
            g.resolve_file("/nonexistent/tandem/x"),
            Err(ResolveError::Unreadable(_))
        ));
    }
}
