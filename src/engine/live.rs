//! Reading what a workspace holds with as few requests as the API allows: list endpoints (jobs
//! with their tasks), one permissions read per managed object whose configuration lists
//! permissions, one secrets list and one ACL list per scope, the caller, and the state record.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::StreamExt;
use futures::future::try_join_all;
use serde_json::{Map, Value};
use tokio::sync::watch;

use super::EngineError;
use super::grant_writes::GrantWriter;
use super::objects::{self, ListedKind, Listing};
use super::state::{StateRecord, read_state_record};
use crate::client::api::permissions::{self, ObjectType};
use crate::client::api::{Page, jobs, scim, secrets};
use crate::client::{ClientError, WorkspaceClient};
use crate::model::live::{Grant, LiveObject, LiveScope, LiveWorkspace};
use crate::model::{Kind, ResourceId};

/// A workspace as read: its objects, the state record and who tandem runs as.
#[derive(Debug, Clone)]
pub struct LiveRead {
    /// Managed objects and scopes.
    pub live: LiveWorkspace,
    /// The state record, if the workspace has one.
    pub record: Option<StateRecord>,
    /// The user name of the token's identity.
    pub caller: Option<String>,
}

/// What can be read before the configuration is known: tandem's objects of `environment` with
/// their grants, the state record and the caller.
#[derive(Debug, Clone)]
pub struct ObjectsRead {
    live: LiveWorkspace,
    record: Option<StateRecord>,
    caller: Option<String>,
}

impl ObjectsRead {
    /// The complete read, once the scopes the configuration names have been read too.
    pub fn with_scopes(self, scopes: BTreeMap<String, LiveScope>) -> LiveRead {
        let mut live = self.live;
        live.secret_scopes = scopes;
        LiveRead {
            live,
            record: self.record,
            caller: self.caller,
        }
    }
}

/// Which managed objects' grants a read fetches: those whose configuration lists permissions.
/// Known when the read starts, or once the configuration has loaded: a read started before
/// that lists on and holds each permissions read back until it is known.
#[derive(Debug, Clone)]
pub struct GrantReads(watch::Receiver<Option<Arc<BTreeSet<ResourceId>>>>);

/// Tells the reads started before the configuration loaded which grants to fetch.
#[derive(Debug)]
pub struct GrantReadsLater(watch::Sender<Option<Arc<BTreeSet<ResourceId>>>>);

impl GrantReads {
    /// The grants of these objects, known now.
    pub fn of(wanted: BTreeSet<ResourceId>) -> Self {
        GrantReads(watch::Sender::new(Some(Arc::new(wanted))).subscribe())
    }

    /// Grants to be named later, through the returned handle.
    pub fn later() -> (Self, GrantReadsLater) {
        let (tx, rx) = watch::channel(None);
        (GrantReads(rx), GrantReadsLater(tx))
    }

    /// Whether the grants of `id` are to be read, once that is known.
    async fn wanted(mut self, id: &ResourceId) -> bool {
        match self.0.wait_for(Option::is_some).await {
            Ok(wanted) => wanted.as_ref().is_some_and(|w| w.contains(id)),
            // Never told (the configuration did not load): the read is being given up anyway.
            Err(_) => true,
        }
    }
}

impl GrantReadsLater {
    /// Names them: the held-back permissions reads go out.
    pub fn know(&self, wanted: BTreeSet<ResourceId>) {
        self.0.send_replace(Some(Arc::new(wanted)));
    }
}

/// Reads tandem's jobs, clusters and pools (with the grants `grants` names, but for the jobs
/// keyed in `unread_grants`, which `writer` is told of as they are listed), the state record
/// and the caller: everything but the secret scopes.
pub async fn read_objects(
    client: &WorkspaceClient,
    environment: &str,
    grants: &GrantReads,
    unread_grants: &BTreeSet<String>,
    writer: Option<&GrantWriter>,
) -> Result<ObjectsRead, EngineError> {
    let none = BTreeSet::new();
    // Jobs first: their listing is the longest (page after page).
    let kinds: Vec<Kind> = Kind::tagged().rev().collect();
    let objects = async {
        let listings = try_join_all(kinds.iter().filter_map(|&kind| {
            let listed = objects::listing(kind)?;
            // A promotion's early grant writes are of jobs only.
            let early = if kind == Kind::Jobs {
                (unread_grants, writer)
            } else {
                (&none, None)
            };
            Some(read_listed(client, listed, environment, grants, early))
        }));
        tokio::try_join!(listings, read_caller(client)).map_err(EngineError::from)
    };
    let ((listings, caller), record) =
        tokio::try_join!(objects, read_state_record(client, environment))?;
    let mut live = LiveWorkspace::default();
    let mut duplicates = BTreeMap::new();
    for (kind, (found, names)) in kinds.into_iter().zip(listings) {
        if !names.is_empty() {
            live.unmanaged.insert(kind.as_str().to_string(), names);
        }
        if let Some(objects) = live.objects_mut(kind) {
            *objects = keep_first(found, kind.as_str(), &mut duplicates);
        }
    }
    live.duplicates = duplicates;
    Ok(ObjectsRead {
        live,
        record,
        caller,
    })
}

/// Reads the scopes whose names the configuration uses (`scope_names`: config key → name),
/// found case-insensitively among the workspace's scopes.
pub async fn read_scopes(
    client: &WorkspaceClient,
    scope_names: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, LiveScope>, ClientError> {
    if scope_names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let scopes = list_scope_names(client).await?;
    let wanted: Vec<(String, String)> = scope_names
        .iter()
        .filter_map(|(key, name)| {
            scopes
                .iter()
                .find(|s| s.eq_ignore_ascii_case(name))
                .map(|actual| (key.clone(), actual.clone()))
        })
        .collect();
    let read = try_join_all(wanted.iter().map(|(key, name)| async move {
        read_scope(client, name).await.map(|s| (key.clone(), s))
    }))
    .await?;
    Ok(read.into_iter().collect())
}

/// Objects by key; extra objects with the same key (a lost create retried) are set aside, the
/// oldest (lowest ID order as listed first) is kept.
fn keep_first(
    objects: Vec<(String, LiveObject)>,
    kind: &str,
    duplicates: &mut BTreeMap<String, BTreeMap<String, Vec<String>>>,
) -> BTreeMap<String, LiveObject> {
    let mut out: BTreeMap<String, LiveObject> = BTreeMap::new();
    for (key, object) in objects {
        match out.get(&key) {
            Some(_) => duplicates
                .entry(kind.to_string())
                .or_default()
                .entry(key)
                .or_default()
                .push(object.id),
            None => {
                out.insert(key, object);
            }
        }
    }
    out
}

/// Managed objects by key, and the names of unmanaged ones (name → ID).
type Listed = (Vec<(String, LiveObject)>, BTreeMap<String, String>);

/// What one request of a listing brought back.
enum Answer {
    Page(Page),
    Grants(usize, Value),
    GrantsUnread(usize),
    FullJob(usize, Map<String, Value>),
}

/// Lists one kind page by page and reads the grants `grants` names (but those keyed in
/// `unread_grants`: `writer` hears of them instead) as soon as their page has arrived, so the
/// permission reads overlap the (sequential) page reads.
async fn read_listed(
    client: &WorkspaceClient,
    kind: &ListedKind,
    environment: &str,
    grants: &GrantReads,
    (unread_grants, writer): (&BTreeSet<String>, Option<&GrantWriter>),
) -> Result<Listed, ClientError> {
    type Pending<'a> = futures::stream::FuturesUnordered<
        std::pin::Pin<Box<dyn Future<Output = Result<Answer, ClientError>> + Send + 'a>>,
    >;
    let page = move |token: Option<String>| async move {
        kind.endpoints
            .listing
            .page(client, token)
            .await
            .map(Answer::Page)
    };
    let mut pending: Pending = futures::stream::FuturesUnordered::new();
    pending.push(Box::pin(page(None)));
    let mut out: Vec<(String, LiveObject)> = Vec::new();
    let mut unmanaged = BTreeMap::new();
    while let Some(answer) = pending.next().await {
        match answer? {
            Answer::Page(listed) => {
                // The next page first: it is on the critical path.
                if let Some(token) = listed.next_page_token {
                    pending.push(Box::pin(page(Some(token))));
                }
                for item in listed.items {
                    match (kind.classify)(&item, environment) {
                        Listing::Managed(key, mut object, paged) => {
                            let index = out.len();
                            let id = object.id.clone();
                            if paged {
                                pending.push(Box::pin(async move {
                                    jobs::settings(client, &id)
                                        .await
                                        .map(|s| Answer::FullJob(index, s))
                                }));
                            }
                            if unread_grants.contains(&key) {
                                object.grants_unread = true;
                                if let Some(writer) = writer {
                                    writer.listed(&key, &object.id);
                                }
                            } else {
                                let object_id = object.id.clone();
                                let id = ResourceId {
                                    kind: kind.kind,
                                    key: key.clone(),
                                };
                                let grants = grants.clone();
                                pending.push(Box::pin(async move {
                                    let Some(object_type) = permissions_object(id.kind) else {
                                        return Ok(Answer::GrantsUnread(index));
                                    };
                                    if !grants.wanted(&id).await {
                                        return Ok(Answer::GrantsUnread(index));
                                    }
                                    permissions::get(client, object_type, &object_id)
                                        .await
                                        .map(|g| Answer::Grants(index, g))
                                }));
                            }
                            out.push((key, object));
                        }
                        Listing::Unmanaged(name, id) => {
                            unmanaged.insert(name, id);
                        }
                        Listing::Skip => {}
                    }
                }
            }
            Answer::Grants(index, answer) => out[index].1.grants = Grant::direct_in(&answer),
            // Not read, so never compared: nothing in the configuration is decided by them.
            Answer::GrantsUnread(index) => out[index].1.grants_unread = true,
            Answer::FullJob(index, settings) => out[index].1.body = settings,
        }
    }
    // Oldest first, so the original survives and later duplicates are the ones set aside.
    out.sort_by_key(|(_, o)| (kind.age)(o));
    Ok((out, unmanaged))
}

/// The Permissions API's type of a kind's objects (secret scopes have ACLs instead).
pub(crate) fn permissions_object(kind: Kind) -> Option<ObjectType> {
    kind.spec().permissions_type.map(ObjectType)
}

async fn list_scope_names(client: &WorkspaceClient) -> Result<BTreeSet<String>, ClientError> {
    Ok(secrets::list_scopes(client)
        .await?
        .iter()
        .filter_map(|s| s.get("name").and_then(Value::as_str).map(str::to_string))
        .collect())
}

async fn read_scope(client: &WorkspaceClient, name: &str) -> Result<LiveScope, ClientError> {
    let (secrets, acls) = tokio::try_join!(
        secrets::list(client, name),
        secrets::list_acls(client, name)
    )?;
    let secrets = secrets
        .iter()
        .filter_map(|s| {
            let key = s.get("key").and_then(Value::as_str)?.to_string();
            // The timestamp has been seen both as a number and as a string.
            let ts = s
                .get("last_updated_timestamp")
                .and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|t| t.parse().ok()))
                })
                .unwrap_or_default();
            Some((key, ts))
        })
        .collect();
    let acls = acls
        .iter()
        .filter_map(|a| {
            Some((
                a.get("principal")?.as_str()?.to_string(),
                a.get("permission")?.as_str()?.to_string(),
            ))
        })
        .collect();
    Ok(LiveScope {
        name: name.to_string(),
        secrets,
        acls,
    })
}

async fn read_caller(client: &WorkspaceClient) -> Result<Option<String>, ClientError> {
    match scim::me(client).await {
        Ok(me) => Ok(me
            .get("userName")
            .and_then(Value::as_str)
            .map(str::to_string)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}
