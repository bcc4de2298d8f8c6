//! Loading a tandem repository: the environment file and every resource file it includes, from
//! the work tree or a Git revision; YAML and HCL parsed with spans; schema, reference and
//! semantic checks reporting every problem at once. Pure: no network, no async runtime.

pub mod diagnostic;
pub mod edit;
pub mod emit;
pub mod env;
pub mod hcl;
pub mod node;
pub mod refs;
pub mod schedule;
pub mod schema;
pub mod secret_source;
mod semantic;
pub mod source;
pub mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Serialize;
use serde_json::Value;

pub use diagnostic::{Problem, Problems};
pub use env::{Environment, Host, Role, Variable, WorkspaceSpec};
use node::{FileId, Key, Node, NodeValue, Span};
use secret_source::SourceGuard;
pub use source::{ConfigTree, Provenance, SourceSet};

use crate::model::{Kind, ResourceId, Resources};

/// Errors that stop a load before any file can be checked.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConfigError {
    /// The config root does not exist.
    #[error("config root `{root}` is not a directory")]
    #[diagnostic(
        code(tandem::config::root),
        help("pass the repository with -C <dir>, or run tandem from it")
    )]
    RootMissing {
        /// The root given.
        root: String,
    },
    /// `--ref` was given outside a Git repository.
    #[error("`{root}` is not inside a Git repository: {reason}")]
    #[diagnostic(
        code(tandem::config::git),
        help("--ref reads files from a commit; drop it to read the work tree")
    )]
    NotARepository {
        /// The root given.
        root: String,
        /// git2's message.
        reason: String,
    },
    /// `--ref` does not name a commit.
    #[error("revision `{rev}` does not resolve to a commit: {reason}")]
    #[diagnostic(
        code(tandem::config::git_ref),
        help(
            "use a branch, tag, SHA or an expression like HEAD~1; run `git fetch` if it is a remote branch"
        )
    )]
    RefNotFound {
        /// The revision given.
        rev: String,
        /// git2's message.
        reason: String,
    },
    /// The environment file is missing.
    #[error("environment `{env}` not found: {path} does not exist{source_note}")]
    #[diagnostic(code(tandem::config::env), help("{available}"))]
    EnvironmentMissing {
        /// The environment name.
        env: String,
        /// The path looked for.
        path: String,
        /// " at <rev>" when reading a revision.
        source_note: String,
        /// Which environments exist.
        available: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    #[diagnostic(code(tandem::config::read))]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// `-e` is not a plain environment name.
    #[error("`{env}` is not a valid environment name: {reason}")]
    #[diagnostic(
        code(tandem::config::env_name),
        help(
            "-e (or TANDEM_ENV) names an environment, the stem of a file in environments/ such as prod or local; it is never a path"
        )
    )]
    InvalidEnvironmentName {
        /// The name given.
        env: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Symbolic links where tandem reads configuration.
    #[error(
        "{paths}{source_note}: tandem does not follow symbolic links in a configuration repository"
    )]
    #[diagnostic(
        code(tandem::config::symlink),
        help(
            "replace each link with the file or directory itself: a link lets a change to the repository make tandem read, and print, files outside it (a process's environment, a credential store)"
        )
    )]
    Symlink {
        /// "`a` is a symbolic link", or a list of them.
        paths: String,
        /// " at <commit>" when reading a revision.
        source_note: String,
    },
    /// A path that is not plainly inside the config root.
    #[error("`{path}` is not a path inside the config root")]
    #[diagnostic(
        code(tandem::config::outside_root),
        help("configuration files are named relative to the config root, without `..`")
    )]
    OutsideRoot {
        /// The path.
        path: String,
    },
    /// A configuration path that is not a regular file (a device, a FIFO, a socket).
    #[error("{path} is not a regular file")]
    #[diagnostic(
        code(tandem::config::not_a_file),
        help("configuration files are plain files of the repository")
    )]
    NotAFile {
        /// The path.
        path: String,
    },
    /// A configuration file larger than tandem reads.
    #[error(
        "{path}{source_note} is {size_mib} MiB, larger than the {cap_mib} MiB tandem reads in one configuration file"
    )]
    #[diagnostic(
        code(tandem::config::too_large),
        help(
            "split it into several files (the include globs read them all); no real configuration file comes near this size"
        )
    )]
    TooLarge {
        /// The file.
        path: String,
        /// Its size, rounded up.
        size_mib: u64,
        /// The cap.
        cap_mib: u64,
        /// " at <commit>" when reading a revision.
        source_note: String,
    },
    /// The configuration has problems; each points at a file, line and column.
    #[error("the configuration has {} problem{}", .0.items.len(), if .0.items.len() == 1 { "" } else { "s" })]
    #[diagnostic(code(tandem::config::invalid))]
    Invalid(Box<Problems>),
}

/// What to load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The config root (`-C`).
    pub root: PathBuf,
    /// The environment name (`-e`).
    pub env: String,
    /// A Git revision to read instead of the work tree (`--ref`).
    pub git_ref: Option<String>,
    /// A Git revision to read the environment file from (`--env-from`), whatever the resource
    /// files are read from: its hosts, credentials and active workspace are the trusted ones.
    pub env_from: Option<String>,
}

/// Where a resource was declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// File path relative to the config root.
    pub file: String,
    /// 1-based line of the resource's key.
    pub line: usize,
    /// 1-based column of the resource's key.
    pub column: usize,
}

/// A valid, loaded configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The environment file.
    pub environment: Environment,
    /// Every declared resource.
    pub resources: Resources,
    /// Where each resource was declared.
    pub origins: BTreeMap<ResourceId, Origin>,
    /// The resource files read, relative to the root.
    pub files: Vec<String>,
    /// Where the configuration came from.
    pub provenance: Provenance,
}

/// One resource's source: its file, key and node, kept until checks are done.
struct Declared {
    id: ResourceId,
    key: Key,
    node: Node,
}

/// Loads and checks the configuration; every problem is reported at once.
pub fn load(options: &LoadOptions) -> Result<Config, ConfigError> {
    let started = std::time::Instant::now();
    let tree = ConfigTree::open(&options.root, options.git_ref.as_deref())?;
    let provenance = tree.provenance();
    let mut sources = SourceSet::default();
    let mut problems: Vec<Problem> = Vec::new();
    let (environment, env_node, env_file) =
        read_environment(&tree, options, &mut sources, &mut problems)?;

    // Resource files selected by the include globs; no link where the globs look.
    let listing = tree.list()?;
    let selected = select_files(
        &environment,
        &env_node,
        env_file,
        &listing.files,
        &mut problems,
    );
    refuse_symlinks(&environment, &listing.symlinks, options)?;
    let mut ids: Vec<FileId> = Vec::with_capacity(selected.len());
    for path in &selected {
        if let Some(text) = tree.read(path)? {
            ids.push(sources.add(path.clone(), text));
        }
    }
    tracing::debug!(files = ids.len(), elapsed = ?started.elapsed(), "resource files read");
    let parsed = parse_all(&sources, &ids);
    tracing::debug!(elapsed = ?started.elapsed(), "resource files parsed");

    let mut declared: Vec<Declared> = Vec::new();
    let mut seen: BTreeMap<ResourceId, Span> = BTreeMap::new();
    for (file, result) in ids.iter().zip(parsed) {
        match result {
            Ok(root) => collect_resources(*file, root, &mut declared, &mut seen, &mut problems),
            Err(file_problems) => problems.extend(file_problems),
        }
    }

    // Secret values must never be shown, not even in a diagnostic's source excerpt.
    let mut literal_secrets = Vec::new();
    for item in &declared {
        if item.id.kind == Kind::SecretScopes {
            semantic::literal_secret_spans(&item.node, &mut literal_secrets);
        }
    }
    sources.redact_all(literal_secrets);
    let guard = SourceGuard::for_config(&options.root, &environment);

    // Per-resource checks (in parallel: schema validation dominates), then the model.
    let checked = crate::parallel::map(&declared, |item| {
        let mut found = Vec::new();
        let instance = semantic::check_resource(
            &item.id,
            &item.key,
            &item.node,
            &environment,
            &guard,
            &mut found,
        );
        let what = format!("{} `{}`", item.id.kind.spec().singular, item.id.key);
        found.extend(schema::check(
            schema::SchemaKind::Resource(item.id.kind),
            &item.node,
            &instance,
            &what,
            item.key.span,
        ));
        (instance, found)
    });
    tracing::debug!(resources = declared.len(), elapsed = ?started.elapsed(), "resources checked");
    let mut resources = Resources::default();
    let mut origins = BTreeMap::new();
    let declared_ids: BTreeSet<ResourceId> = declared.iter().map(|d| d.id.clone()).collect();
    for (item, (instance, found)) in declared.iter().zip(checked) {
        if !found.is_empty() {
            problems.extend(found);
            continue;
        }
        let what = format!("{} `{}`", item.id.kind.spec().singular, item.id.key);
        if let Err(message) = resources.insert_json(item.id.kind, item.id.key.clone(), instance) {
            problems.push(Problem::new(
                item.key.span,
                format!("{what}: {message}"),
                "invalid resource",
            ));
        }
        let file = sources.file(item.key.span.file);
        let (line, column) = file.line_col(item.key.span.start);
        origins.insert(
            item.id.clone(),
            Origin {
                file: file.path.clone(),
                line,
                column,
            },
        );
    }
    semantic::check_cross_resource(
        &declared_refs(&declared),
        &declared_ids,
        &resources,
        &environment,
        &mut problems,
    );
    if problems.is_empty() {
        problems.extend(semantic::check_resolved(
            &environment,
            &declared_refs(&declared),
        ));
    }

    tracing::debug!(problems = problems.len(), elapsed = ?started.elapsed(), "configuration loaded");
    if !problems.is_empty() {
        let mut report = Problems {
            items: problems,
            sources,
        };
        report.sort();
        return Err(ConfigError::Invalid(Box::new(report)));
    }
    // Secret values are read later, by the planner and apply: their checks need this root and
    // these token variables too.
    secret_source::declare(&options.root, &environment);
    Ok(Config {
        environment,
        resources,
        origins,
        files: selected,
        provenance,
    })
}

fn declared_refs(declared: &[Declared]) -> Vec<(&ResourceId, &Key, &Node)> {
    declared.iter().map(|d| (&d.id, &d.key, &d.node)).collect()
}

/// Reads and checks the environment file alone.
fn read_environment(
    tree: &ConfigTree,
    options: &LoadOptions,
    sources: &mut SourceSet,
    problems: &mut Vec<Problem>,
) -> Result<(Environment, Node, FileId), ConfigError> {
    check_environment_name(&options.env)?;
    let env_path = format!("environments/{}.yaml", options.env);
    let trusted;
    let env_tree = match &options.env_from {
        Some(rev) => {
            trusted = ConfigTree::open(&options.root, Some(rev))?;
            &trusted
        }
        None => tree,
    };
    let Some(env_text) = env_tree.read(&env_path)? else {
        return Err(environment_missing(env_tree, options, env_path));
    };
    if let Some(rev) = &options.env_from
        && tree
            .read(&env_path)
            .ok()
            .flatten()
            .is_none_or(|t| t.as_str() != env_text.as_str())
    {
        tracing::warn!(
            "{env_path} differs from its version at {rev}: using {rev}'s (--env-from); the changes take effect once they are in {rev}"
        );
    }
    let env_file = sources.add(env_path, env_text);
    let env_node = match yaml::parse(env_file, sources.file(env_file)) {
        Ok(node) => node,
        Err(problem) => {
            problems.push(problem);
            Node::new(NodeValue::Map(Vec::new()), Span::new(env_file, 0, 0))
        }
    };
    redact_env_tokens(&env_node, sources);
    if problems.is_empty() {
        problems.extend(schema::check(
            schema::SchemaKind::Environment,
            &env_node,
            &env_node.to_json(),
            &format!("environment `{}`", options.env),
            env_node.span,
        ));
    }
    let environment = env::build(&options.env, &env_node, problems);
    Ok((environment, env_node, env_file))
}

/// Loads only the environment file (for commands that work before any resource file exists).
pub fn load_environment(options: &LoadOptions) -> Result<Environment, ConfigError> {
    let tree = ConfigTree::open(&options.root, options.git_ref.as_deref())?;
    let mut sources = SourceSet::default();
    let mut problems = Vec::new();
    let (environment, _, _) = read_environment(&tree, options, &mut sources, &mut problems)?;
    if problems.is_empty() {
        return Ok(environment);
    }
    let mut report = Problems {
        items: problems,
        sources,
    };
    report.sort();
    Err(ConfigError::Invalid(Box::new(report)))
}

/// The environment file alone, as a configuration that declares no resource: what `destroy`
/// plans against (every managed object then goes), whatever the resource files say.
pub fn load_environment_only(options: &LoadOptions) -> Result<Config, ConfigError> {
    let provenance = ConfigTree::open(&options.root, options.git_ref.as_deref())?.provenance();
    Ok(Config {
        environment: load_environment(options)?,
        resources: Resources::default(),
        origins: BTreeMap::new(),
        files: Vec::new(),
        provenance,
    })
}

fn environment_missing(tree: &ConfigTree, options: &LoadOptions, path: String) -> ConfigError {
    let available: Vec<String> = tree
        .list()
        .map(|l| l.files)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| {
            f.strip_prefix("environments/")
                .and_then(|n| n.strip_suffix(".yaml"))
                .filter(|n| !n.contains('/'))
                .map(str::to_string)
        })
        .collect();
    ConfigError::EnvironmentMissing {
        env: options.env.clone(),
        path,
        source_note: options
            .env_from
            .as_ref()
            .or(options.git_ref.as_ref())
            .map(|r| format!(" at {r}"))
            .unwrap_or_default(),
        available: if available.is_empty() {
            "create environments/<name>.yaml (see docs/config.md), and run tandem from the repository root or pass -C".into()
        } else {
            format!("environments here: {}", available.join(", "))
        },
    }
}

fn redact_env_tokens(env_node: &Node, sources: &mut SourceSet) {
    let mut tokens = Vec::new();
    if let Some(workspaces) = env_node.get("workspaces").and_then(Node::as_map) {
        for (_, spec) in workspaces {
            // `https://user:password@host`: the password must not show in the excerpt.
            if let Some(h) = spec.get("host")
                && h.as_str().is_some_and(env::has_userinfo)
            {
                sources.redact(h.span);
            }
            if let Some(t) = spec.get("token_env")
                && let Some(value) = t.as_str()
                && !env::is_env_var_name(value)
            {
                tokens.push(t.span);
            }
            // An `auth:` block's literal secrets, and `*_env` values that are no variable
            // names (most likely the credential itself).
            for (key, value) in spec.get("auth").and_then(Node::as_map).unwrap_or_default() {
                let literal = env::AUTH_SECRET_KEYS.contains(&key.name.as_str());
                let pasted = key.name.ends_with("_env")
                    && value.as_str().is_some_and(|v| !env::is_env_var_name(v));
                if literal || pasted {
                    tokens.push(value.span);
                }
            }
        }
    }
    sources.redact_all(tokens);
}

/// Longest environment name accepted.
const MAX_ENVIRONMENT_NAME: usize = 100;

/// `-e` names an environment, never a path: letters, digits, `-`, `_` and `.`, starting with a
/// letter or digit (so neither `..`, a separator nor an absolute path can reach past
/// `environments/`).
fn check_environment_name(env: &str) -> Result<(), ConfigError> {
    let reason = if env.is_empty() {
        "it is empty".to_string()
    } else if env.contains(['/', '\\']) {
        "it contains a path separator".to_string()
    } else if env.starts_with('.') {
        "it starts with `.`".to_string()
    } else if env.len() > MAX_ENVIRONMENT_NAME {
        format!("it is longer than {MAX_ENVIRONMENT_NAME} characters")
    } else if !env
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        "it may hold only letters, digits, `-`, `_` and `.`".to_string()
    } else if !env.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        "it must start with a letter or digit".to_string()
    } else {
        return Ok(());
    };
    Err(ConfigError::InvalidEnvironmentName {
        env: env.to_string(),
        reason,
    })
}

/// Whether an include glob names something outside the config root: an absolute path, a drive,
/// `~`, or a `..` component.
fn glob_leaves_root(pattern: &str) -> bool {
    let bytes = pattern.as_bytes();
    pattern.starts_with(['/', '\\', '~'])
        || (bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic())
        || pattern.split(['/', '\\']).any(|part| part == "..")
}

/// The glob's leading components without wildcards: the directory it searches below.
fn glob_base(pattern: &str) -> Vec<&str> {
    pattern
        .split('/')
        .take_while(|part| !part.contains(['*', '?', '[', ']', '{', '}', '\\']))
        .filter(|part| !part.is_empty() && *part != ".")
        .collect()
}

/// Refuses the symbolic links an include glob could read through: a link at or below a glob's
/// base directory, or on the way to it. Links elsewhere (a README, a tool's folder) are never
/// read, so they are left alone; the environment file's own path is checked when it is read.
fn refuse_symlinks(
    environment: &Environment,
    symlinks: &[String],
    options: &LoadOptions,
) -> Result<(), ConfigError> {
    let bases: Vec<Vec<&str>> = environment
        .include
        .iter()
        .filter(|g| !glob_leaves_root(g))
        .map(|g| glob_base(g))
        .collect();
    let in_reach: Vec<&String> = symlinks
        .iter()
        .filter(|link| !link.starts_with("environments/") && !link.starts_with("schemas/"))
        .filter(|link| {
            let parts: Vec<&str> = link.split('/').collect();
            bases
                .iter()
                .any(|base| parts.starts_with(base) || base.starts_with(&parts))
        })
        .collect();
    if in_reach.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = in_reach.iter().map(|l| format!("`{l}`")).collect();
    let paths = match names.as_slice() {
        [one] => format!("{one} is a symbolic link"),
        [rest @ .., last] => format!("{} and {last} are symbolic links", rest.join(", ")),
        [] => String::new(),
    };
    Err(ConfigError::Symlink {
        paths,
        source_note: options
            .git_ref
            .as_ref()
            .map(|r| format!(" at {r}"))
            .unwrap_or_default(),
    })
}

/// Files matched by the include globs; a glob that matches nothing is a problem.
fn select_files(
    environment: &Environment,
    env_node: &Node,
    env_file: FileId,
    all_files: &[String],
    problems: &mut Vec<Problem>,
) -> Vec<String> {
    let glob_nodes: Vec<&Node> = match env_node.get("include").map(|n| &n.value) {
        Some(NodeValue::Seq(items)) => items.iter().collect(),
        _ => Vec::new(),
    };
    let candidates: Vec<&String> = all_files
        .iter()
        .filter(|f| !f.starts_with("environments/") && !f.starts_with("schemas/"))
        .collect();
    let mut selected = BTreeSet::new();
    let mut any = false;
    for (i, pattern) in environment.include.iter().enumerate() {
        let span = glob_nodes
            .get(i)
            .map(|n| n.span)
            .unwrap_or(Span::new(env_file, 0, 0));
        if glob_leaves_root(pattern) {
            problems.push(
                Problem::new(
                    span,
                    format!("include glob `{pattern}` reaches outside the config root"),
                    "outside the root",
                )
                .help("include globs are relative to the config root (the directory holding environments/) and stay inside it: no `..`, no absolute path"),
            );
            continue;
        }
        let glob = match Glob::new(pattern) {
            Ok(g) => g,
            Err(e) => {
                problems.push(
                    Problem::new(
                        span,
                        format!("invalid include glob `{pattern}`: {}", e.kind()),
                        "invalid glob",
                    )
                    .help("globs use *, ** and {a,b}; e.g. resources/**/*.yaml"),
                );
                continue;
            }
        };
        let set: GlobSet = match GlobSetBuilder::new().add(glob).build() {
            Ok(s) => s,
            Err(_) => continue,
        };
        let mut matched = 0;
        for file in &candidates {
            if set.is_match(file.as_str()) {
                matched += 1;
                if resource_format(file).is_some() {
                    selected.insert((*file).clone());
                } else if environment.include_explicit {
                    problems.push(
                        Problem::new(span, format!("include glob `{pattern}` matches `{file}`, which is not a YAML or HCL file"), "matches an unsupported file")
                            .help("resource files end in .yaml, .yml or .hcl; narrow the glob"),
                    );
                }
            }
        }
        any |= matched > 0;
        if matched == 0 && environment.include_explicit {
            problems.push(
                Problem::new(
                    span,
                    format!("include glob `{pattern}` matches no file"),
                    "matches nothing",
                )
                .help("fix the pattern (paths are relative to the config root), or remove it"),
            );
        }
    }
    if !environment.include_explicit && !any {
        problems.push(
            Problem::new(Span::new(env_file, 0, 0), format!("no resource files found: the default include globs ({}) match nothing", env::DEFAULT_INCLUDE.join(", ")), "no include")
                .help("put resource files under resources/, or add `include:` globs to the environment file"),
        );
    }
    selected.into_iter().collect()
}

#[derive(Clone, Copy)]
enum Format {
    Yaml,
    Hcl,
}

fn resource_format(path: &str) -> Option<Format> {
    if path.ends_with(".yaml") || path.ends_with(".yml") {
        Some(Format::Yaml)
    } else if path.ends_with(".hcl") {
        Some(Format::Hcl)
    } else {
        None
    }
}

/// Parses every file (parsing dominates load time, so it runs on every core).
fn parse_all(sources: &SourceSet, ids: &[FileId]) -> Vec<Result<Node, Vec<Problem>>> {
    crate::parallel::map(ids, |id| {
        let file = sources.file(*id);
        match resource_format(&file.path) {
            Some(Format::Hcl) => hcl::parse(*id, file),
            _ => yaml::parse(*id, file).map_err(|p| vec![p]),
        }
    })
}

/// Checks a resource file's outline (`resources:` → kind → key) and collects its resources.
fn collect_resources(
    file: FileId,
    root: Node,
    declared: &mut Vec<Declared>,
    seen: &mut BTreeMap<ResourceId, Span>,
    problems: &mut Vec<Problem>,
) {
    let NodeValue::Map(top) = root.value else {
        problems.push(
            Problem::new(
                root.span,
                format!(
                    "a resource file must be a mapping with a `resources:` key, found {}",
                    root.type_name()
                ),
                "not a mapping",
            )
            .help("start the file with `resources:` and list resources by kind beneath it"),
        );
        return;
    };
    let _ = file;
    for (key, value) in top {
        if key.name != "resources" {
            let mut problem = Problem::new(
                key.span,
                format!("unknown top-level key `{}`", key.name),
                "unknown key",
            );
            problem = match diagnostic::did_you_mean(&key.name, ["resources"]) {
                Some(s) => problem.help(format!("did you mean `{s}`?")),
                None => problem.help("a resource file has one top-level key, `resources:`"),
            };
            problems.push(problem);
            continue;
        }
        let NodeValue::Map(kinds) = value.value else {
            if value.value != NodeValue::Null {
                problems.push(
                    Problem::new(value.span, format!("`resources` must be a mapping of kinds, found {}", value.type_name()), "not a mapping")
                        .help("write `jobs:`, `clusters:`, `instance_pools:` or `secret_scopes:` under `resources:`"),
                );
            }
            continue;
        };
        for (kind_key, entries) in kinds {
            let Some(kind) = Kind::parse(&kind_key.name) else {
                let names = Kind::ALL.map(Kind::as_str);
                let mut problem = Problem::new(
                    kind_key.span,
                    format!("unknown resource kind `{}`", kind_key.name),
                    "unknown kind",
                );
                problem = match diagnostic::did_you_mean(&kind_key.name, names) {
                    Some(s) => problem.help(format!("did you mean `{s}`?")),
                    None => problem.help(format!("kinds are {}", names.join(", "))),
                };
                problems.push(problem);
                continue;
            };
            let NodeValue::Map(items) = entries.value else {
                if entries.value != NodeValue::Null {
                    problems.push(
                        Problem::new(entries.span, format!("`{kind}` must be a mapping from logical keys to resources, found {}", entries.type_name()), "not a mapping")
                            .help(format!("write `{kind}:` then `my_key:` and the resource's fields beneath it")),
                    );
                }
                continue;
            };
            for (key, node) in items {
                if !is_logical_key(&key.name) {
                    problems.push(
                        Problem::new(key.span, format!("`{}` is not a valid logical key", key.name), "invalid key")
                            .help("keys are lowercase letters, digits and `_`, starting with a letter (e.g. nightly_etl); the object's display name goes in its name field"),
                    );
                    continue;
                }
                let id = ResourceId {
                    kind,
                    key: key.name.clone(),
                };
                if let Some(first) = seen.get(&id) {
                    problems.push(
                        Problem::new(key.span, format!("{} `{}` is declared twice", kind.spec().singular, key.name), "declared again here")
                            .related(*first, "first declared here")
                            .help("logical keys are unique per kind across all files; rename one or remove the duplicate"),
                    );
                    continue;
                }
                seen.insert(id.clone(), key.span);
                if !matches!(node.value, NodeValue::Map(_)) {
                    problems.push(
                        Problem::new(
                            node.span,
                            format!(
                                "{} `{}` must be a mapping of fields, found {}",
                                kind.spec().singular,
                                key.name,
                                node.type_name()
                            ),
                            "not a mapping",
                        )
                        .help("give the resource's fields beneath its key"),
                    );
                    continue;
                }
                declared.push(Declared { id, key, node });
            }
        }
    }
}

/// Whether `s` is a valid logical key (`[a-z][a-z0-9_]*`).
pub fn is_logical_key(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Config {
    /// What substitution knows of `workspace` in `role` (a promotion changes roles before the
    /// environment file does).
    pub fn workspace_scope<'a>(&'a self, workspace: &'a str, role: Role) -> WorkspaceScope<'a> {
        WorkspaceScope {
            environment: &self.environment,
            workspace,
            role,
        }
    }
}

/// Variable lookup for one workspace.
pub struct WorkspaceScope<'a> {
    /// The environment.
    pub environment: &'a Environment,
    /// The workspace's name.
    pub workspace: &'a str,
    /// Its role.
    pub role: Role,
}

impl refs::Scope for WorkspaceScope<'_> {
    fn var(&self, name: &str) -> Option<&Value> {
        self.environment.variable(name, self.workspace)
    }
    fn workspace_name(&self) -> &str {
        self.workspace
    }
    fn workspace_role(&self) -> &str {
        self.role.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_are_names_not_paths() {
        for ok in ["prod", "local", "eu-west_2", "prod.eu", "2024"] {
            assert!(check_environment_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "..",
            ".",
            ".hidden",
            "../x",
            "a/b",
            "/etc/passwd",
            "a\\b",
            "-x",
            "a b",
            "é",
        ] {
            assert!(check_environment_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_environment_name(&"x".repeat(MAX_ENVIRONMENT_NAME + 1)).is_err());
    }

    #[test]
    fn globs_leaving_the_root_are_recognised() {
        for bad in [
            "../x/*.yaml",
            "resources/../../x",
            "/etc/*.yaml",
            "\\\\server\\share",
            "C:/x/*.yaml",
            "~/x.yaml",
        ] {
            assert!(glob_leaves_root(bad), "{bad}");
        }
        for ok in ["resources/**/*.yaml", "**/*.hcl", "x..y/*.yaml", "a/b.yaml"] {
            assert!(!glob_leaves_root(ok), "{ok}");
        }
    }

    #[test]
    fn symlinks_are_refused_only_where_globs_search() {
        let environment = Environment {
            name: "t".into(),
            workspaces: Vec::new(),
            active: String::new(),
            include: vec!["resources/**/*.yaml".into(), "extra/jobs.hcl".into()],
            include_explicit: true,
            variables: BTreeMap::new(),
        };
        let options = LoadOptions {
            root: PathBuf::from("."),
            env: "t".into(),
            git_ref: None,
            env_from: None,
        };
        let refused = |links: &[&str]| {
            let links: Vec<String> = links.iter().map(|l| l.to_string()).collect();
            refuse_symlinks(&environment, &links, &options).is_err()
        };
        assert!(refused(&["resources/x.yaml"]));
        assert!(refused(&["resources/deep/dir"]));
        assert!(refused(&["resources"]));
        assert!(refused(&["extra"]));
        assert!(refused(&["extra/jobs.hcl"]));
        assert!(!refused(&[
            "README.md",
            "docs/x",
            "extra2",
            "environments/old.yaml"
        ]));
        assert_eq!(glob_base("./resources/*/x/**"), vec!["resources"]);
        assert!(glob_base("**/*.yaml").is_empty());
    }
}
