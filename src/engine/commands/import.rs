//! `import <kind>.<key> --id <ID> --workspace <WS>`: one existing object, named by its ID, taken
//! under management as a configured resource — tagged as `adopt` tags the objects it matches by
//! name (a secret scope, whose ID is its name, recorded as tandem's) — under that workspace's
//! lock. Refused when the configuration has no such resource (there), when the object is
//! tandem's for another environment or key, or when another object is managed under the key.

use crate::client::ClientOptions;
use crate::config::{self, LoadOptions};
use crate::engine::adopt::{self as adoption, AdoptError, Adoption};
use crate::engine::session::Session;
use crate::engine::{EngineError, planner, state};
use crate::model::live::LiveWorkspace;
use crate::model::{ResourceId, Resources};

/// What to import, and where.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Where the configuration is and which environment.
    pub load: LoadOptions,
    /// Requests in flight and retries.
    pub client: ClientOptions,
    /// The configured resource, `kind.key`.
    pub resource: String,
    /// The existing object's ID (a secret scope's name).
    pub id: String,
    /// The workspace holding it.
    pub workspace: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    /// The environment.
    pub environment: String,
    /// The workspace.
    pub workspace: String,
    /// The resource the object now is.
    pub resource: ResourceId,
    /// The object's ID.
    pub id: String,
    /// It was managed as that resource already: nothing was written.
    pub already: bool,
}

/// Why an import was refused (nothing was written).
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum ImportError {
    /// Not `kind.key` of a configured resource.
    #[error("`{0}` names no resource of the configuration")]
    #[diagnostic(help(
        "declare the resource first (tandem export writes one from what a workspace holds), then import the object as it: kind.key, e.g. jobs.nightly_etl"
    ))]
    NotConfigured(String),
    /// The resource is not deployed to that workspace.
    #[error("{resource} is not deployed to workspace {workspace} (its placement leaves it out)")]
    #[diagnostic(help("import it in the workspace it is deployed to"))]
    NotPlaced {
        /// The resource.
        resource: String,
        /// The workspace.
        workspace: String,
    },
    /// Another object is managed under the key already.
    #[error("{resource} is managed already in workspace {workspace}: object {current}")]
    #[diagnostic(help(
        "one object per key: delete or rename the one you do not want (then `tandem plan`), or import this one as another resource"
    ))]
    Taken {
        /// The resource.
        resource: String,
        /// The workspace.
        workspace: String,
        /// The object managed under it.
        current: String,
    },
    /// The object is tandem's already, as another resource of this environment.
    #[error("object {id} is managed already as {other} in workspace {workspace}")]
    #[diagnostic(help(
        "an object is one resource: remove {other} from the configuration first (apply then deletes that object, so rename it by hand instead if it must stay)"
    ))]
    ManagedAsOther {
        /// The object's ID.
        id: String,
        /// The resource it is.
        other: String,
        /// The workspace.
        workspace: String,
    },
    /// The object is tandem's for another environment.
    #[error("object {id} is managed by tandem for environment {environment}")]
    #[diagnostic(help(
        "taking it would take it away from that environment: import another object, or remove it from {environment}'s configuration first"
    ))]
    Foreign {
        /// The object's ID.
        id: String,
        /// The environment managing it.
        environment: String,
    },
    /// No such object.
    #[error("workspace {workspace} has no {kind} with ID {id}")]
    #[diagnostic(help(
        "check the ID (a job's number, a cluster's or pool's ID, a secret scope's name) and the workspace"
    ))]
    NotFound {
        /// The kind's noun.
        kind: String,
        /// The ID given.
        id: String,
        /// The workspace.
        workspace: String,
    },
    /// A scope is imported by its own name, the configured one.
    #[error("{resource} is the scope named {configured}, not {id}")]
    #[diagnostic(help(
        "a secret scope's ID is its name: import the scope named {configured}, or change the configured name"
    ))]
    ScopeName {
        /// The resource.
        resource: String,
        /// Its configured name.
        configured: String,
        /// The ID given.
        id: String,
    },
    /// The workspace failed.
    #[error("{0}")]
    Workspace(String),
}

/// What importing an object does in a workspace, decided from what was read there.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportStep {
    /// Tag the object.
    Tag(Adoption),
    /// Record the existing scope (by its name) as tandem's.
    Scope(String),
    /// It is that resource already.
    Already,
}

/// Decides what importing object `id` as `resource` does in `workspace`, from the desired
/// resources there, what tandem's read found and the state record's scopes. Pure.
pub fn import_step(
    desired: &Resources,
    live: &LiveWorkspace,
    managed_scopes: &std::collections::BTreeSet<String>,
    resource: &ResourceId,
    id: &str,
    workspace: &str,
) -> Result<ImportStep, ImportError> {
    let Some(configured) = desired.get(resource) else {
        return Err(ImportError::NotPlaced {
            resource: resource.to_string(),
            workspace: workspace.into(),
        });
    };
    let not_found = || ImportError::NotFound {
        kind: resource.kind.spec().singular.into(),
        id: id.into(),
        workspace: workspace.into(),
    };
    let Some(objects) = live.objects(resource.kind) else {
        // A secret scope: its ID is its name, the configured one.
        let name = desired
            .secret_scopes
            .get(&resource.key)
            .map(|s| s.name())
            .unwrap_or_default();
        if !name.eq_ignore_ascii_case(id) {
            return Err(ImportError::ScopeName {
                resource: resource.to_string(),
                configured: name.into(),
                id: id.into(),
            });
        }
        if !live.secret_scopes.contains_key(&resource.key) {
            return Err(not_found());
        }
        if managed_scopes.iter().any(|m| m.eq_ignore_ascii_case(name)) {
            return Ok(ImportStep::Already);
        }
        return Ok(ImportStep::Scope(name.into()));
    };
    if let Some(current) = objects.get(&resource.key) {
        if current.id == id {
            return Ok(ImportStep::Already);
        }
        return Err(ImportError::Taken {
            resource: resource.to_string(),
            workspace: workspace.into(),
            current: current.id.clone(),
        });
    }
    if let Some((other, _)) = objects.iter().find(|(_, o)| o.id == id) {
        return Err(ImportError::ManagedAsOther {
            id: id.into(),
            other: format!("{}.{other}", resource.kind),
            workspace: workspace.into(),
        });
    }
    // The object's name, when the listing saw it (a duplicated name may hide it: the object is
    // then read by its ID when tagged).
    let name = live
        .unmanaged
        .get(resource.kind.as_str())
        .and_then(|names| names.iter().find(|(_, i)| *i == id))
        .map(|(name, _)| name.clone())
        .or_else(|| {
            let field = resource.kind.spec().name_field;
            configured
                .api_fields()
                .get(field)?
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default();
    Ok(ImportStep::Tag(Adoption {
        resource: resource.clone(),
        id: id.into(),
        name,
    }))
}

/// Takes the workspace's lock, checks the import against what is there and the configuration,
/// and tags the object (or records the scope).
pub async fn import(options: &ImportOptions) -> Result<ImportReport, EngineError> {
    let mut config = config::load(&options.load)?;
    let resource = planner::parse_target(&options.resource)
        .filter(|r| config.resources.contains(r))
        .ok_or_else(|| ImportError::NotConfigured(options.resource.clone()))?;
    super::workspace_named(&config.environment, &options.workspace)?;
    let environment = config.environment.name.clone();
    // Only this workspace is locked and read: the others are not written.
    config
        .environment
        .workspaces
        .retain(|w| w.name == options.workspace);
    let (session, mut interrupts) = super::lock_as_filed(
        &config,
        &options.load.root,
        &options.client,
        (Vec::new(), true),
        "import",
    )
    .await?;
    session
        .run(
            &environment,
            &mut interrupts,
            async |session: &mut Session| import_locked(session, options, &resource).await,
        )
        .await
}

/// Checks and carries out the import while the lock is held.
async fn import_locked(
    session: &Session,
    options: &ImportOptions,
    resource: &ResourceId,
) -> Result<ImportReport, EngineError> {
    let workspace = &options.workspace;
    if let Some(failure) = session.plan.failures.first() {
        return Err(ImportError::Workspace(failure.error.clone()).into());
    }
    let (Some(ctx), Some(connection)) =
        (session.contexts.get(workspace), session.connections.first())
    else {
        return Err(ImportError::Workspace(format!("workspace {workspace} was not read")).into());
    };
    let environment = session.plan.environment.clone();
    let record = ctx.read.record.as_ref();
    let scopes = record.map(|r| r.managed_scopes.clone()).unwrap_or_default();
    let step = import_step(
        &ctx.desired.resources,
        &ctx.read.live,
        &scopes,
        resource,
        &options.id,
        workspace,
    )?;
    let report = |already| ImportReport {
        environment: environment.clone(),
        workspace: workspace.clone(),
        resource: resource.clone(),
        id: options.id.clone(),
        already,
    };
    let client = &connection.client;
    match step {
        ImportStep::Already => Ok(report(true)),
        ImportStep::Tag(adoption) => {
            tag(client, &environment, &adoption, workspace).await?;
            Ok(report(false))
        }
        ImportStep::Scope(name) => {
            let mut record = record
                .cloned()
                .unwrap_or_else(|| state::StateRecord::new(&environment, workspace, ctx.plan.role));
            record.managed_scopes.insert(name);
            state::write_state_record(client, &mut record)
                .await
                .map_err(|e| ImportError::Workspace(e.to_string()))?;
            Ok(report(false))
        }
    }
}

/// Tags the object as `adoption` says, telling a missing object or another environment's apart.
async fn tag(
    client: &crate::client::WorkspaceClient,
    environment: &str,
    adoption: &Adoption,
    workspace: &str,
) -> Result<(), ImportError> {
    match adoption::adopt(client, environment, adoption).await {
        Ok(()) => Ok(()),
        Err(AdoptError::Foreign { environment, .. }) => Err(ImportError::Foreign {
            id: adoption.id.clone(),
            environment,
        }),
        // A job ID that is not a number is refused as a bad parameter: no such job either.
        Err(AdoptError::Client(e))
            if e.is_not_found() || e.code() == Some("INVALID_PARAMETER_VALUE") =>
        {
            Err(ImportError::NotFound {
                kind: adoption.resource.kind.spec().singular.into(),
                id: adoption.id.clone(),
                workspace: workspace.into(),
            })
        }
        Err(AdoptError::Client(e)) => Err(ImportError::Workspace(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::Kind;
    use crate::model::live::{LiveObject, LiveScope};

    fn desired() -> Resources {
        let mut r = Resources::default();
        r.insert_json(Kind::Jobs, "etl".into(), json!({"name": "ETL"}))
            .expect("job");
        r.insert_json(Kind::SecretScopes, "keys".into(), json!({"name": "Keys"}))
            .expect("scope");
        r
    }

    fn id(kind: Kind, key: &str) -> ResourceId {
        ResourceId {
            kind,
            key: key.into(),
        }
    }

    fn live_job(id: &str) -> LiveObject {
        LiveObject {
            id: id.into(),
            body: Default::default(),
            state: None,
            grants: Vec::new(),
            grants_unread: false,
        }
    }

    #[test]
    fn an_unmanaged_object_is_tagged_under_its_own_name() {
        let mut live = LiveWorkspace::default();
        live.unmanaged.insert(
            "jobs".into(),
            [("Hand-made ETL".to_string(), "42".to_string())].into(),
        );
        let step = import_step(
            &desired(),
            &live,
            &Default::default(),
            &id(Kind::Jobs, "etl"),
            "42",
            "w",
        );
        assert_eq!(
            step,
            Ok(ImportStep::Tag(Adoption {
                resource: id(Kind::Jobs, "etl"),
                id: "42".into(),
                name: "Hand-made ETL".into(),
            }))
        );
    }

    #[test]
    fn an_import_is_refused_when_the_key_or_the_object_is_taken() {
        let mut live = LiveWorkspace::default();
        live.jobs.insert("etl".into(), live_job("7"));
        live.jobs.insert("other".into(), live_job("8"));
        let etl = id(Kind::Jobs, "etl");
        let step = |id: &str| import_step(&desired(), &live, &Default::default(), &etl, id, "w");
        assert_eq!(step("7"), Ok(ImportStep::Already));
        assert!(matches!(step("9"), Err(ImportError::Taken { current, .. }) if current == "7"));
        let mut free = live.clone();
        free.jobs.remove("etl");
        let step = import_step(&desired(), &free, &Default::default(), &etl, "8", "w");
        assert!(
            matches!(step, Err(ImportError::ManagedAsOther { other, .. }) if other == "jobs.other")
        );
        let missing = id(Kind::Jobs, "absent");
        let step = import_step(&desired(), &live, &Default::default(), &missing, "8", "w");
        assert!(matches!(step, Err(ImportError::NotPlaced { .. })));
    }

    #[test]
    fn a_scope_is_imported_by_its_configured_name() {
        let keys = id(Kind::SecretScopes, "keys");
        let mut live = LiveWorkspace::default();
        let none = Default::default();
        let step = |live: &LiveWorkspace, scopes, name: &str| {
            import_step(&desired(), live, scopes, &keys, name, "w")
        };
        assert!(matches!(
            step(&live, &none, "other"),
            Err(ImportError::ScopeName { .. })
        ));
        assert!(matches!(
            step(&live, &none, "keys"),
            Err(ImportError::NotFound { .. })
        ));
        live.secret_scopes
            .insert("keys".into(), LiveScope::default());
        assert_eq!(
            step(&live, &none, "keys"),
            Ok(ImportStep::Scope("Keys".into()))
        );
        let owned = ["keys".to_string()].into();
        assert_eq!(step(&live, &owned, "Keys"), Ok(ImportStep::Already));
    }
}
