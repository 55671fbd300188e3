//! A run's reach and budget: everything due, `CONCURRENCY` at a time until its time is up;
//! the environments an ECR push concerns; one environment now; and what a run reports.

use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use serde::Serialize;
use strata_core::Event;
use strata_store::{DueSync, Store, SyncRecord, Versioned};

use crate::{
    Flows, Inventory, Notifier, Observation, Observer, Outcome, SyncError, Syncer, TagCache,
    TagSource,
};

/// Environments synced at once by one run.
pub const CONCURRENCY: usize = 16;
/// Due environments read per query.
const PAGE: u32 = 100;

/// How long a scheduled run keeps taking environments: well inside the function's timeout.
pub const RUN_BUDGET: Duration = Duration::from_secs(240);

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

impl<S: Store, F: Flows, N: Notifier, R: TagSource, O: Observer, I: Inventory>
    Syncer<S, F, N, R, O, I>
{
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
}
