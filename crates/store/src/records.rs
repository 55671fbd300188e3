//! The records the store reads and writes: specs, leases, sync schedules, pages and the
//! combined views, each with the version it was read at where writes are conditional.

use std::future::Future;

use serde::{Deserialize, Serialize};
use strata_core::{ComponentStatus, Environment, EnvironmentState, EnvironmentStatus};

/// A value with the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredSpec {
    pub environment: Environment,
    /// Goes up by one each time the spec's content changes.
    pub generation: u64,
    pub version: u64,
    pub updated_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSummary {
    pub name: String,
    pub generation: u64,
    pub updated_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub environment: String,
    pub holder: String,
    pub expires_at: u64,
}

/// One page of a listing; `next` is an opaque cursor for the following page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// What putting `environment` over `previous` amounts to.
pub(crate) enum SpecPut<'a> {
    /// The content is the same: nothing is written, the stored spec stands.
    Unchanged(&'a StoredSpec),
    /// The content differs (or is new): written with this generation.
    Generation(u64),
}

pub(crate) fn spec_put<'a>(
    previous: Option<&'a StoredSpec>,
    environment: &Environment,
) -> SpecPut<'a> {
    match previous {
        Some(p) if p.environment == *environment => SpecPut::Unchanged(p),
        _ => SpecPut::Generation(
            environment.next_generation(previous.map(|p| (&p.environment, p.generation))),
        ),
    }
}

/// The version a write over `expected` gives an item: 1 for a new one.
pub(crate) fn next_version(expected: Option<u64>) -> u64 {
    expected.map_or(1, |v| v + 1)
}

/// Every backend's `put_spec`: `environment` over `previous`, written by `write` (given the
/// spec as stored, with the version its write gives it; it answers that version) unless the
/// content is unchanged, when nothing is written and the stored spec stands.
pub(crate) async fn store_spec<F>(
    environment: &Environment,
    previous: Option<&StoredSpec>,
    now: u64,
    write: impl FnOnce(&StoredSpec) -> F,
) -> crate::Result<StoredSpec>
where
    F: Future<Output = crate::Result<u64>>,
{
    let generation = match spec_put(previous, environment) {
        SpecPut::Unchanged(stored) => return Ok(stored.clone()),
        SpecPut::Generation(generation) => generation,
    };
    let stored = StoredSpec {
        environment: environment.clone(),
        generation,
        version: next_version(previous.map(|p| p.version)),
        updated_at: now,
    };
    write(&stored).await?;
    Ok(stored)
}

/// An environment's sync schedule. Written when its spec is first stored, claimed by the sync
/// run that processes it, and removed once the environment is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRecord {
    /// When the environment was created (the first spec stored): its TTL counts from here.
    pub created_at: u64,
    /// When the next sync is due; while a run holds a claim, when that claim lapses.
    pub due_at: u64,
    /// Seconds added to the TTL through the API.
    #[serde(default)]
    pub ttl_extension: u64,
    /// The shortest TTL warning lead (seconds) already published for the current expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warned_lead: Option<u64>,
    /// The sync run that claimed it (until `due_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<u64>,
    /// When drift and the inventory were last read from the live resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<u64>,
}

impl SyncRecord {
    pub fn new(created_at: u64, due_at: u64) -> Self {
        Self {
            created_at,
            due_at,
            ttl_extension: 0,
            warned_lead: None,
            claimed_by: None,
            last_synced_at: None,
            observed_at: None,
        }
    }
}

/// One environment due for a sync, with the record's version (to claim it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSync {
    pub environment: String,
    pub record: Versioned<SyncRecord>,
}

/// What a sync reads of one environment, in one call: its spec, its status (without the
/// components), the app's component status (the versions serving) and the lease held now.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncView {
    pub spec: Option<StoredSpec>,
    pub status: Option<Versioned<EnvironmentStatus>>,
    pub app: Option<ComponentStatus>,
    pub lease: Option<Lease>,
}

impl SyncView {
    pub fn state(&self) -> Option<EnvironmentState> {
        self.status.as_ref().map(|s| s.value.state)
    }
}

/// An environment's spec, status and lease, read together, and whether it has its sync
/// schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentRead {
    pub spec: Option<StoredSpec>,
    pub status: Option<Versioned<EnvironmentStatus>>,
    pub lease: Option<Lease>,
    /// Its `SYNC` item exists (made at its first apply).
    pub scheduled: bool,
}

/// What an apply writes beside its spec, in the same request where the backend can: the
/// sync schedule of an environment that has none yet, and the image index's changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpecWrites {
    /// The schedule to make, unless one exists by then (a concurrent maker wins).
    pub schedule: Option<SyncRecord>,
    /// Images to point the index at this environment for.
    pub index: Vec<String>,
    /// Images to point the index away from.
    pub unindex: Vec<String>,
}
