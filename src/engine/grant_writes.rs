//! Job grants a promotion rewrites whatever they are now (those a passive workspace holds back)
//! depend on nothing read but the job's ID. When nothing has to be confirmed first, each is
//! written the moment a listing names its job, while the rest of the workspace is still being
//! read and planned (in slots the reads leave free); applying the plan then collects the outcome
//! instead of writing again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use crate::client::api::permissions::{self, ObjectType};
use crate::client::{ClientError, WorkspaceClient};
use crate::model::live::Grant;

/// Job key → the grants to set (sorted, an owner among them).
pub type JobGrants = BTreeMap<String, Vec<Grant>>;

struct Started {
    id: String,
    task: JoinHandle<Result<usize, ClientError>>,
}

/// The shared half: cloned into the workspace's reads, which call [`GrantWriter::listed`].
#[derive(Clone)]
pub struct GrantWriter {
    client: Arc<WorkspaceClient>,
    grants: Arc<JobGrants>,
    started: Arc<Mutex<BTreeMap<String, Started>>>,
    closed: Arc<AtomicBool>,
    /// Early writes sent in this run, over every workspace.
    sent: Arc<AtomicUsize>,
}

/// The owning half: hands the outcomes to the apply, and aborts what is still in flight when
/// dropped (an interrupted or failed run).
pub struct GrantWrites {
    writer: GrantWriter,
}

impl GrantWrites {
    /// Early writes of `grants` in one workspace; `sent` counts the writes sent, over every
    /// workspace.
    pub fn new(client: Arc<WorkspaceClient>, grants: JobGrants, sent: Arc<AtomicUsize>) -> Self {
        GrantWrites {
            writer: GrantWriter {
                client,
                grants: Arc::new(grants),
                started: Arc::default(),
                closed: Arc::default(),
                sent,
            },
        }
    }

    /// The half the reads use.
    pub fn writer(&self) -> GrantWriter {
        self.writer.clone()
    }

    /// The early write of job `key` (ID `id`) with exactly `grants`, to await instead of writing:
    /// `None` when there was none (or it went to another ID, or wrote something else).
    pub async fn take(&self, key: &str, id: &str, grants: &[Grant]) -> Option<usize> {
        let started = self
            .writer
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key)?;
        // Awaited even when it is not the write wanted, so the real one cannot race it.
        let outcome = started.task.await.ok()?;
        let same = started.id == id
            && self
                .writer
                .grants
                .get(key)
                .is_some_and(|written| written.as_slice() == grants);
        match outcome {
            Ok(n) if same => Some(n),
            // A failed early write is tried again by the apply, with its own retries.
            _ => None,
        }
    }
}

impl Drop for GrantWrites {
    fn drop(&mut self) {
        self.writer.closed.store(true, Ordering::SeqCst);
        for started in self
            .writer
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            started.task.abort();
        }
    }
}

impl GrantWriter {
    /// A listing found job `key` with ID `id` (the first of that key): its grants, if it has
    /// any to write blind, go out now.
    pub fn listed(&self, key: &str, id: &str) {
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        let Some(grants) = self.grants.get(key) else {
            return;
        };
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        if started.contains_key(key) {
            return; // a duplicate: the plan decides which object is the job
        }
        let acl: Vec<_> = grants.iter().map(Grant::acl_entry).collect();
        let (client, job_id, written) = (Arc::clone(&self.client), id.to_string(), acl.len());
        self.sent.fetch_add(1, Ordering::Relaxed);
        let task = tokio::spawn(async move {
            permissions::set_in_background(&client, ObjectType::JOBS, &job_id, acl)
                .await
                .map(|_| written)
        });
        started.insert(
            key.to_string(),
            Started {
                id: id.to_string(),
                task,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientOptions, Token};
    use crate::model::Principal;

    fn grant(user: &str, level: &str) -> Grant {
        Grant {
            principal: Principal::UserName(user.into()),
            level: level.into(),
        }
    }

    /// An emulated workspace (kept running while held), a client of it, and one job's ID.
    async fn workspace_with_a_job() -> (
        crate::emulator::RunningEmulator,
        Arc<WorkspaceClient>,
        String,
    ) {
        let emulator = crate::emulator::start(crate::emulator::EmulatorOptions::default())
            .await
            .expect("emulator");
        let client = Arc::new(
            WorkspaceClient::new(
                "w",
                &emulator.url,
                Token::new("dev"),
                ClientOptions::default(),
            )
            .expect("client"),
        );
        let id = crate::client::api::jobs::OBJECTS
            .create(&client, &serde_json::json!({"name": "j"}))
            .await
            .expect("job");
        (emulator, client, id)
    }

    #[tokio::test]
    async fn a_listed_job_gets_its_grants_once_they_are_known_and_the_apply_collects_them() {
        let (_emulator, client, id) = workspace_with_a_job().await;
        let sent = Arc::new(AtomicUsize::new(0));
        let grants = vec![
            grant(crate::emulator::principals::DEFAULT_ADMIN, "IS_OWNER"),
            grant("alice@example.com", "CAN_MANAGE_RUN"),
        ];
        let writes = GrantWrites::new(
            Arc::clone(&client),
            BTreeMap::from([("j".to_string(), grants.clone())]),
            Arc::clone(&sent),
        );
        let writer = writes.writer();
        writer.listed("j", &id);
        writer.listed("j", "999"); // a later duplicate of the key: left to the plan
        writer.listed("other", "998"); // no grants to write blind: nothing is sent

        assert_eq!(writes.take("j", &id, &grants).await, Some(2));
        assert_eq!(writes.take("j", &id, &grants).await, None, "collected once");
        assert_eq!(writes.take("other", "998", &grants).await, None);
        assert_eq!(sent.load(Ordering::Relaxed), 1);
        let acl = permissions::get(&client, ObjectType::JOBS, &id)
            .await
            .expect("acl");
        let text = acl.to_string();
        assert!(
            text.contains("alice@example.com") && text.contains("CAN_MANAGE_RUN"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_write_of_other_grants_or_to_another_id_is_not_taken_for_the_planned_one() {
        let (_emulator, client, id) = workspace_with_a_job().await;
        let owner = vec![grant(
            crate::emulator::principals::DEFAULT_ADMIN,
            "IS_OWNER",
        )];
        let more = vec![owner[0].clone(), grant("alice@example.com", "CAN_VIEW")];
        for (listed_id, planned) in [(id.as_str(), &more), ("424242", &owner)] {
            let writes = GrantWrites::new(
                Arc::clone(&client),
                BTreeMap::from([("j".to_string(), owner.clone())]),
                Arc::default(),
            );
            writes.writer().listed("j", listed_id);
            assert_eq!(writes.take("j", &id, planned).await, None, "{listed_id}");
        }
    }

    #[tokio::test]
    async fn writes_still_in_flight_are_abandoned_with_the_run() {
        // Nothing answers here: the write keeps retrying until the run drops it.
        let client = Arc::new(
            WorkspaceClient::new(
                "w",
                "http://127.0.0.1:9",
                Token::new("t"),
                ClientOptions::default(),
            )
            .expect("client"),
        );
        let owner = vec![grant("admin@example.com", "IS_OWNER")];
        let grants = BTreeMap::from([("j".to_string(), owner.clone()), ("k".to_string(), owner)]);
        let writes = GrantWrites::new(client, grants, Arc::default());
        let writer = writes.writer();
        writer.listed("j", "1");
        drop(writes);
        writer.listed("k", "2"); // after the run: ignored
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let started = writer.started.lock().expect("started");
        assert!(
            started["j"].task.is_finished(),
            "the write in flight was aborted"
        );
        assert!(!started.contains_key("k"));
    }
}
