//! Starting an operation, in one place for the API and the sync: what its execution is
//! called, reserving the environment's lease for it, starting the state machine, giving the
//! lease back when nothing started, and the history event that says who asked.

use serde_json::Value;
use strata_core::{
    Component, ComponentPhase, EnvironmentState, Event, ImageUpdate, OperationKind, Scope,
};
use strata_store::{Store, StoreError};

use crate::flows::{FlowError, Flows, Run};

/// How long the lease taken for a starting execution lasts before Begin extends it to the
/// operation's deadline: an execution that never begins blocks the environment this long.
pub const RESERVATION_SECONDS: u64 = 300;

/// Why an operation starts. It names the execution (deterministically: the same request
/// finds the same name, so Step Functions starts it once) and the history event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger<'a> {
    /// `PUT /environments/{name}`: `up` of `generation`.
    Apply {
        generation: u64,
        status_version: u64,
    },
    /// `DELETE /environments/{name}`.
    Delete {
        generation: u64,
        status_version: u64,
    },
    /// `POST …/rollback`: `up` in the rollback scope.
    Rollback {
        generation: u64,
        status_version: u64,
    },
    /// The sync found drift under `sync.drift: repair`.
    Repair {
        generation: u64,
        status_version: u64,
    },
    /// The sync found newer images under `sync.images: deploy`.
    Rollout {
        generation: u64,
        updates: &'a [ImageUpdate],
    },
    /// The sync found the TTL run out at `expires_at`.
    Expiry { expires_at: u64 },
    /// `POST …/sleep`, or the schedule: `up` to the sleeping shape.
    Sleep {
        generation: u64,
        status_version: u64,
    },
    /// `POST …/wake`, or the schedule: `up` back to the spec.
    Wake {
        generation: u64,
        status_version: u64,
    },
}

impl Trigger<'_> {
    pub fn operation(&self) -> OperationKind {
        match self {
            Trigger::Delete { .. } | Trigger::Expiry { .. } => OperationKind::Down,
            _ => OperationKind::Up,
        }
    }

    /// The word the execution's name begins with.
    fn word(&self) -> &'static str {
        match self {
            Trigger::Apply { .. } => "up",
            Trigger::Delete { .. } => "down",
            Trigger::Rollback { .. } => "rollback",
            Trigger::Repair { .. } => "repair",
            Trigger::Rollout { .. } => "images",
            Trigger::Expiry { .. } => "ttl",
            Trigger::Sleep { .. } => "sleep",
            Trigger::Wake { .. } => "wake",
        }
    }

    /// What the execution's input says of sleep: `Some(true)` sleeps, `Some(false)` wakes,
    /// `None` keeps the environment as it is.
    pub fn asleep(&self) -> Option<bool> {
        match self {
            Trigger::Sleep { .. } => Some(true),
            Trigger::Wake { .. } => Some(false),
            _ => None,
        }
    }

    /// The execution's name:
    /// - `<up|down|rollback|repair>-<env>-<generation>-<status version>`: a retry after a
    ///   failed operation gets a new name, because the failure moved the status on;
    /// - `images-<env>-<generation>-<hash of the versions>`: the same updates, one rollout;
    /// - `ttl-<env>-<expires at>`: one per expiry.
    pub fn execution(&self, environment: &str) -> String {
        let word = self.word();
        match *self {
            Trigger::Apply {
                generation,
                status_version,
            }
            | Trigger::Delete {
                generation,
                status_version,
            }
            | Trigger::Rollback {
                generation,
                status_version,
            }
            | Trigger::Repair {
                generation,
                status_version,
            }
            | Trigger::Sleep {
                generation,
                status_version,
            }
            | Trigger::Wake {
                generation,
                status_version,
            } => format!("{word}-{environment}-{generation}-{status_version}"),
            Trigger::Rollout {
                generation,
                updates,
            } => format!(
                "{word}-{environment}-{generation}-{:016x}",
                versions_hash(updates)
            ),
            Trigger::Expiry { expires_at } => format!("{word}-{environment}-{expires_at}"),
        }
    }

    /// Whether `holder` (a lease holder) is an execution this same request would start: the
    /// same kind of request for the same generation, whatever the status was then.
    pub fn started(&self, environment: &str, holder: &str) -> bool {
        match self {
            Trigger::Apply { generation, .. }
            | Trigger::Delete { generation, .. }
            | Trigger::Rollback { generation, .. }
            | Trigger::Repair { generation, .. }
            | Trigger::Sleep { generation, .. }
            | Trigger::Wake { generation, .. } => {
                holder.starts_with(&format!("{}-{environment}-{generation}-", self.word()))
            }
            _ => holder == self.execution(environment),
        }
    }

    /// The history event that records the request.
    pub fn event_kind(&self) -> &'static str {
        match self {
            Trigger::Apply { .. } => "ApplyRequested",
            Trigger::Delete { .. } => "DeleteRequested",
            Trigger::Rollback { .. } => "RollbackRequested",
            Trigger::Repair { .. } => "RepairRequested",
            Trigger::Rollout { .. } => "RolloutRequested",
            Trigger::Expiry { .. } => "ExpiryDeleteRequested",
            Trigger::Sleep { .. } => "SleepRequested",
            Trigger::Wake { .. } => "WakeRequested",
        }
    }
}

/// The state machine an execution of this name runs on (the first word of its name, as
/// [`Trigger::execution`] makes it): `down` and `ttl` delete, everything else is `up`.
pub fn operation_of(execution: &str) -> OperationKind {
    match execution.split('-').next() {
        Some("down" | "ttl") => OperationKind::Down,
        _ => OperationKind::Up,
    }
}

/// FNV-1a over `service=version;…`: stable across builds, unlike std's hasher.
fn versions_hash(updates: &[ImageUpdate]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for update in updates {
        for byte in format!("{}={};", update.service, update.available).bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// An operation to start, and what its history event says.
#[derive(Debug, Clone)]
pub struct Launch<'a> {
    pub environment: &'a str,
    pub trigger: Trigger<'a>,
    pub scope: Scope,
    /// The components its plan recreates (an apply's): torn down first.
    pub recreate: Vec<Component>,
    pub message: String,
}

impl Launch<'_> {
    pub fn execution(&self) -> String {
        self.trigger.execution(self.environment)
    }
}

/// An operation stopped on request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    pub execution: String,
    /// How Step Functions says it ended (`ABORTED`, or how it had ended already).
    pub run: Run,
    /// The components it was still working on, with their phase.
    pub in_flight: Vec<(String, ComponentPhase)>,
}

/// An execution that was started (or found started under its name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub execution: String,
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StartError {
    /// Another operation holds the environment.
    #[error("environment {environment} is locked by {holder} until {expires_at}")]
    Held {
        environment: String,
        holder: String,
        expires_at: u64,
    },
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Flows(#[from] FlowError),
}

impl From<StoreError> for StartError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LockHeld {
                environment,
                holder,
                expires_at,
            } => StartError::Held {
                environment,
                holder,
                expires_at,
            },
            other => StartError::Store(other),
        }
    }
}

/// Starts operations over a store (the lease, the history) and the state machines.
#[derive(Debug, Clone)]
pub struct Operations<S, F> {
    store: S,
    flows: F,
    poll_seconds: Option<u64>,
    clock_scale: Option<u32>,
}

impl<S: Store, F: Flows> Operations<S, F> {
    pub fn new(store: S, flows: F) -> Self {
        Self {
            store,
            flows,
            poll_seconds: None,
            clock_scale: None,
        }
    }

    /// The `pollSeconds` of the executions it starts (the local stack's are quick).
    pub fn with_poll_seconds(mut self, poll_seconds: Option<u64>) -> Self {
        self.poll_seconds = poll_seconds;
        self
    }

    /// The `clockScale` of the executions it starts: AWS's seconds per second of theirs
    /// (`strata_core::Clock`; 0 where everything is made at once, as on the plain local stack).
    pub fn with_clock_scale(mut self, clock_scale: Option<u32>) -> Self {
        self.clock_scale = clock_scale;
        self
    }

    /// `pollSeconds` and `clockScale` from `STRATA_POLL_SECONDS` and `STRATA_CLOCK_SCALE`,
    /// which only the local stack sets: moto makes everything at once, so polls can be quick
    /// and nothing is worth a longer wait.
    pub fn with_poll_seconds_from_env(self) -> Self {
        let var = |name: &str| std::env::var(name).ok().and_then(|s| s.parse().ok());
        let poll = var("STRATA_POLL_SECONDS");
        let scale = var("STRATA_CLOCK_SCALE").and_then(|s: u64| u32::try_from(s).ok());
        self.with_poll_seconds(poll).with_clock_scale(scale)
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn flows(&self) -> &F {
        &self.flows
    }

    /// The input of an execution for `environment`.
    pub fn input(
        &self,
        environment: &str,
        scope: Scope,
        recreate: &[Component],
        asleep: Option<bool>,
    ) -> String {
        let mut input = serde_json::Map::new();
        input.insert("environment".into(), environment.into());
        if scope != Scope::All {
            input.insert("scope".into(), serde_json::json!(scope));
        }
        if !recreate.is_empty() {
            input.insert("recreate".into(), serde_json::json!(recreate));
        }
        if let Some(asleep) = asleep {
            input.insert("asleep".into(), asleep.into());
        }
        if let Some(poll) = self.poll_seconds {
            input.insert("pollSeconds".into(), poll.into());
        }
        if let Some(scale) = self.clock_scale {
            input.insert("clockScale".into(), scale.into());
        }
        Value::Object(input).to_string()
    }

    /// Takes the lease for `execution` before it starts (Begin re-takes it as the same
    /// holder), so whoever comes next sees the environment taken. A lease whose execution
    /// has ended (stopped in the Step Functions console, or whose Finish never ran) is
    /// recovered first.
    pub async fn reserve(
        &self,
        environment: &str,
        execution: &str,
        now: u64,
    ) -> Result<(), StartError> {
        match self
            .store
            .acquire(environment, execution, RESERVATION_SECONDS, now)
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::LockHeld { holder, .. }) if holder != execution => {
                self.recover(environment, &holder, now).await?;
                self.store
                    .acquire(environment, execution, RESERVATION_SECONDS, now)
                    .await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Releases the lease `holder` keeps although its execution ended; refuses (as held)
    /// while it runs or has not begun yet.
    async fn recover(&self, environment: &str, holder: &str, now: u64) -> Result<(), StartError> {
        let run = self.flows.run(operation_of(holder), holder).await?;
        let Run::Ended(how) = run else {
            let lease = self.store.lease(environment, now).await?;
            return Err(StartError::Held {
                environment: environment.to_owned(),
                holder: holder.to_owned(),
                expires_at: lease.map_or(now, |l| l.expires_at),
            });
        };
        let cancelled = self
            .mark_cancelled(environment, holder, &format!("it ended {how}"), now)
            .await?;
        let event = Event {
            at: now,
            kind: "LeaseRecovered".into(),
            message: format!(
                "{holder} ended {how} without giving the environment back; its lease was released{}",
                in_flight_text(&cancelled)
            ),
            actor: "strata".into(),
            execution: Some(holder.to_owned()),
        };
        self.give_back(environment, holder, &event).await
    }

    /// Releases `execution`'s lease (already gone if its Finish came first) and records why.
    async fn give_back(
        &self,
        environment: &str,
        execution: &str,
        event: &Event,
    ) -> Result<(), StartError> {
        match self.store.release(environment, execution).await {
            Ok(()) | Err(StoreError::NotLockHolder { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.store.append_event(environment, event).await?;
        Ok(())
    }

    /// Stops the operation that holds the environment, fences its steps (the status no
    /// longer names it as running, so a step still in flight acts on nothing), gives the
    /// lease back and records who cancelled it and what was in flight. `None` when
    /// nothing runs.
    pub async fn cancel(
        &self,
        environment: &str,
        actor: &str,
        now: u64,
    ) -> Result<Option<Cancelled>, StartError> {
        let Some(lease) = self.store.lease(environment, now).await? else {
            return Ok(None);
        };
        let execution = lease.holder;
        let run = self
            .flows
            .stop(
                operation_of(&execution),
                &execution,
                &format!("cancelled by {actor}"),
            )
            .await?;
        if run == Run::Running {
            return Err(StartError::Flows(FlowError::Unavailable(format!(
                "{execution} did not stop"
            ))));
        }
        let in_flight = self
            .mark_cancelled(
                environment,
                &execution,
                &format!("cancelled by {actor}"),
                now,
            )
            .await?;
        let event = Event {
            at: now,
            kind: "OperationCancelled".into(),
            message: format!(
                "{execution} cancelled by {actor}{}",
                in_flight_text(&in_flight)
            ),
            actor: actor.to_owned(),
            execution: Some(execution.clone()),
        };
        self.give_back(environment, &execution, &event).await?;
        Ok(Some(Cancelled {
            execution,
            run,
            in_flight,
        }))
    }

    /// Marks the status Cancelled if it still says `execution` runs: the fence its steps
    /// check. Answers the components that were in flight. Either way the status moves on
    /// (an execution cancelled before it began leaves the state as it was), so the next
    /// operation gets a name of its own: Step Functions never starts a name twice.
    async fn mark_cancelled(
        &self,
        environment: &str,
        execution: &str,
        why: &str,
        now: u64,
    ) -> Result<Vec<(String, ComponentPhase)>, StartError> {
        // A component step writes the status too: read again when it moved on.
        for _ in 0..5 {
            let current = self.store.get_status(environment).await?;
            let (mut status, version) = match current {
                Some(current) => (current.value, Some(current.version)),
                None => (
                    strata_core::EnvironmentStatus::new(EnvironmentState::Cancelled, "", now),
                    None,
                ),
            };
            let running = status.state.is_running()
                && status.operation.as_ref().map(|o| o.execution.as_str()) == Some(execution);
            let in_flight: Vec<(String, ComponentPhase)> = if running {
                status
                    .components
                    .iter()
                    .filter(|(_, c)| {
                        matches!(
                            c.phase,
                            ComponentPhase::Pending
                                | ComponentPhase::Creating
                                | ComponentPhase::Updating
                                | ComponentPhase::Deleting
                        )
                    })
                    .map(|(component, c)| (component.name().to_owned(), c.phase))
                    .collect()
            } else {
                Vec::new()
            };
            if running {
                let kind = status
                    .operation
                    .as_ref()
                    .map_or("operation", |o| o.kind.name());
                status.state = EnvironmentState::Cancelled;
                status.message = format!("{kind} cancelled: {why}{}", in_flight_text(&in_flight));
            } else if status.operation.as_ref().map(|o| o.execution.as_str()) != Some(execution) {
                status.message = format!("{execution} {why} before it began");
            }
            status.updated_at = now;
            match self.store.put_status(environment, &status, version).await {
                Ok(_) => return Ok(in_flight),
                Err(StoreError::StaleVersion { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StartError::Store(StoreError::StaleVersion {
            item: format!("{environment}/STATUS"),
            expected: None,
        }))
    }

    /// Gives a reservation back when nothing was started under it.
    pub async fn unreserve(&self, environment: &str, execution: &str) {
        if let Err(e) = self.store.release(environment, execution).await {
            tracing::warn!("the lease for {execution} stays until it expires: {e}");
        }
    }

    /// Reserves the environment and starts the operation.
    pub async fn start(
        &self,
        launch: &Launch<'_>,
        actor: &str,
        now: u64,
    ) -> Result<Started, StartError> {
        self.reserve(launch.environment, &launch.execution(), now)
            .await?;
        self.launch(launch, actor, now).await
    }

    /// Starts an operation already [`reserve`](Self::reserve)d, then records who asked.
    pub async fn launch(
        &self,
        launch: &Launch<'_>,
        actor: &str,
        now: u64,
    ) -> Result<Started, StartError> {
        let execution = launch.execution();
        let input = self.input(
            launch.environment,
            launch.scope,
            &launch.recreate,
            launch.trigger.asleep(),
        );
        let arn = match self
            .flows
            .start(launch.trigger.operation(), &execution, &input)
            .await
        {
            Ok(arn) => arn,
            Err(e) => {
                // Nothing started: give the lease back so a retry (or anyone) may go ahead.
                self.unreserve(launch.environment, &execution).await;
                return Err(e.into());
            }
        };
        // After the start: a request retried because this write failed starts nothing twice.
        self.store
            .append_event(
                launch.environment,
                &Event {
                    at: now,
                    kind: launch.trigger.event_kind().to_owned(),
                    message: launch.message.clone(),
                    actor: actor.to_owned(),
                    execution: Some(execution.clone()),
                },
            )
            .await?;
        Ok(Started { execution, arn })
    }
}

fn in_flight_text(in_flight: &[(String, ComponentPhase)]) -> String {
    if in_flight.is_empty() {
        return String::new();
    }
    let list: Vec<String> = in_flight
        .iter()
        .map(|(component, phase)| format!("{component} ({})", format!("{phase:?}").to_lowercase()))
        .collect();
    format!("; in flight: {}", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryFlows;
    use strata_store::{MemoryStore, prelude::*};

    fn update(service: &str, available: &str) -> ImageUpdate {
        ImageUpdate {
            service: service.into(),
            deployed: "1.0.0".into(),
            available: available.into(),
            found_at: 0,
        }
    }

    #[test]
    fn every_execution_name_comes_from_its_trigger() {
        let v = |generation, status_version| (generation, status_version);
        let (g, s) = v(3, 7);
        let names = [
            Trigger::Apply {
                generation: g,
                status_version: s,
            },
            Trigger::Delete {
                generation: g,
                status_version: s,
            },
            Trigger::Rollback {
                generation: g,
                status_version: s,
            },
            Trigger::Repair {
                generation: g,
                status_version: s,
            },
            Trigger::Expiry { expires_at: 1_800 },
        ]
        .map(|t| t.execution("pr-1"));
        assert_eq!(
            names,
            [
                "up-pr-1-3-7",
                "down-pr-1-3-7",
                "rollback-pr-1-3-7",
                "repair-pr-1-3-7",
                "ttl-pr-1-1800"
            ]
        );
        let a = [update("web", "1.1.0")];
        let b = [update("web", "1.2.0")];
        let rollout = |updates| Trigger::Rollout {
            generation: 3,
            updates,
        };
        assert_eq!(rollout(&a).execution("pr-1"), rollout(&a).execution("pr-1"));
        assert_ne!(rollout(&a).execution("pr-1"), rollout(&b).execution("pr-1"));
        assert!(rollout(&a).execution("pr-1").starts_with("images-pr-1-3-"));
    }

    #[test]
    fn the_same_request_is_recognised_whatever_the_status_was() {
        let apply = Trigger::Apply {
            generation: 2,
            status_version: 9,
        };
        assert!(apply.started("web", "up-web-2-4"));
        assert!(!apply.started("web", "up-web-3-4"));
        assert!(!apply.started("web", "down-web-2-4"));
        assert!(!apply.started("web", "up-web-2"));
    }

    #[tokio::test]
    async fn a_start_that_fails_gives_the_lease_back_and_records_nothing() {
        let operations = Operations::new(MemoryStore::default(), MemoryFlows::default());
        let launch = Launch {
            environment: "web",
            trigger: Trigger::Delete {
                generation: 1,
                status_version: 0,
            },
            scope: Scope::All,
            recreate: Vec::new(),
            message: "delete requested".into(),
        };
        operations.flows().set_unavailable(true);
        let refused = operations.start(&launch, "alice", 100).await;
        assert!(matches!(refused, Err(StartError::Flows(_))), "{refused:?}");
        assert_eq!(operations.store().lease("web", 100).await.unwrap(), None);

        operations.flows().set_unavailable(false);
        let started = operations.start(&launch, "alice", 100).await.unwrap();
        assert_eq!(started.execution, "down-web-1-0");
        let lease = operations.store().lease("web", 100).await.unwrap().unwrap();
        assert_eq!(lease.holder, "down-web-1-0");
        let history = operations.store().history("web", 10, None).await.unwrap();
        assert_eq!(history.items.len(), 1);
        assert_eq!(history.items[0].kind, "DeleteRequested");
        assert_eq!(history.items[0].actor, "alice");

        // Someone else's start is refused while the lease is held, naming the holder.
        let other = Launch {
            trigger: Trigger::Expiry { expires_at: 90 },
            ..launch.clone()
        };
        match operations.start(&other, "sync/run-1", 101).await {
            Err(StartError::Held { holder, .. }) => assert_eq!(holder, "down-web-1-0"),
            other => panic!("expected the lease held, got {other:?}"),
        }
        assert_eq!(operations.flows().started().len(), 1);
    }

    fn apply(status_version: u64) -> Launch<'static> {
        Launch {
            environment: "web",
            trigger: Trigger::Apply {
                generation: 1,
                status_version,
            },
            scope: Scope::All,
            recreate: Vec::new(),
            message: "apply".into(),
        }
    }

    /// What Begin and a component step leave: the operation running, the cluster creating.
    async fn begun(operations: &Operations<MemoryStore, MemoryFlows>, execution: &str) {
        use strata_core::{Component, ComponentStatus, EnvironmentStatus, Operation};
        let store = operations.store();
        let current = store.get_status("web").await.unwrap();
        let mut status = EnvironmentStatus::new(EnvironmentState::Progressing, "up", 100);
        status.operation = Some(Operation {
            kind: OperationKind::Up,
            execution: execution.into(),
            generation: 1,
            started_at: 100,
        });
        store
            .put_status("web", &status, current.map(|c| c.version))
            .await
            .unwrap();
        for (component, phase) in [
            (Component::Network, ComponentPhase::Ready),
            (Component::Cluster, ComponentPhase::Creating),
        ] {
            let previous = store.get_component("web", component).await.unwrap();
            store
                .put_component(
                    "web",
                    component,
                    &ComponentStatus::new(phase, 1, 100),
                    previous.map(|p| p.version),
                )
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn cancel_stops_the_execution_fences_it_and_frees_the_environment() {
        let operations = Operations::new(MemoryStore::default(), MemoryFlows::default());
        assert_eq!(operations.cancel("web", "alice", 100).await.unwrap(), None);

        let started = operations.start(&apply(0), "alice", 100).await.unwrap();
        begun(&operations, &started.execution).await;
        let cancelled = operations.cancel("web", "bob", 110).await.unwrap().unwrap();
        assert_eq!(cancelled.execution, "up-web-1-0");
        assert_eq!(cancelled.run, Run::Ended("ABORTED".into()));
        assert_eq!(
            cancelled.in_flight,
            [("cluster".to_owned(), ComponentPhase::Creating)]
        );
        assert_eq!(operations.flows().stopped(), ["up-web-1-0"]);
        assert_eq!(operations.store().lease("web", 110).await.unwrap(), None);
        let status = operations.store().get_status("web").await.unwrap().unwrap();
        assert_eq!(status.value.state, EnvironmentState::Cancelled);
        assert_eq!(
            status.value.message,
            "up cancelled: cancelled by bob; in flight: cluster (creating)"
        );
        let history = operations.store().history("web", 10, None).await.unwrap();
        let kinds: Vec<&str> = history.items.iter().map(|e| e.kind.as_str()).collect();
        assert!(kinds.contains(&"OperationCancelled"), "{kinds:?}");

        // A stop that cannot be made leaves everything as it was.
        let again = operations
            .start(&apply(status.version), "alice", 120)
            .await
            .unwrap();
        begun(&operations, &again.execution).await;
        operations.flows().set_unavailable(true);
        assert!(matches!(
            operations.cancel("web", "bob", 121).await,
            Err(StartError::Flows(_))
        ));
        let lease = operations.store().lease("web", 121).await.unwrap().unwrap();
        assert_eq!(lease.holder, again.execution);
    }

    #[tokio::test]
    async fn a_lease_left_by_an_ended_execution_is_recovered_one_still_running_is_not() {
        let operations = Operations::new(MemoryStore::default(), MemoryFlows::default());
        let first = operations.start(&apply(0), "alice", 100).await.unwrap();
        begun(&operations, &first.execution).await;

        // Running: refused, naming it.
        match operations.start(&apply(1), "alice", 110).await {
            Err(StartError::Held { holder, .. }) => assert_eq!(holder, first.execution),
            other => panic!("expected held, got {other:?}"),
        }
        // Stopped in the console: its lease is recovered and the new operation starts.
        operations.flows().end(&first.execution, "ABORTED");
        let second = operations.start(&apply(1), "alice", 120).await.unwrap();
        let lease = operations.store().lease("web", 120).await.unwrap().unwrap();
        assert_eq!(lease.holder, second.execution);
        let history = operations.store().history("web", 10, None).await.unwrap();
        let recovered = history
            .items
            .iter()
            .find(|e| e.kind == "LeaseRecovered")
            .expect("the recovery is in the history");
        assert_eq!(
            recovered.execution.as_deref(),
            Some(first.execution.as_str())
        );
        assert!(
            recovered.message.contains("ended ABORTED"),
            "{}",
            recovered.message
        );
    }

    #[test]
    fn the_machine_of_an_execution_follows_its_name() {
        for (name, operation) in [
            ("up-web-1-0", OperationKind::Up),
            ("rollback-web-1-0", OperationKind::Up),
            ("repair-web-1-0", OperationKind::Up),
            ("images-web-1-00ff", OperationKind::Up),
            ("down-web-1-0", OperationKind::Down),
            ("ttl-web-1800", OperationKind::Down),
        ] {
            assert_eq!(operation_of(name), operation, "{name}");
        }
    }
}
