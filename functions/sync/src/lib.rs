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

use serde::Serialize;
use strata_control::Operations;
use strata_core::ImageUpdate;
use strata_core::drift::ComponentDrift;
use strata_store::{Store, StoreError};

mod act;
mod drift;
mod due;
mod images;
mod inventory;
#[cfg(any(test, feature = "testing"))]
mod memory;
mod observe;
mod request;
mod run;
mod sleep;
mod ttl;

pub use drift::{OBSERVE_EVERY, Observation, observation_due};
pub use due::CLAIM_SECONDS;
pub use images::TagCache;
pub use inventory::{AwsInventory, Inventory, bounded, parse_arn};
#[cfg(any(test, feature = "testing"))]
pub use memory::{MemoryInventory, MemoryObserver};
pub use observe::{LambdaObserver, Observer};
pub use request::{Request, handle, parse_request};
pub use run::{CONCURRENCY, RUN_BUDGET, RunReport};
pub use strata_control::SyncRequest;
pub use strata_control::{Flows, SfnFlows};
pub use strata_notify::{EventBus, Notifier};
pub use strata_registry::{Registries, RegistryError, TagSource};
pub use ttl::{TTL_WARNING_LEADS, expires_at};

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
    pub const NAMES: &[&str] = strata_runtime::errors::sync::NAMES;

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

/// A failed SDK call as the inventory and the observer report it: the call (with what it was
/// for), then the error with its causes. (Every SDK crate re-exports the one
/// `DisplayErrorContext`.)
pub(crate) fn sdk_failure(call: &str, error: impl std::error::Error) -> String {
    format!("{call}: {}", aws_sdk_ec2::error::DisplayErrorContext(error))
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
