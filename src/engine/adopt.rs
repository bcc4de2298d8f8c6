//! `adopt`: tagging existing objects as tandem's, so the configuration takes them over in place,
//! and recording configured secrets that already exist.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::export::clean;
use super::objects;
use crate::client::api::{clusters, instance_pools, jobs};
use crate::client::{ClientError, WorkspaceClient};
use crate::model::{Kind, Resources};
use crate::plan::{TAG_ENV, TAG_MANAGED, TAG_MANAGED_VALUE};

/// An existing object the configuration will take over.
#[derive(Debug, Clone, PartialEq)]
pub struct Adoption {
    /// The resource it becomes.
    pub resource: crate::model::ResourceId,
    /// Its ID.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// Untagged objects whose names match configured resources that tandem does not manage yet.
pub fn adoption_candidates(
    desired: &Resources,
    live: &crate::model::live::LiveWorkspace,
) -> Vec<Adoption> {
    let mut out = Vec::new();
    // Jobs, clusters, pools: the order adopt has always listed them in.
    for kind in Kind::tagged().rev() {
        let name_field = kind.spec().name_field;
        let managed = live.objects(kind);
        let unmanaged = live.unmanaged.get(kind.as_str());
        for (key, fields, _) in desired.objects(kind) {
            let Some(name) = fields.get(name_field).and_then(Value::as_str) else {
                continue;
            };
            if managed.is_some_and(|m| m.contains_key(key)) {
                continue;
            }
            if let Some(id) = unmanaged.and_then(|m| m.get(name)) {
                out.push(Adoption {
                    resource: crate::model::ResourceId {
                        kind,
                        key: key.clone(),
                    },
                    id: id.clone(),
                    name: name.to_string(),
                });
            }
        }
    }
    out
}

/// Why an object was not adopted.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AdoptError {
    /// The workspace failed (a missing object among others).
    #[error(transparent)]
    Client(Box<ClientError>),
    /// tandem manages the object for another environment (it looks unmanaged here: its
    /// `tandem-env` differs): adopting it would take it away from that environment.
    #[error(
        "{workspace}: {id} \"{name}\" is managed by tandem for environment {environment}; not adopted"
    )]
    Foreign {
        /// Workspace name.
        workspace: String,
        /// The object's ID.
        id: String,
        /// Its name.
        name: String,
        /// The environment managing it.
        environment: String,
    },
}

impl From<ClientError> for AdoptError {
    fn from(e: ClientError) -> Self {
        AdoptError::Client(Box::new(e))
    }
}

/// Refuses an object tandem manages for another environment.
fn not_foreign(
    client: &WorkspaceClient,
    environment: &str,
    adoption: &Adoption,
    tags: &Map<String, Value>,
) -> Result<(), AdoptError> {
    let tag = |k: &str| tags.get(k).and_then(Value::as_str);
    match tag(TAG_ENV) {
        Some(other) if tag(TAG_MANAGED) == Some(TAG_MANAGED_VALUE) && other != environment => {
            Err(AdoptError::Foreign {
                workspace: client.name().to_string(),
                id: adoption.id.clone(),
                name: adoption.name.clone(),
                environment: other.to_string(),
            })
        }
        _ => Ok(()),
    }
}

/// Tags an existing object as tandem's, changing nothing else about it.
pub async fn adopt(
    client: &WorkspaceClient,
    environment: &str,
    adoption: &Adoption,
) -> Result<(), AdoptError> {
    let tags = crate::plan::managed_tags(environment, &adoption.resource.key);
    match adoption.resource.kind {
        Kind::Jobs => {
            let job = jobs::get(client, &adoption.id).await?;
            let mut merged = job
                .pointer("/settings/tags")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            not_foreign(client, environment, adoption, &merged)?;
            merged.extend(tags);
            jobs::update(client, &adoption.id, json!({"tags": merged})).await?;
        }
        Kind::Clusters => {
            let cluster = clusters::get(client, &adoption.id).await?;
            // Edit replaces the whole spec: send the cluster's own spec back, tags added.
            let source = cluster
                .get("spec")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_else(|| cluster.as_object().cloned().unwrap_or_default());
            let mut spec = clean(Kind::Clusters, &source);
            spec.remove("permissions");
            let mut merged = spec
                .get("custom_tags")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            // `clean` drops tandem's tags: check the cluster's own.
            let own = cluster
                .get("custom_tags")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            not_foreign(client, environment, adoption, &own)?;
            merged.extend(tags);
            spec.insert("custom_tags".into(), Value::Object(merged));
            spec.insert("cluster_id".into(), json!(adoption.id));
            objects::edit(client, Kind::Clusters, &adoption.id, &Value::Object(spec)).await?;
        }
        Kind::InstancePools => {
            let pool = instance_pools::get(client, &adoption.id).await?;
            // Every field the plan edits: edit replaces the pool's editable fields, so one
            // left out would be reset.
            let editable = crate::kinds::instance_pools::EDITABLE;
            let mut spec: Map<String, Value> = pool
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| editable.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut merged = spec
                .get("custom_tags")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            not_foreign(client, environment, adoption, &merged)?;
            merged.extend(tags);
            spec.insert("custom_tags".into(), Value::Object(merged));
            spec.insert("instance_pool_id".into(), json!(adoption.id));
            objects::edit(
                client,
                Kind::InstancePools,
                &adoption.id,
                &Value::Object(spec),
            )
            .await?;
        }
        Kind::SecretScopes => {}
    }
    Ok(())
}

/// A configured secret whose live value tandem has no record of: never written by tandem, or
/// rewritten outside it since tandem's last write. Adopt writes a rewritten one from its source
/// again and records its fingerprint, as apply does; an unrecorded one it keeps (see
/// [`record_kept`]) unless told to overwrite it.
#[derive(Debug, Clone)]
pub struct SecretAdoption {
    /// The scope's configuration key.
    pub resource: crate::model::ResourceId,
    /// The scope's name.
    pub scope: String,
    /// The secret's key.
    pub key: String,
    /// `unrecorded` or `rewritten`.
    pub reason: &'static str,
    /// Where its value comes from in this workspace.
    pub source: Option<crate::model::ValueSource>,
    /// Its `last_updated_timestamp` in the workspace.
    pub last_updated: i64,
}

impl SecretAdoption {
    /// Whether tandem never wrote it (as opposed to a value rewritten since tandem's write).
    pub fn unrecorded(&self) -> bool {
        self.reason == UNRECORDED
    }
}

/// The reason of a secret tandem never wrote.
const UNRECORDED: &str = "unrecorded";

/// Records a secret whose workspace value adopt keeps: the configured source's `value` is
/// fingerprinted as if tandem had written it, with the live `last_updated_timestamp`, so later
/// plans treat the secret as known and unchanged (until the source changes, or the secret is
/// rewritten outside tandem). The record's seal must hold the fingerprint key.
pub fn record_kept(
    record: &mut super::state::StateRecord,
    secret: &SecretAdoption,
    value: &[u8],
) -> Result<(), String> {
    let fingerprint = record
        .fingerprint(value)
        .ok_or_else(|| "the workspace has no fingerprint key".to_string())?;
    record
        .secrets
        .entry(secret.scope.clone())
        .or_default()
        .insert(
            secret.key.clone(),
            super::state::SecretWrite {
                fingerprint,
                last_updated: secret.last_updated,
            },
        );
    Ok(())
}

/// Configured secrets that exist in the workspace without a matching record: never recorded, or
/// with a `last_updated_timestamp` newer than tandem's last write.
pub fn secret_candidates(
    desired: &Resources,
    live: &crate::model::live::LiveWorkspace,
    record: Option<&super::state::StateRecord>,
    workspace: &str,
) -> Vec<SecretAdoption> {
    let mut out = Vec::new();
    for (key, scope) in &desired.secret_scopes {
        let Some(live_scope) = live.secret_scopes.get(key) else {
            continue;
        };
        let written = record.and_then(|r| r.secrets.get(scope.name()));
        for (secret, source) in &scope.secrets {
            let Some(updated) = live_scope.secrets.get(secret) else {
                continue; // missing: apply creates it
            };
            let reason = match written.and_then(|w| w.get(secret)) {
                None => UNRECORDED,
                Some(w) if *updated > w.last_updated => "rewritten",
                Some(_) => continue,
            };
            out.push(SecretAdoption {
                resource: crate::model::ResourceId {
                    kind: Kind::SecretScopes,
                    key: key.clone(),
                },
                scope: scope.name().to_string(),
                key: secret.clone(),
                reason,
                source: source.for_workspace(workspace).cloned(),
                last_updated: *updated,
            });
        }
    }
    out
}

/// Configured scopes that exist in the workspace but that tandem did not create: adopting them
/// records them as tandem's (so removing one from the configuration deletes it, as for jobs).
pub fn scope_candidates(
    desired: &Resources,
    live: &crate::model::live::LiveWorkspace,
    record: Option<&super::state::StateRecord>,
) -> Vec<(crate::model::ResourceId, String)> {
    desired
        .secret_scopes
        .iter()
        .filter(|(key, _)| live.secret_scopes.contains_key(*key))
        .filter(|(_, scope)| {
            !record.is_some_and(|r| {
                r.managed_scopes
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(scope.name()))
            })
        })
        .map(|(key, scope)| {
            (
                crate::model::ResourceId {
                    kind: Kind::SecretScopes,
                    key: key.clone(),
                },
                scope.name().to_string(),
            )
        })
        .collect()
}

/// Writes each secret from its source and records its fingerprint, through apply's own secret
/// writing. The record's entries for these keys are dropped first: apply skips a value whose
/// fingerprint tandem recorded, and a rewritten secret still has one.
pub async fn adopt_secrets(
    connection: &super::connect::Connection,
    environment: &str,
    role: crate::model::Role,
    secrets: &[SecretAdoption],
    mut record: super::state::StateRecord,
    progress: &dyn super::apply::Progress,
) -> (super::apply::WorkspaceReport, super::state::StateRecord) {
    for s in secrets {
        if let Some(keys) = record.secrets.get_mut(&s.scope) {
            keys.remove(&s.key);
        }
    }
    let plan = crate::plan::WorkspacePlan {
        workspace: connection.spec.name.clone(),
        role,
        actions: secrets
            .iter()
            .map(|s| crate::plan::PlannedAction {
                resource: s.resource.clone(),
                action: crate::plan::Action::PutSecret {
                    scope: s.scope.clone(),
                    key: s.key.clone(),
                    reason: s.reason.to_string(),
                    source: s.source.clone(),
                },
            })
            .collect(),
        overrides: Vec::new(),
        live_fingerprint: String::new(),
        config_digests: BTreeMap::new(),
        notes: Vec::new(),
        not_compared: Vec::new(),
    };
    // Embedded workspaces get placeholder values for unreadable sources, as in apply.
    super::apply::apply_workspace(
        &connection.client,
        environment,
        connection.embedded.is_some(),
        &plan,
        BTreeMap::new(),
        (record, None),
        progress,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::live::{LiveScope, LiveWorkspace};
    use crate::model::state::{FingerprintKey, StateRecord};
    use crate::model::{Role, ValueSource};

    fn desired() -> Resources {
        let mut r = Resources::default();
        r.insert_json(
            Kind::SecretScopes,
            "etl".into(),
            json!({"name": "etl", "secrets": {"api_key": {"primary": {"env": "A"}, "secondary": {"env": "B"}}}}),
        )
        .expect("scope");
        r
    }

    fn live(updated: i64) -> LiveWorkspace {
        let mut live = LiveWorkspace::default();
        live.secret_scopes.insert(
            "etl".into(),
            LiveScope {
                name: "etl".into(),
                secrets: [("api_key".to_string(), updated)].into(),
                acls: Default::default(),
            },
        );
        live
    }

    #[test]
    fn a_kept_secret_is_recorded_with_its_timestamp_and_its_sources_fingerprint() {
        let mut record = StateRecord::new("prod", "secondary", Role::Passive);
        let found = secret_candidates(&desired(), &live(1_000), Some(&record), "secondary");
        assert_eq!(found.len(), 1);
        let secret = &found[0];
        assert!(secret.unrecorded());
        assert_eq!(secret.last_updated, 1_000);
        assert_eq!(secret.source, Some(ValueSource::Env("B".into())));
        // Without the workspace's fingerprint key nothing can be recorded.
        assert!(record_kept(&mut record, secret, b"west").is_err());

        let key = FingerprintKey::generate().expect("random");
        record.seal.key = Some(key.clone());
        record_kept(&mut record, secret, b"west").expect("recorded");
        let written = &record.secrets["etl"]["api_key"];
        assert_eq!(written.last_updated, 1_000);
        assert_eq!(written.fingerprint, key.fingerprint(b"west"));
        // Known now: nothing left to adopt; a later rewrite outside tandem is found again.
        let again = secret_candidates(&desired(), &live(1_000), Some(&record), "secondary");
        assert!(again.is_empty(), "{again:?}");
        let rewritten = secret_candidates(&desired(), &live(2_000), Some(&record), "secondary");
        assert_eq!(rewritten.len(), 1);
        assert!(!rewritten[0].unrecorded());
        assert_eq!(rewritten[0].reason, "rewritten");
    }
}
