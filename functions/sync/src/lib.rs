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
//! Per environment, today: an environment whose lease is held is skipped (due again at the
//! next run); TTL warnings are put on the bus a day and an hour before expiry; an expired
//! environment is destroyed through the normal `environment-down` flow (with its data
//! safety); the schedule of a deleted environment is removed. Every sync appends one history
//! event saying what it found. Drift, image versions and inventory are not checked yet.

use std::time::{Duration, Instant};

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use futures_util::{StreamExt, stream};
use serde::Serialize;
use serde_json::Value;
use strata_core::events::{Notice, TtlWarning};
use strata_core::{EnvironmentState, Event, OperationKind, check_environment_name, parse_duration};
use strata_store::{DueSync, Store, StoreError, StoredSpec, SyncRecord, Versioned};

pub use strata_control::{EventBus, Flows, MemoryFlows, MemoryNotifier, Notifier, SfnFlows};

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
    /// Checked; `expires_at` when it has a TTL, `warned` when a TTL warning went out now.
    Synced {
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_at: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        warned: Option<u64>,
    },
    /// An operation holds the lease; due again at the next run.
    Skipped { holder: String },
    /// The TTL ran out: `environment-down` was started.
    Expired { execution: String },
    /// Deleted (or its spec is gone): its schedule was removed.
    Unscheduled,
    /// Another run claimed it first.
    Contended,
}

/// One run over everything due.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub due: usize,
    pub synced: usize,
    pub skipped: usize,
    pub expired: usize,
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
            Ok(Outcome::Unscheduled) => self.unscheduled += 1,
            Ok(Outcome::Contended) => self.contended += 1,
            Err(e) => self.failed.push(format!("{name}: {}: {e}", e.name())),
        }
    }
}

/// What the function was started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The schedule fired: sync everything due at `now`.
    Scheduled { now: u64, run: String },
    /// Sync one environment now, due or not.
    One { environment: String },
}

/// Reads the function's input: an EventBridge scheduled event (its `time` is the clock of
/// the run) or `{"environment": "<name>"}`.
pub fn parse_request(input: Value) -> Result<Request, SyncError> {
    if input.get("detail-type").is_some() {
        let event: CloudWatchEvent = serde_json::from_value(input)
            .map_err(|e| SyncError::InvalidInput(format!("scheduled event: {e}")))?;
        if event.detail_type.as_deref() != Some("Scheduled Event") {
            return Err(SyncError::InvalidInput(format!(
                "detail-type: expected \"Scheduled Event\", got {:?}",
                event.detail_type
            )));
        }
        let time = event.time;
        let now = u64::try_from(time.timestamp())
            .map_err(|_| SyncError::InvalidInput(format!("time: {time} is before 1970")))?;
        let run = event.id.unwrap_or_else(|| format!("sync-{now}"));
        return Ok(Request::Scheduled { now, run });
    }
    let object = input.as_object().ok_or_else(|| {
        SyncError::InvalidInput("input: expected a scheduled event or {\"environment\": …}".into())
    })?;
    if let Some(unknown) = object.keys().find(|k| *k != "environment") {
        return Err(SyncError::InvalidInput(format!("{unknown}: unknown field")));
    }
    let environment = object
        .get("environment")
        .and_then(Value::as_str)
        .ok_or_else(|| SyncError::InvalidInput("environment: expected a name".into()))?;
    check_environment_name(environment)
        .map_err(|e| SyncError::InvalidInput(format!("environment: {e}")))?;
    Ok(Request::One {
        environment: environment.to_owned(),
    })
}

/// The sync logic over the store, the state machines and the bus.
pub struct Syncer<S, F, N> {
    store: S,
    flows: F,
    notifier: N,
}

impl<S: Store, F: Flows, N: Notifier> Syncer<S, F, N> {
    pub fn new(store: S, flows: F, notifier: N) -> Self {
        Self {
            store,
            flows,
            notifier,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn flows(&self) -> &F {
        &self.flows
    }

    pub fn notifier(&self) -> &N {
        &self.notifier
    }

    /// Syncs everything due at `now`, `CONCURRENCY` at a time, until nothing is due or
    /// `budget` has passed (what is left stays due for the next run).
    pub async fn run(&self, now: u64, run: &str, budget: Duration) -> Result<RunReport, SyncError> {
        let started = Instant::now();
        let mut report = RunReport::default();
        let mut cursor: Option<String> = None;
        loop {
            if started.elapsed() >= budget {
                report.truncated = true;
                break;
            }
            let page = self.store.due(now, PAGE, cursor.as_deref()).await?;
            report.due += page.items.len();
            let results: Vec<(String, Result<Outcome, SyncError>)> = stream::iter(page.items)
                .map(|due| async move {
                    let name = due.environment.clone();
                    (name, self.sync_due(due, now, run).await)
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for (name, result) in results {
                if let Err(e) = &result {
                    tracing::warn!(environment = %name, error = %e, "sync failed; retried when its claim lapses");
                }
                report.count(&name, result);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(report)
    }

    /// Syncs one environment now, whether or not it is due (the API's "sync now").
    pub async fn sync_now(&self, name: &str, now: u64, run: &str) -> Result<Outcome, SyncError> {
        let record = match self.store.get_sync(name).await? {
            Some(record) => record,
            None => {
                // Stored before schedules existed, or its schedule write was lost: make it.
                let spec = self
                    .store
                    .get_spec(name)
                    .await?
                    .ok_or_else(|| SyncError::EnvironmentNotFound(name.to_owned()))?;
                let record = SyncRecord::new(spec.updated_at, now);
                let version = self.store.put_sync(name, &record, None).await?;
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
        )
        .await
    }

    /// Syncs one environment found due (`due` as read), or answers `Contended` when another
    /// run got to it first. An unchanged environment costs three calls: the view, the
    /// reschedule (conditional on the version found due: of two overlapping runs exactly one
    /// wins) and the history event. Before a side effect (a TTL warning, a destroy) the
    /// environment is claimed first, so the loser of two runs does nothing.
    pub async fn sync_due(&self, due: DueSync, now: u64, run: &str) -> Result<Outcome, SyncError> {
        let name = due.environment.as_str();
        let view = self.store.sync_view(name, now).await?;
        let spec = match view.spec {
            Some(spec) if view.state != Some(EnvironmentState::Deleted) => spec,
            // Deleted, or its spec is gone: nothing left to keep in sync.
            _ => {
                self.store.delete_sync(name).await?;
                return Ok(Outcome::Unscheduled);
            }
        };

        let mut record = due.record;
        let outcome = match (view.lease, ttl_check(&spec, &record.value, now)) {
            (Some(lease), _) => Outcome::Skipped {
                holder: lease.holder,
            },
            (None, TtlCheck::Quiet { expires_at }) => Outcome::Synced {
                expires_at,
                warned: None,
            },
            (None, action) => {
                let mut claim = record.value.clone();
                claim.due_at = now + CLAIM_SECONDS;
                claim.claimed_by = Some(run.to_owned());
                record = match self
                    .store
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
                self.act(name, action, now).await?
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
        match self.store.put_sync(name, &next, Some(record.version)).await {
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
                Outcome::Expired { execution } => Some(execution.clone()),
                _ => None,
            },
        };
        self.store.append_event(name, &event).await?;
        Ok(outcome)
    }

    /// Carries out a TTL action on a claimed environment: a warning on the bus, or
    /// `environment-down` under a name that is one per expiry (a retry starts nothing twice).
    async fn act(&self, name: &str, action: TtlCheck, now: u64) -> Result<Outcome, SyncError> {
        match action {
            TtlCheck::Quiet { expires_at } => Ok(Outcome::Synced {
                expires_at,
                warned: None,
            }),
            TtlCheck::Warn { expires_at, lead } => {
                let warning = TtlWarning {
                    environment: name.to_owned(),
                    expires_at,
                    lead_seconds: lead,
                    at: now,
                };
                self.notifier
                    .publish(&Notice::TtlWarning(warning))
                    .await
                    .map_err(SyncError::EventsUnavailable)?;
                Ok(Outcome::Synced {
                    expires_at: Some(expires_at),
                    warned: Some(lead),
                })
            }
            TtlCheck::Expired { expires_at } => {
                let execution = format!("ttl-{name}-{expires_at}");
                let input = serde_json::json!({ "environment": name }).to_string();
                self.flows
                    .start(OperationKind::Down, &execution, &input)
                    .await
                    .map_err(|e| SyncError::FlowsUnavailable(e.to_string()))?;
                Ok(Outcome::Expired { execution })
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
            expires_at: None, ..
        } => "in sync; no TTL".into(),
        Outcome::Synced {
            expires_at: Some(at),
            warned,
        } => {
            let left = at.saturating_sub(now);
            let warning = match warned {
                Some(lead) => format!("; TTL warning ({}h lead) published", lead / 3600),
                None => String::new(),
            };
            format!("in sync; TTL expires at {at} (in {}m){warning}", left / 60)
        }
        Outcome::Skipped { holder } => format!("skipped: {holder} holds the lease"),
        Outcome::Expired { execution } => {
            format!("TTL expired: environment-down started ({execution})")
        }
        Outcome::Unscheduled | Outcome::Contended => String::new(),
    }
}

/// How long a scheduled run keeps taking environments: well inside the function's timeout.
pub const RUN_BUDGET: Duration = Duration::from_secs(240);

/// The function: a scheduled run answers its [`RunReport`], a one-environment sync its
/// [`Outcome`]. `now` is the clock for a one-environment sync (a schedule brings its own).
pub async fn handle<S: Store, F: Flows, N: Notifier>(
    syncer: &Syncer<S, F, N>,
    input: Value,
    now: u64,
) -> Result<Value, SyncError> {
    let answer = match parse_request(input)? {
        Request::Scheduled { now, run } => {
            serde_json::to_value(syncer.run(now, &run, RUN_BUDGET).await?)
        }
        Request::One { environment } => {
            let run = format!("now-{now}");
            serde_json::to_value(syncer.sync_now(&environment, now, &run).await?)
        }
    };
    Ok(answer.expect("reports serialise"))
}
