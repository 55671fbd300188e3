//! Sync: what keeps every environment honest between operations.
//!
//! Started by the EventBridge Scheduler schedule (an EventBridge scheduled-event payload, read
//! as `aws_lambda_events`' `CloudWatchEvent`; its `time` is the run's clock) or for one
//! environment (`{"environment": "staging"}`).
//! Environments are due by the store's `byDue` index (`spec.sync.every` apart), never by a
//! scan. Every write of an environment's schedule record is conditional on the version the
//! run found due, so of two overlapping runs exactly one processes it; before a side effect
//! the run claims it first, and a claim that a crashed run leaves lapses after
//! [`CLAIM_SECONDS`], so nothing is skipped for good.
//!
//! Also started by the ECR push rule (an `ECR Image Action` event): the environments using
//! that repository (the store's image index, not a scan) are synced at once.
//!
//! Per environment, today: an environment whose lease is held is skipped (due again at the
//! next run); TTL warnings are put on the bus a day and an hour before expiry; an expired
//! environment is destroyed through the normal `environment-down` flow (with its data
//! safety); a Ready environment's services are compared with the newest tag within their
//! constraints (each repository listed once per run), and a newer one is put on the bus and
//! recorded in the status (`sync.images: report`) or rolled out by the app-only `up`
//! (`deploy`); each component of a Ready environment is observed by its own function for
//! drift, reported or repaired by `up` (`sync.drift`); the environment's tagged resources are
//! recorded as its inventory; the schedule of a deleted environment is removed. Every sync
//! appends one history event saying what it found.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use futures_util::{StreamExt, stream};
use serde::Serialize;
use serde_json::Value;
use strata_core::drift::{ComponentDrift, Observed};
use strata_core::events::{Drifted, Notice, TtlWarning, UpdateAvailable};
use strata_core::spec::{DriftPolicy, ImagePolicy};
use strata_core::versions::{is_newer, newest_satisfying};
use strata_core::{
    EnvironmentState, EnvironmentStatus, Event, ImageUpdate, InventoryItem, Scope,
    check_environment_name, parse_duration,
};

use strata_store::{DueSync, Store, StoreError, StoredSpec, SyncRecord, SyncView, Versioned};

mod inventory;
mod observe;

pub use inventory::{AwsInventory, Inventory, MemoryInventory, bounded, parse_arn};
pub use observe::{LambdaObserver, MemoryObserver, Observer};
pub use strata_control::SyncRequest;
pub use strata_control::{Flows, MemoryFlows, SfnFlows};
use strata_control::{Launch, Operations, StartError, Trigger};
pub use strata_notify::{EventBus, MemoryNotifier, Notifier};
pub use strata_registry::{MemoryTags, Registries, RegistryError, TagSource};

/// How long a run's claim on an environment lasts; past it, another run may take it.
pub const CLAIM_SECONDS: u64 = 300;
/// TTL warnings, longest lead first: each is published once per expiry.
pub const TTL_WARNING_LEADS: [u64; 2] = [86_400, 3_600];
/// Environments synced at once by one run.
pub const CONCURRENCY: usize = 16;
/// Due environments read per query.
const PAGE: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("environment {0} has no stored spec")]
    EnvironmentNotFound(String),
    #[error("the event bus refused the notice: {0}")]
    EventsUnavailable(String),
    #[error("{0}")]
    FlowsUnavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// The error types this function reports (the schedule's retry policy and alarms see
    /// them; no state machine calls it).
    pub const NAMES: &[&str] = &[
        "InvalidInput",
        "EnvironmentNotFound",
        "EventsUnavailable",
        "FlowsUnavailable",
        "LockHeld",
        "NotLockHolder",
        "StaleVersion",
        "CorruptState",
        "StoreUnavailable",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            SyncError::InvalidInput(_) => "InvalidInput",
            SyncError::EnvironmentNotFound(_) => "EnvironmentNotFound",
            SyncError::EventsUnavailable(_) => "EventsUnavailable",
            SyncError::FlowsUnavailable(_) => "FlowsUnavailable",
            SyncError::Store(e) => e.name(),
        }
    }
}

/// What one sync found for one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "outcome"
)]
pub enum Outcome {
    /// Checked; `expires_at` when it has a TTL, `warned` when a TTL warning went out now;
    /// `updates` the newer image versions available, `rollout` the app-only `up` started for
    /// them (`sync.images: deploy`), `unreadable` the repositories that could not be listed.
    Synced {
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_at: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        warned: Option<u64>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        updates: Vec<ImageUpdate>,
        #[serde(skip_serializing_if = "Option::is_none")]
        rollout: Option<String>,
        /// The components drifted or missing, and the `up` repairing them (`repair`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        drift: Vec<ComponentDrift>,
        #[serde(skip_serializing_if = "Option::is_none")]
        repair: Option<String>,
        /// How many resources the inventory found (when it was taken).
        #[serde(skip_serializing_if = "Option::is_none")]
        resources: Option<usize>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        unreadable: Vec<String>,
    },
    /// An operation holds the lease; due again at the next run.
    Skipped { holder: String },
    /// The TTL ran out: `environment-down` was started.
    Expired { execution: String },
    /// The sleep schedule (or a sleep's re-assertion) started a sleep (`asleep`) or a wake.
    Scheduled { execution: String, asleep: bool },
    /// Deleted (or its spec is gone): its schedule was removed.
    Unscheduled,
    /// Another run claimed it first.
    Contended,
}

/// One run over everything due.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub due: usize,
    pub synced: usize,
    pub skipped: usize,
    pub expired: usize,
    /// Sleeps and wakes the schedule started.
    #[serde(default)]
    pub scheduled: usize,
    pub unscheduled: usize,
    pub contended: usize,
    /// `environment: error` for each that failed; its claim lapses and it is retried.
    pub failed: Vec<String>,
    /// True when the run stopped taking environments because its time was up.
    pub truncated: bool,
}

impl RunReport {
    fn count(&mut self, name: &str, result: Result<Outcome, SyncError>) {
        match result {
            Ok(Outcome::Synced { .. }) => self.synced += 1,
            Ok(Outcome::Skipped { .. }) => self.skipped += 1,
            Ok(Outcome::Expired { .. }) => self.expired += 1,
            Ok(Outcome::Scheduled { .. }) => self.scheduled += 1,
            Ok(Outcome::Unscheduled) => self.unscheduled += 1,
            Ok(Outcome::Contended) => self.contended += 1,
            Err(e) => self.failed.push(format!("{name}: {}: {e}", e.name())),
        }
    }

    fn count_all(&mut self, results: Vec<(String, Result<Outcome, SyncError>)>) {
        for (name, result) in results {
            if let Err(e) = &result {
                tracing::warn!(environment = %name, error = %e, "sync failed; retried when its claim lapses");
            }
            self.count(&name, result);
        }
    }
}

/// What the function was started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The schedule fired: sync everything due at `now`.
    Scheduled { now: u64, run: String },
    /// An image was pushed to ECR: sync the environments that use `image` now.
    Pushed {
        image: String,
        now: u64,
        run: String,
    },
    /// Sync one environment now, due or not.
    One(SyncRequest),
}

/// The `detail` of EventBridge's `ECR Image Action` event.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
struct EcrImageAction {
    action_type: String,
    result: String,
    repository_name: String,
}

/// Reads the function's input: an EventBridge scheduled event (its `time` is the clock of
/// the run), an ECR push (`ECR Image Action`), or `{"environment": "<name>"}`.
pub fn parse_request(input: Value) -> Result<Request, SyncError> {
    if let Some(detail_type) = input.get("detail-type").and_then(Value::as_str) {
        let detail_type = detail_type.to_owned();
        let event: CloudWatchEvent = serde_json::from_value(input)
            .map_err(|e| SyncError::InvalidInput(format!("event: {e}")))?;
        let time = event.time;
        let now = u64::try_from(time.timestamp())
            .map_err(|_| SyncError::InvalidInput(format!("time: {time} is before 1970")))?;
        let run = event.id.unwrap_or_else(|| format!("sync-{now}"));
        return match detail_type.as_str() {
            "Scheduled Event" => Ok(Request::Scheduled { now, run }),
            "ECR Image Action" => {
                let action: EcrImageAction =
                    serde_json::from_value(event.detail.unwrap_or_default())
                        .map_err(|e| SyncError::InvalidInput(format!("detail: {e}")))?;
                if action.action_type != "PUSH" || action.result != "SUCCESS" {
                    return Err(SyncError::InvalidInput(format!(
                        "detail: expected a successful PUSH, got {} {}",
                        action.result, action.action_type
                    )));
                }
                let field = |value: Option<String>, name: &str| {
                    value.ok_or_else(|| SyncError::InvalidInput(format!("{name}: missing")))
                };
                let account = field(event.account_id, "account")?;
                let region = field(event.region, "region")?;
                Ok(Request::Pushed {
                    image: format!(
                        "{account}.dkr.ecr.{region}.amazonaws.com/{}",
                        action.repository_name
                    ),
                    now,
                    run,
                })
            }
            other => Err(SyncError::InvalidInput(format!(
                "detail-type: expected \"Scheduled Event\" or \"ECR Image Action\", got {other:?}"
            ))),
        };
    }
    let request: SyncRequest = serde_json::from_value(input).map_err(|e| {
        SyncError::InvalidInput(format!(
            "input: expected a scheduled event, an ECR push or {{\"environment\": …}}: {e}"
        ))
    })?;
    check_environment_name(&request.environment)
        .map_err(|e| SyncError::InvalidInput(format!("environment: {e}")))?;
    Ok(Request::One(request))
}

/// The tags of each repository, listed once per run however many environments use it (and
/// by one of them at a time: the others wait for that listing).
#[derive(Default)]
pub struct TagCache {
    listed: Mutex<HashMap<String, Arc<Listing>>>,
}

/// One repository's listing, made once.
type Listing = tokio::sync::OnceCell<Result<Vec<String>, RegistryError>>;

impl TagCache {
    async fn tags<R: TagSource>(
        &self,
        registries: &R,
        image: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let cell = self
            .listed
            .lock()
            .expect("not poisoned")
            .entry(image.to_owned())
            .or_default()
            .clone();
        cell.get_or_init(|| registries.tags(image)).await.clone()
    }
}

/// The sync logic over the store, the state machines, the bus and the image registries.
pub struct Syncer<S, F, N, R, O, I> {
    /// The store and the state machines: every operation a sync starts goes through it.
    operations: Operations<S, F>,
    notifier: N,
    registries: R,
    observer: O,
    inventory: I,
}

/// The components found drifted or missing.
#[derive(Debug, Default)]
struct DriftFindings {
    /// False when nothing was observed (not Ready): what is recorded stays as it is.
    checked: bool,
    drifted: Vec<ComponentDrift>,
    /// Components that could not be observed (`drift of <component>: error`).
    unreadable: Vec<String>,
}

/// The inventory a sync took.
#[derive(Debug, Default)]
struct InventoryFindings {
    /// The resources (bounded) and how many were left out; `None` when not taken (not
    /// Ready) or unreadable: what is recorded stays as it is.
    taken: Option<(Vec<InventoryItem>, usize)>,
    unreadable: Vec<String>,
}

/// Everything a sync found, acted on together after the claim.
struct Findings<'a> {
    images: &'a ImageFindings,
    drift: &'a DriftFindings,
    inventory: &'a InventoryFindings,
}

/// What acting on the findings started.
#[derive(Debug, Default)]
struct Started {
    rollout: Option<String>,
    repair: Option<String>,
}

/// What a sync found of image versions.
#[derive(Debug, Default)]
struct ImageFindings {
    /// False when nothing was compared (not Ready, or the app never ran): what is recorded
    /// stays as it is.
    checked: bool,
    /// Newer versions than the ones serving, now.
    updates: Vec<ImageUpdate>,
    /// Those not recorded yet: announced (and under `deploy` rolled out).
    fresh: Vec<ImageUpdate>,
    /// Repositories that could not be listed (`service: error`).
    unreadable: Vec<String>,
}

impl<S: Store, F: Flows, N: Notifier, R: TagSource, O: Observer, I: Inventory>
    Syncer<S, F, N, R, O, I>
{
    pub fn new(store: S, flows: F, notifier: N, registries: R, observer: O, inventory: I) -> Self {
        Self {
            operations: Operations::new(store, flows),
            notifier,
            registries,
            observer,
            inventory,
        }
    }

    /// The `pollSeconds` of the executions it starts (the local stack's are quick).
    pub fn with_poll_seconds(mut self, poll_seconds: Option<u64>) -> Self {
        self.operations = self.operations.with_poll_seconds(poll_seconds);
        self
    }

    /// `pollSeconds` as the function's environment sets it (only the local stack does).
    pub fn with_poll_seconds_from_env(mut self) -> Self {
        self.operations = self.operations.with_poll_seconds_from_env();
        self
    }

    pub fn store(&self) -> &S {
        self.operations.store()
    }

    pub fn flows(&self) -> &F {
        self.operations.flows()
    }

    pub fn notifier(&self) -> &N {
        &self.notifier
    }

    pub fn registries(&self) -> &R {
        &self.registries
    }

    pub fn observer(&self) -> &O {
        &self.observer
    }

    pub fn inventory(&self) -> &I {
        &self.inventory
    }

    /// Syncs everything due at `now`, `CONCURRENCY` at a time, until nothing is due or
    /// `budget` has passed (what is left stays due for the next run).
    pub async fn run(&self, now: u64, run: &str, budget: Duration) -> Result<RunReport, SyncError> {
        let started = Instant::now();
        let tags = TagCache::default();
        let mut report = RunReport::default();
        let mut cursor: Option<String> = None;
        loop {
            if started.elapsed() >= budget {
                report.truncated = true;
                break;
            }
            let page = self.store().due(now, PAGE, cursor.as_deref()).await?;
            report.due += page.items.len();
            let results: Vec<(String, Result<Outcome, SyncError>)> = stream::iter(page.items)
                .map(|due| {
                    let tags = &tags;
                    async move {
                        let name = due.environment.clone();
                        let synced = self.sync_due(due, now, run, tags, Observation::WhenDue);
                        (name, synced.await)
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            report.count_all(results);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(report)
    }

    /// Syncs, now, every environment whose spec uses `image` (the store's image index): what
    /// an ECR push starts.
    pub async fn pushed(&self, image: &str, now: u64, run: &str) -> Result<RunReport, SyncError> {
        let names = self.store().environments_using(image).await?;
        let tags = TagCache::default();
        let mut report = RunReport {
            due: names.len(),
            ..RunReport::default()
        };
        let results: Vec<(String, Result<Outcome, SyncError>)> = stream::iter(names)
            .map(|name| {
                let tags = &tags;
                async move {
                    let outcome = self
                        .sync_one(&name, now, run, tags, Observation::WhenDue)
                        .await;
                    (name, outcome)
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        report.count_all(results);
        Ok(report)
    }

    /// Syncs one environment now, whether or not it is due (the API's "sync now"), reading
    /// its live resources whether or not an observation is due.
    /// Whoever asked waits for this run's event: one that lost the environment to another
    /// run, or failed, says so too.
    pub async fn sync_now(&self, name: &str, now: u64, run: &str) -> Result<Outcome, SyncError> {
        let outcome = self
            .sync_one(name, now, run, &TagCache::default(), Observation::Now)
            .await;
        let (kind, message) = match &outcome {
            Ok(Outcome::Contended) => (
                "Synced",
                "another sync run took it at the same moment; what that run found stands"
                    .to_owned(),
            ),
            Err(SyncError::EnvironmentNotFound(_)) | Ok(_) => return outcome,
            Err(e) => ("SyncFailed", strata_core::error_chain(e)),
        };
        let event = Event {
            at: now,
            kind: kind.into(),
            message,
            actor: format!("sync/{run}"),
            execution: None,
        };
        self.store().append_event(name, &event).await?;
        outcome
    }

    async fn sync_one(
        &self,
        name: &str,
        now: u64,
        run: &str,
        tags: &TagCache,
        observation: Observation,
    ) -> Result<Outcome, SyncError> {
        let record = match self.store().get_sync(name).await? {
            Some(record) => record,
            None => {
                // Stored before schedules existed, or its schedule write was lost: make it.
                let spec = self
                    .store()
                    .get_spec(name)
                    .await?
                    .ok_or_else(|| SyncError::EnvironmentNotFound(name.to_owned()))?;
                let record = SyncRecord::new(spec.updated_at, now);
                let version = self.store().put_sync(name, &record, None).await?;
                Versioned {
                    value: record,
                    version,
                }
            }
        };
        self.sync_due(
            DueSync {
                environment: name.to_owned(),
                record,
            },
            now,
            run,
            tags,
            observation,
        )
        .await
    }

    /// Syncs one environment found due (`due` as read), or answers `Contended` when another
    /// run got to it first. An unchanged environment costs three calls: the view, the
    /// reschedule (conditional on the version found due: of two overlapping runs exactly one
    /// wins) and the history event, plus its share of its repositories' listings (one per
    /// repository per run). Before a side effect (a TTL warning, a destroy, an image update
    /// announced or rolled out) the environment is claimed first, so the loser of two runs
    /// does nothing.
    pub async fn sync_due(
        &self,
        due: DueSync,
        now: u64,
        run: &str,
        tags: &TagCache,
        observation: Observation,
    ) -> Result<Outcome, SyncError> {
        let name = due.environment.as_str();
        let view = self.store().sync_view(name, now).await?;
        let spec = match &view.spec {
            Some(spec) if view.state() != Some(EnvironmentState::Deleted) => spec.clone(),
            // Deleted, or its spec is gone: nothing left to keep in sync.
            _ => {
                self.store().delete_sync(name).await?;
                return Ok(Outcome::Unscheduled);
            }
        };

        let mut record = due.record;
        let mut observed = false;
        // An operation took the lease since the view: a skip, found again next run.
        let outcome = 'found: {
            if let Some(lease) = &view.lease {
                Outcome::Skipped {
                    holder: lease.holder.clone(),
                }
            } else {
                let ttl = ttl_check(&spec, &record.value, now);
                let status = view.status.as_ref().map(|s| &s.value);
                // The schedule's sleep or wake (an expiry goes first: it deletes).
                if !matches!(ttl, TtlCheck::Expired { .. })
                    && let Some(asleep) =
                        status.and_then(|s| strata_core::sleep::due(&spec.environment, s, now))
                {
                    let (generation, status_version) = (
                        spec.generation,
                        view.status.as_ref().map_or(0, |s| s.version),
                    );
                    let (trigger, word) = if asleep {
                        let t = Trigger::Sleep {
                            generation,
                            status_version,
                        };
                        (t, "sleep")
                    } else {
                        let t = Trigger::Wake {
                            generation,
                            status_version,
                        };
                        (t, "wake")
                    };
                    let launch = Launch {
                        environment: name,
                        trigger,
                        scope: Scope::All,
                        recreate: Vec::new(),
                        message: format!("the sleep schedule: {word}"),
                    };
                    break 'found match self.start(&launch, run, now).await? {
                        Ok(execution) => Outcome::Scheduled { execution, asleep },
                        Err(holder) => Outcome::Skipped { holder },
                    };
                }
                // Asleep, everything scaled to zero is as meant: no drift to look for.
                let asleep = status.is_some_and(|s| s.sleeping.is_some());
                let observe = !asleep
                    && (observation == Observation::Now
                        || observation_due(record.value.observed_at, &view, now));
                let (images, (drift, inventory)) = match ttl {
                    TtlCheck::Expired { .. } => Default::default(),
                    _ => tokio::join!(self.image_findings(&spec, &view, tags, now), async {
                        if observe {
                            tokio::join!(
                                self.drift_findings(&spec, &view),
                                self.inventory_findings(&spec, &view)
                            )
                        } else {
                            Default::default()
                        }
                    }),
                };
                observed = drift.checked;
                let recorded = view.status.as_ref().map(|s| &s.value);
                let images_changed =
                    images.checked && recorded.is_some_and(|r| images.updates != r.image_updates);
                let drift_changed =
                    drift.checked && recorded.is_some_and(|r| drift.drifted != r.drift);
                let inventory_changed = inventory.taken.as_ref().is_some_and(|(items, omitted)| {
                    recorded
                        .is_some_and(|r| &r.inventory != items || r.inventory_omitted != *omitted)
                });
                let changed = images_changed || drift_changed || inventory_changed;
                let quiet = matches!(ttl, TtlCheck::Quiet { .. }) && !changed;
                if !quiet {
                    let mut claim = record.value.clone();
                    claim.due_at = now + CLAIM_SECONDS;
                    claim.claimed_by = Some(run.to_owned());
                    record = match self
                        .store()
                        .put_sync(name, &claim, Some(record.version))
                        .await
                    {
                        Ok(version) => Versioned {
                            value: claim,
                            version,
                        },
                        Err(StoreError::StaleVersion { .. }) => return Ok(Outcome::Contended),
                        Err(e) => return Err(e.into()),
                    };
                }
                match self.act(name, ttl, run, now).await? {
                    Outcome::Synced {
                        expires_at, warned, ..
                    } => {
                        let started = if changed {
                            let findings = Findings {
                                images: &images,
                                drift: &drift,
                                inventory: &inventory,
                            };
                            self.act_on_findings(name, &spec, &view, findings, run, now)
                                .await?
                        } else {
                            Ok(Started::default())
                        };
                        let started = match started {
                            Ok(started) => started,
                            // An operation took the lease since the view: skip, found again next.
                            Err(holder) => break 'found Outcome::Skipped { holder },
                        };
                        let mut unreadable = images.unreadable;
                        unreadable.extend(drift.unreadable);
                        unreadable.extend(inventory.unreadable);
                        Outcome::Synced {
                            expires_at,
                            warned,
                            updates: images.updates,
                            rollout: started.rollout,
                            drift: drift.drifted,
                            repair: started.repair,
                            resources: inventory
                                .taken
                                .map(|(items, omitted)| items.len() + omitted),
                            unreadable,
                        }
                    }
                    expired => expired,
                }
            }
        };

        let mut next = record.value;
        next.claimed_by = None;
        next.due_at = match &outcome {
            // Picked up by the next run, not a whole interval later (nor again by this one,
            // which reads what is due up to `now`).
            Outcome::Skipped { .. } => now + 1,
            _ => now + every(&spec),
        };
        if let Outcome::Synced {
            warned: Some(lead), ..
        } = outcome
        {
            next.warned_lead = Some(lead);
        }
        if !matches!(outcome, Outcome::Skipped { .. }) {
            next.last_synced_at = Some(now);
        }
        if observed {
            next.observed_at = Some(now);
        }
        match self
            .store()
            .put_sync(name, &next, Some(record.version))
            .await
        {
            Ok(_) => {}
            Err(StoreError::StaleVersion { .. }) => return Ok(Outcome::Contended),
            Err(e) => return Err(e.into()),
        }

        // After the reschedule: only the run that won writes what it found. A crash between
        // the two loses this one event; `lastSyncedAt` on the schedule still says it ran.
        let event = Event {
            at: now,
            kind: "Synced".into(),
            message: describe(&outcome, now),
            actor: format!("sync/{run}"),
            execution: match &outcome {
                Outcome::Expired { execution } | Outcome::Scheduled { execution, .. } => {
                    Some(execution.clone())
                }
                Outcome::Synced {
                    repair: Some(execution),
                    ..
                }
                | Outcome::Synced {
                    rollout: Some(execution),
                    ..
                } => Some(execution.clone()),
                _ => None,
            },
        };
        self.store().append_event(name, &event).await?;
        Ok(outcome)
    }

    /// The services of a Ready environment whose repository has a newer tag within their
    /// constraint than the one the app step recorded serving.
    async fn image_findings(
        &self,
        spec: &StoredSpec,
        view: &SyncView,
        tags: &TagCache,
        now: u64,
    ) -> ImageFindings {
        let mut findings = ImageFindings::default();
        let (Some(app), Some(status)) = (&view.app, &view.status) else {
            return findings;
        };
        if status.value.state != EnvironmentState::Ready {
            return findings;
        }
        findings.checked = true;
        let recorded = &status.value.image_updates;
        for service in &spec.environment.spec.app.services {
            let Some(deployed) = app
                .outputs
                .get(&format!("service.{}.version", service.name))
            else {
                continue;
            };
            let listed = match tags.tags(&self.registries, &service.image).await {
                Ok(listed) => listed,
                Err(e) => {
                    // What was found before stands until the repository can be read again.
                    findings.updates.extend(
                        recorded
                            .iter()
                            .filter(|u| u.service == service.name)
                            .cloned(),
                    );
                    findings.unreadable.push(format!("{}: {e}", service.name));
                    continue;
                }
            };
            let Some(newest) =
                newest_satisfying(&service.version, listed.iter().map(String::as_str))
            else {
                continue;
            };
            if !is_newer(newest, deployed) {
                continue;
            }
            let known = recorded.iter().find(|u| {
                u.service == service.name && u.available == newest && u.deployed == *deployed
            });
            let update = ImageUpdate {
                service: service.name.clone(),
                deployed: deployed.clone(),
                available: newest.to_owned(),
                found_at: known.map_or(now, |u| u.found_at),
            };
            if known.is_none() {
                findings.fresh.push(update.clone());
            }
            findings.updates.push(update);
        }
        findings
    }

    /// Observes every component of a Ready environment's spec, at once, through its own
    /// function: the ones drifted or missing.
    async fn drift_findings(&self, spec: &StoredSpec, view: &SyncView) -> DriftFindings {
        let mut findings = DriftFindings::default();
        if view.state() != Some(EnvironmentState::Ready) {
            return findings;
        }
        findings.checked = true;
        let env = &spec.environment;
        let observed = futures_util::future::join_all(
            env.components()
                .into_iter()
                .map(|c| async move { (c, self.observer.observe(env.name(), c).await) }),
        )
        .await;
        let recorded = view.status.as_ref().map(|s| &s.value.drift);
        for (component, result) in observed {
            match result {
                Ok(found) if found.observed.is_drift() => findings.drifted.push(found),
                Ok(_) => {}
                Err(e) => {
                    // What was found before stands until the component can be observed again.
                    findings.drifted.extend(
                        recorded
                            .into_iter()
                            .flatten()
                            .filter(|d| d.component == component)
                            .cloned(),
                    );
                    findings
                        .unreadable
                        .push(format!("drift of {}: {e}", component.name()));
                }
            }
        }
        findings
    }

    /// The inventory of a Ready environment (taken with the drift check), bounded. It reads
    /// the whole status (the view holds no component but the app) for the resource ids
    /// Strata recorded.
    async fn inventory_findings(&self, spec: &StoredSpec, view: &SyncView) -> InventoryFindings {
        if view.status.is_none() || view.state() != Some(EnvironmentState::Ready) {
            return InventoryFindings::default();
        }
        let unreadable = |e: String| InventoryFindings {
            taken: None,
            unreadable: vec![format!("inventory: {e}")],
        };
        let status = match self.store().get_status(spec.environment.name()).await {
            Ok(Some(status)) => status.value,
            Ok(None) => return InventoryFindings::default(),
            Err(e) => return unreadable(e.to_string()),
        };
        match self.inventory.take(&spec.environment, &status).await {
            Ok(items) => InventoryFindings {
                taken: Some(bounded(items)),
                unreadable: Vec::new(),
            },
            Err(e) => unreadable(e),
        }
    }

    /// On a claimed environment whose findings changed: under `sync.drift: repair` starts
    /// `up` to restore the drift (which also deploys the newest images), else under
    /// `sync.images: deploy` the app-only `up` for fresh image updates; announces new drift
    /// and each fresh update on the bus; then records both in the status.
    async fn act_on_findings(
        &self,
        name: &str,
        spec: &StoredSpec,
        view: &SyncView,
        Findings {
            images,
            drift,
            inventory,
        }: Findings<'_>,
        run: &str,
        now: u64,
    ) -> Result<Result<Started, String>, SyncError> {
        let Some(status) = &view.status else {
            return Ok(Ok(Started::default()));
        };
        let sync = &spec.environment.spec.sync;
        let new_drift =
            drift.checked && !drift.drifted.is_empty() && drift.drifted != status.value.drift;
        let mut started = Started::default();
        if new_drift && sync.drift == DriftPolicy::Repair {
            // One per recorded state: a retried sync starts it once; drift that comes back
            // after the repair (the status has moved on) gets a new one.
            let launch = Launch {
                environment: name,
                trigger: Trigger::Repair {
                    generation: spec.generation,
                    status_version: status.version,
                },
                scope: Scope::All,
                recreate: Vec::new(),
                message: format!(
                    "repair: {}",
                    drift
                        .drifted
                        .iter()
                        .map(describe_drift)
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            };
            match self.start(&launch, run, now).await? {
                Ok(execution) => started.repair = Some(execution),
                Err(holder) => return Ok(Err(holder)),
            }
        }
        if !images.fresh.is_empty() && sync.images == ImagePolicy::Deploy {
            started.rollout = match &started.repair {
                // The repair's up deploys the newest versions too.
                Some(repair) => Some(repair.clone()),
                None => {
                    let launch = Launch {
                        environment: name,
                        trigger: Trigger::Rollout {
                            generation: spec.generation,
                            updates: &images.updates,
                        },
                        scope: Scope::Application,
                        recreate: Vec::new(),
                        message: format!(
                            "rollout of {}",
                            images
                                .updates
                                .iter()
                                .map(|u| format!("{} {}", u.service, u.available))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    match self.start(&launch, run, now).await? {
                        Ok(execution) => Some(execution),
                        Err(holder) => return Ok(Err(holder)),
                    }
                }
            };
        }
        if new_drift {
            let notice = Notice::Drifted(Drifted {
                environment: name.to_owned(),
                components: drift.drifted.clone(),
                repair: started.repair.clone(),
                at: now,
            });
            self.publish(&notice).await?;
        }
        for update in &images.fresh {
            let image = spec
                .environment
                .spec
                .app
                .services
                .iter()
                .find(|s| s.name == update.service)
                .map(|s| s.image.clone())
                .unwrap_or_default();
            let notice = Notice::UpdateAvailable(UpdateAvailable {
                environment: name.to_owned(),
                service: update.service.clone(),
                image,
                deployed: update.deployed.clone(),
                available: update.available.clone(),
                execution: started.rollout.clone(),
                at: now,
            });
            self.publish(&notice).await?;
        }
        let mut recorded: EnvironmentStatus = status.value.clone();
        if images.checked {
            recorded.image_updates = images.updates.clone();
        }
        if drift.checked {
            recorded.drift = drift.drifted.clone();
        }
        if let Some((items, omitted)) = &inventory.taken {
            recorded.inventory = items.clone();
            recorded.inventory_omitted = *omitted;
        }
        match self
            .store()
            .put_status(name, &recorded, Some(status.version))
            .await
        {
            Ok(_) => {}
            // An operation began meanwhile: the next sync records what it finds then.
            Err(StoreError::StaleVersion { .. }) => {
                tracing::info!(environment = %name, "status moved on; findings recorded next sync");
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Ok(started))
    }

    async fn publish(&self, notice: &Notice) -> Result<(), SyncError> {
        self.notifier
            .publish(notice)
            .await
            .map_err(SyncError::EventsUnavailable)
    }

    /// Starts an operation under the environment's lease: its execution, or (`Err`) the
    /// holder of a lease taken since the sync looked, which makes this sync a skip (due
    /// again at the next run, so nothing it would have started is lost).
    async fn start(
        &self,
        launch: &Launch<'_>,
        run: &str,
        now: u64,
    ) -> Result<Result<String, String>, SyncError> {
        match self
            .operations
            .start(launch, &format!("sync/{run}"), now)
            .await
        {
            Ok(started) => Ok(Ok(started.execution)),
            Err(StartError::Held { holder, .. }) => Ok(Err(holder)),
            Err(StartError::Store(e)) => Err(e.into()),
            Err(StartError::Flows(e)) => Err(SyncError::FlowsUnavailable(e.to_string())),
        }
    }

    /// Carries out a TTL action on a claimed environment: a warning on the bus, or
    /// `environment-down` under a name that is one per expiry (a retry starts nothing twice).
    async fn act(
        &self,
        name: &str,
        action: TtlCheck,
        run: &str,
        now: u64,
    ) -> Result<Outcome, SyncError> {
        let synced = |expires_at, warned| Outcome::Synced {
            expires_at,
            warned,
            updates: Vec::new(),
            rollout: None,
            drift: Vec::new(),
            repair: None,
            resources: None,
            unreadable: Vec::new(),
        };
        match action {
            TtlCheck::Quiet { expires_at } => Ok(synced(expires_at, None)),
            TtlCheck::Warn { expires_at, lead } => {
                let warning = TtlWarning {
                    environment: name.to_owned(),
                    expires_at,
                    lead_seconds: lead,
                    at: now,
                };
                self.publish(&Notice::TtlWarning(warning)).await?;
                Ok(synced(Some(expires_at), Some(lead)))
            }
            TtlCheck::Expired { expires_at } => {
                let launch = Launch {
                    environment: name,
                    trigger: Trigger::Expiry { expires_at },
                    scope: Scope::All,
                    recreate: Vec::new(),
                    message: format!("the TTL ran out at {expires_at}: delete"),
                };
                Ok(match self.start(&launch, run, now).await? {
                    Ok(execution) => Outcome::Expired { execution },
                    Err(holder) => Outcome::Skipped { holder },
                })
            }
        }
    }
}

/// What the TTL asks of a sync at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TtlCheck {
    /// Nothing to do (`expires_at` when there is a TTL).
    Quiet {
        expires_at: Option<u64>,
    },
    /// A lead time was reached whose warning has not been published for this expiry.
    Warn {
        expires_at: u64,
        lead: u64,
    },
    Expired {
        expires_at: u64,
    },
}

fn ttl_check(spec: &StoredSpec, record: &SyncRecord, now: u64) -> TtlCheck {
    let Some(expires_at) = expires_at(spec, record) else {
        return TtlCheck::Quiet { expires_at: None };
    };
    if now >= expires_at {
        return TtlCheck::Expired { expires_at };
    }
    let left = expires_at - now;
    // The shortest lead reached, unless it (or a shorter one) was already published.
    match TTL_WARNING_LEADS.iter().rev().find(|lead| left <= **lead) {
        Some(&lead) if record.warned_lead.is_none_or(|w| lead < w) => {
            TtlCheck::Warn { expires_at, lead }
        }
        _ => TtlCheck::Quiet {
            expires_at: Some(expires_at),
        },
    }
}

/// When the environment's TTL runs out: its creation plus `spec.ttl` plus every extension.
pub fn expires_at(spec: &StoredSpec, record: &SyncRecord) -> Option<u64> {
    let ttl = parse_duration(spec.environment.spec.ttl.as_deref()?)?;
    Some(record.created_at + ttl + record.ttl_extension)
}

fn every(spec: &StoredSpec) -> u64 {
    // Validated on apply; the default covers a spec stored before the rule existed.
    parse_duration(&spec.environment.spec.sync.every).unwrap_or(900)
}

fn describe(outcome: &Outcome, now: u64) -> String {
    match outcome {
        Outcome::Synced {
            expires_at,
            warned,
            updates,
            rollout,
            drift,
            repair,
            resources,
            unreadable,
        } => {
            let mut text = match (drift.is_empty() && updates.is_empty(), expires_at) {
                (true, None) => "in sync; no TTL".to_owned(),
                (false, None) => "no TTL".to_owned(),
                (in_sync, Some(at)) => format!(
                    "{}TTL expires at {at} (in {}m)",
                    if in_sync { "in sync; " } else { "" },
                    at.saturating_sub(now) / 60
                ),
            };
            if let Some(lead) = warned {
                text.push_str(&format!("; TTL warning ({}h lead) published", lead / 3600));
            }
            for update in updates {
                text.push_str(&format!(
                    "; {} {} available (serving {})",
                    update.service, update.available, update.deployed
                ));
            }
            if let Some(execution) = rollout {
                text.push_str(&format!("; rolling out ({execution})"));
            }
            for found in drift {
                text.push_str(&format!("; {}", describe_drift(found)));
            }
            if let Some(execution) = repair {
                text.push_str(&format!("; repairing ({execution})"));
            }
            if let Some(count) = resources {
                text.push_str(&format!("; {count} resources in the inventory"));
            }
            for failure in unreadable {
                text.push_str(&format!("; unreadable: {failure}"));
            }
            text
        }
        Outcome::Skipped { holder } => format!("skipped: {holder} holds the lease"),
        Outcome::Expired { execution } => {
            format!("TTL expired: environment-down started ({execution})")
        }
        Outcome::Scheduled { execution, asleep } => format!(
            "the sleep schedule: {} started ({execution})",
            if *asleep { "sleep" } else { "wake" }
        ),
        Outcome::Unscheduled | Outcome::Contended => String::new(),
    }
}

fn describe_drift(found: &ComponentDrift) -> String {
    let component = found.component.name();
    match &found.observed {
        Observed::Drifted { fields } => format!(
            "{component} drifted: {}",
            fields
                .iter()
                .map(|f| format!("{} is {} (spec: {})", f.path, f.observed, f.expected))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Observed::Missing { resources } => {
            format!("{component} missing: {}", resources.join(", "))
        }
        Observed::InSync | Observed::Unchecked { .. } => format!("{component} in sync"),
    }
}

/// The syncer as deployed, wired from the function's environment: the table, the state
/// machines, the bus, the registries, the component functions (`<COMPONENT>_FUNCTION`) and
/// the inventory's AWS clients.
pub type Deployed =
    Syncer<strata_store::DynamoStore, SfnFlows, EventBus, Registries, LambdaObserver, AwsInventory>;

pub fn deployed(config: &aws_config::SdkConfig) -> Result<Deployed, lambda_runtime::Error> {
    let store = strata_component::lambda::store(config)?;
    let flows = SfnFlows::from_env(aws_sdk_sfn::Client::new(config))?;
    let bus = std::env::var("EVENT_BUS_NAME").map_err(|_| "EVENT_BUS_NAME is not set")?;
    let events = EventBus::new(aws_sdk_eventbridge::Client::new(config), bus);
    let observer = LambdaObserver::from_env(aws_sdk_lambda::Client::new(config))?;
    Ok(Syncer::new(
        store,
        flows,
        events,
        Registries::new(config.clone()),
        observer,
        AwsInventory(config.clone()),
    )
    .with_poll_seconds_from_env())
}

/// Whether a sync reads the live resources (drift, inventory), which costs a Lambda Invoke
/// per component and the inventory's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// Only when [`observation_due`]: the schedule and ECR pushes.
    WhenDue,
    /// Always: a sync someone asked for.
    Now,
}

/// How often the schedule reads an unchanged environment's live resources.
pub const OBSERVE_EVERY: u64 = 3600;

/// A Ready environment's live resources are read again when never read, [`OBSERVE_EVERY`]
/// after the last time, after an operation wrote its status since, or while drift is
/// recorded (to see the repair hold).
pub fn observation_due(observed_at: Option<u64>, view: &SyncView, now: u64) -> bool {
    let Some(at) = observed_at else {
        return true;
    };
    now >= at + OBSERVE_EVERY
        || view
            .status
            .as_ref()
            .is_some_and(|s| s.value.updated_at > at || !s.value.drift.is_empty())
}

/// How long a scheduled run keeps taking environments: well inside the function's timeout.
pub const RUN_BUDGET: Duration = Duration::from_secs(240);

/// The function: a scheduled run or a push answers its [`RunReport`], a one-environment sync its
/// [`Outcome`]. `now` is the clock for a one-environment sync (a schedule brings its own).
pub async fn handle<S: Store, F: Flows, N: Notifier, R: TagSource, O: Observer, I: Inventory>(
    syncer: &Syncer<S, F, N, R, O, I>,
    input: Value,
    now: u64,
) -> Result<Value, SyncError> {
    let answer = match parse_request(input)? {
        Request::Scheduled { now, run } => {
            serde_json::to_value(syncer.run(now, &run, RUN_BUDGET).await?)
        }
        Request::Pushed { image, now, run } => {
            serde_json::to_value(syncer.pushed(&image, now, &run).await?)
        }
        Request::One(request) => {
            let run = request.run.unwrap_or_else(|| format!("now-{now}"));
            if let Some(by) = &request.requested_by {
                tracing::info!(environment = %request.environment, run, "sync requested by {by}");
            }
            serde_json::to_value(syncer.sync_now(&request.environment, now, &run).await?)
        }
    };
    Ok(answer.expect("reports serialise"))
}
