//! One environment's sync: what it finds due, the claim before any side effect (so of two
//! overlapping runs exactly one acts), the reschedule and the history event.

use strata_core::{EnvironmentState, Event};
use strata_store::{DueSync, Store, StoreError, StoredSpec, SyncView, Versioned};

use crate::act::{Findings, Started};
use crate::drift::describe_drift;
use crate::ttl::{TtlCheck, ttl_check};
use crate::{
    Flows, Inventory, Notifier, Observation, Observer, Outcome, SyncError, Syncer, TagCache,
    TagSource, observation_due,
};

/// How long a run's claim on an environment lasts; past it, another run may take it.
pub const CLAIM_SECONDS: u64 = 300;

/// One environment as a sync run has it in hand: its name, the spec and the view read, the
/// run (what it starts is named after it) and the time.
#[derive(Clone, Copy)]
pub(crate) struct Visit<'a> {
    pub(crate) name: &'a str,
    pub(crate) spec: &'a StoredSpec,
    pub(crate) view: &'a SyncView,
    pub(crate) run: &'a str,
    pub(crate) now: u64,
}

impl<S: Store, F: Flows, N: Notifier, R: TagSource, O: Observer, I: Inventory>
    Syncer<S, F, N, R, O, I>
{
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
        let visit = Visit {
            name,
            spec: &spec,
            view: &view,
            run,
            now,
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
                    && let Some(scheduled) = self.sleep_or_wake(visit).await?
                {
                    break 'found scheduled;
                }
                // Asleep, everything scaled to zero is as meant: no drift to look for.
                let asleep = status.is_some_and(|s| s.sleeping.is_some());
                let observe = !asleep
                    && (observation == Observation::Now
                        || observation_due(record.value.observed_at, &view, now));
                let (images, (drift, inventory)) = match ttl {
                    TtlCheck::Expired { .. } => Default::default(),
                    _ => tokio::join!(self.image_findings(visit, tags), async {
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
                            self.act_on_findings(visit, findings).await?
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
}

fn every(spec: &StoredSpec) -> u64 {
    spec.environment.spec.sync.every_seconds()
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
