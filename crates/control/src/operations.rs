//! Starting an operation, in one place for the API and the sync: what its execution is
//! called, reserving the environment's lease for it, starting the state machine, giving the
//! lease back when nothing started, and the history event that says who asked.

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

    /// The spec generation the request was decided on (none for an expiry, which deletes
    /// whatever is stored): carried in the execution's input for Begin to hold it to.
    pub fn generation(&self) -> Option<u64> {
        match *self {
            Trigger::Apply { generation, .. }
            | Trigger::Delete { generation, .. }
            | Trigger::Rollback { generation, .. }
            | Trigger::Repair { generation, .. }
            | Trigger::Rollout { generation, .. }
            | Trigger::Sleep { generation, .. }
            | Trigger::Wake { generation, .. } => Some(generation),
            Trigger::Expiry { .. } => None,
        }
    }

    /// The generation an execution is held to: an apply's, whose plan was made for that
    /// spec and no other. The other starts converge whatever is stored when they begin (a
    /// repair, rollout, sleep or wake decided on an older generation still converges the
    /// newer one; a delete deletes it).
    pub fn planned_generation(&self) -> Option<u64> {
        match *self {
            Trigger::Apply { generation, .. } => Some(generation),
            _ => None,
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

    /// The input of the execution `launch` starts: its decision, and this control plane's
    /// pace.
    pub fn input(&self, launch: &Launch<'_>) -> String {
        let input = strata_core::ExecutionInput {
            environment: launch.environment.to_owned(),
            generation: launch.trigger.planned_generation(),
            scope: launch.scope,
            recreate: launch.recreate.clone(),
            asleep: launch.trigger.asleep(),
            poll_seconds: self.poll_seconds,
            clock_scale: self.clock_scale,
            deadline_seconds: None,
        };
        serde_json::to_string(&input).expect("an execution input always serialises")
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
        let input = self.input(launch);
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
mod tests;
