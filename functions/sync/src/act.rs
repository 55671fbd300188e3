//! What a claimed environment's sync sets going: operations started under its lease (a
//! drift repair, an image rollout), notices on the bus, and its findings recorded.

use strata_control::{Launch, StartError, Trigger};
use strata_core::events::{Drifted, Notice, UpdateAvailable};
use strata_core::spec::{DriftPolicy, ImagePolicy};
use strata_core::{EnvironmentStatus, Scope};
use strata_store::{Store, StoreError};

use crate::drift::{DriftFindings, InventoryFindings, describe_drift};
use crate::due::Visit;
use crate::images::ImageFindings;
use crate::{Flows, Inventory, Notifier, Observer, SyncError, Syncer, TagSource};

/// Everything a sync found, acted on together after the claim.
pub(crate) struct Findings<'a> {
    pub(crate) images: &'a ImageFindings,
    pub(crate) drift: &'a DriftFindings,
    pub(crate) inventory: &'a InventoryFindings,
}

/// What acting on the findings started.
#[derive(Debug, Default)]
pub(crate) struct Started {
    pub(crate) rollout: Option<String>,
    pub(crate) repair: Option<String>,
}

impl<S: Store, F: Flows, N: Notifier, R: TagSource, O: Observer, I: Inventory>
    Syncer<S, F, N, R, O, I>
{
    /// On a claimed environment whose findings changed: under `sync.drift: repair` starts
    /// `up` to restore the drift (which also deploys the newest images), else under
    /// `sync.images: deploy` the app-only `up` for fresh image updates; announces new drift
    /// and each fresh update on the bus; then records both in the status.
    pub(crate) async fn act_on_findings(
        &self,
        visit: Visit<'_>,
        Findings {
            images,
            drift,
            inventory,
        }: Findings<'_>,
    ) -> Result<Result<Started, String>, SyncError> {
        let Visit {
            name,
            spec,
            view,
            run,
            now,
        } = visit;
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

    pub(crate) async fn publish(&self, notice: &Notice) -> Result<(), SyncError> {
        self.notifier
            .publish(notice)
            .await
            .map_err(SyncError::EventsUnavailable)
    }

    /// Starts an operation under the environment's lease: its execution, or (`Err`) the
    /// holder of a lease taken since the sync looked, which makes this sync a skip (due
    /// again at the next run, so nothing it would have started is lost).
    pub(crate) async fn start(
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
}
