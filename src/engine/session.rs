//! A command's time with the workspaces of an environment: connecting them (and, for read-only
//! commands, reading them while the configuration still loads), taking their locks, planning
//! under them, carrying out work that a signal or a lost lock stops cleanly, and giving the
//! locks and connections back.

use std::collections::BTreeMap;
use std::path::Path;

use super::EngineError;
use super::connect::{self, Connection};
use super::planner::{self, ObjectReads, PlanRequest, WorkspaceContext};
use super::run::{self, Locks};
use crate::client::ClientOptions;
use crate::config::{Config, Environment, Host, LoadOptions};
use crate::plan::{Plan, WorkspaceFailure};

/// Connections to an environment's workspaces, the locks held on them (none for a read-only
/// look) and the plan read through them.
pub struct Session {
    /// Every connected workspace (those whose lock could not be taken last).
    pub connections: Vec<Connection>,
    /// The locks held.
    pub locks: Locks,
    /// The plan of every workspace read.
    pub plan: Plan,
    /// What planning each workspace produced, for applying.
    pub contexts: BTreeMap<String, WorkspaceContext>,
}

impl Session {
    /// Connects every workspace and plans them all, taking no lock (read-only commands).
    pub async fn look(
        config: &Config,
        root: &Path,
        client: &ClientOptions,
        request: &PlanRequest,
    ) -> Self {
        let (connections, failures) =
            connect::connect_all(&config.environment.workspaces, root, client).await;
        let (plan, contexts) =
            planner::plan_environment(config, &connections, failures, request).await;
        Session {
            connections,
            locks: Locks::default(),
            plan,
            contexts,
        }
    }

    /// [`Session::look`], using reads started early when they are of the same workspaces.
    pub async fn look_from(
        early: Option<EarlyReads>,
        config: &Config,
        root: &Path,
        client: &ClientOptions,
        request: &PlanRequest,
    ) -> Self {
        match early {
            Some(early) if early.workspaces == config.environment.workspaces => {
                let (plan, contexts) = planner::plan_environment_from(
                    config,
                    &early.connections,
                    early.failures,
                    request,
                    early.reads,
                )
                .await;
                Session {
                    connections: early.connections,
                    locks: Locks::default(),
                    plan,
                    contexts,
                }
            }
            Some(early) => {
                connect::close_all(early.connections).await;
                Self::look(config, root, client, request).await
            }
            None => Self::look(config, root, client, request).await,
        }
    }

    /// Connects, takes every lock (name order), then plans under the locks: what is applied is
    /// what was read while no other run could write.
    pub async fn locked(
        config: &Config,
        root: &Path,
        client: &ClientOptions,
        request: PlanRequest,
        operation: &str,
    ) -> Result<Self, EngineError> {
        let (connections, failures) =
            connect::connect_all(&config.environment.workspaces, root, client).await;
        Self::locked_connected(config, connections, failures, request, operation).await
    }

    /// [`Session::locked`] on connections made already (`failures`: those that were not).
    pub async fn locked_connected(
        config: &Config,
        mut connections: Vec<Connection>,
        mut failures: Vec<WorkspaceFailure>,
        mut request: PlanRequest,
        operation: &str,
    ) -> Result<Self, EngineError> {
        // Misconfigured credentials stop a writing run before its first write (a lock is one);
        // a promotion may go on without a workspace it cannot reach, and judges that itself.
        if operation != "promote"
            && let Some(misconfigured) = failures.iter().find(|f| f.misconfigured)
        {
            let reason = format!(
                "{}; nothing was written to any workspace",
                misconfigured.described()
            );
            connect::close_all(connections).await;
            return Err(EngineError::Misconfigured { reason });
        }
        // The desired states are computed on other threads while the locks are taken: both
        // stand between a run's start and its first read.
        let (locks, desired) = tokio::task::block_in_place(|| {
            std::thread::scope(|s| {
                let desired = s.spawn(|| planner::desired_states(config, &connections, &request));
                let locks = tokio::runtime::Handle::current().block_on(run::take_locks(
                    &config.environment.name,
                    &connections,
                    operation,
                ));
                let desired = desired
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (locks, desired)
            })
        });
        let locks = match locks {
            Ok(locks) => locks,
            Err(e) => {
                connect::close_all(connections).await;
                return Err(e);
            }
        };
        request.skip = locks.failed.iter().map(|f| f.workspace.clone()).collect();
        failures.extend(locks.failed.iter().cloned());
        // Only locked workspaces are read and planned (so only they are applied): a workspace
        // whose lock could not be taken must not be written, and reading it again (unreachable,
        // most likely) would only wait out the same retries.
        connections.sort_by_key(|c| request.skip.contains(&c.spec.name));
        let locked = connections
            .iter()
            .filter(|c| !request.skip.contains(&c.spec.name))
            .count();
        let (plan, contexts) = planner::plan_environment_desired(
            config,
            &connections[..locked],
            failures,
            &request,
            desired,
        )
        .await;
        Ok(Session {
            connections,
            locks,
            plan,
            contexts,
        })
    }

    /// Runs `work` while the locks are held: a signal (SIGINT, SIGTERM) or a lock another run
    /// took over stops it at its next await, as a kill would, but never stops the locks being
    /// given back afterwards (unless a second signal insists).
    pub async fn run<T, E: From<EngineError>>(
        mut self,
        environment: &str,
        interrupts: &mut Interrupts,
        work: impl AsyncFnOnce(&mut Session) -> Result<T, E>,
    ) -> Result<T, E> {
        let lost = self.locks.lost();
        let (outcome, interrupted) = tokio::select! {
            biased;
            signal = interrupts.recv() => (Err(EngineError::Interrupted(signal).into()), true),
            reason = lost => (Err(EngineError::LockLost(reason).into()), true),
            outcome = work(&mut self) => (outcome, false),
        };
        if interrupted {
            tokio::select! {
                biased;
                plan = self.finish(environment) => leave_to_exit(plan),
                _ = interrupts.recv() => {}
            }
        } else {
            leave_to_exit(self.finish(environment).await);
        }
        outcome
    }

    /// Gives back the locks and closes the connections; the plan is what is left.
    pub async fn finish(self, environment: &str) -> Plan {
        let Session {
            connections,
            locks,
            plan,
            contexts,
        } = self;
        run::release_locks(environment, &connections, &locks).await;
        connect::close_all(connections).await;
        leave_to_exit(contexts);
        plan
    }
}

/// Leaves `value` to the end of the process: freeing a large environment's configuration, live
/// state and plan piece by piece takes a tenth of a second that a command about to exit need
/// not spend.
pub fn leave_to_exit<T>(value: T) {
    std::mem::forget(value);
}

/// The environment file, when work may start before the rest of the configuration has loaded:
/// only when every workspace is remote, since starting an embedded one creates its state files
/// and nothing is created while the configuration may still be invalid.
pub fn early_environment(options: &LoadOptions) -> Option<Environment> {
    let environment = crate::config::load_environment(options).ok()?;
    let embedded = environment
        .workspaces
        .iter()
        .any(|w| matches!(w.host, Host::Local(_)));
    (!embedded).then_some(environment)
}

/// Workspaces connected, and their objects being read, while the configuration still loads
/// (read-only commands; see [`early_environment`]).
pub struct EarlyReads {
    workspaces: Vec<crate::config::WorkspaceSpec>,
    connections: Vec<Connection>,
    failures: Vec<WorkspaceFailure>,
    reads: ObjectReads,
}

impl EarlyReads {
    /// Starts them if the environment file loads and names remote workspaces only.
    pub async fn start(options: &LoadOptions, client: &ClientOptions) -> Option<Self> {
        let environment = early_environment(options)?;
        let (connections, failures) =
            connect::connect_all(&environment.workspaces, &options.root, client).await;
        let reads = ObjectReads::start(
            &connections,
            &environment.name,
            None,
            &PlanRequest::default(),
            None,
        );
        Some(EarlyReads {
            workspaces: environment.workspaces,
            connections,
            failures,
            reads,
        })
    }

    /// Closes what they connected, when the command ends before using them.
    pub async fn discard(self) {
        connect::close_all(self.connections).await;
    }
}

/// SIGINT and SIGTERM, caught from [`Interrupts::listen`] on: a writing command stops and gives
/// its locks back instead of dying with them (CI cancels a job with SIGINT, then SIGTERM).
/// Only a SIGKILL leaves a lock behind (for `tandem unlock`, or its expiry).
pub struct Interrupts {
    #[cfg(unix)]
    signals: Vec<(tokio::signal::unix::Signal, &'static str)>,
}

impl Interrupts {
    /// Starts catching the signals (inside the runtime); one arriving before [`Interrupts::recv`]
    /// is awaited is kept for it.
    pub fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = [
                (SignalKind::interrupt(), "SIGINT"),
                (SignalKind::terminate(), "SIGTERM"),
            ]
            .into_iter()
            .filter_map(|(kind, name)| signal(kind).ok().map(|s| (s, name)))
            .collect();
            Interrupts { signals }
        }
        #[cfg(not(unix))]
        Interrupts {}
    }

    /// The next signal's name (never, when none could be caught).
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            if self.signals.is_empty() {
                return std::future::pending().await;
            }
            let waits = self.signals.iter_mut().map(|(signal, name)| {
                Box::pin(async move {
                    match signal.recv().await {
                        Some(()) => *name,
                        None => std::future::pending().await,
                    }
                })
            });
            futures::future::select_all(waits).await.0
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(_) => std::future::pending().await,
            }
        }
    }
}
