//! Reading a Ready environment's live resources, when due: each component observed for
//! drift by its own function, and the inventory taken with it.

use strata_core::drift::{ComponentDrift, Observed};
use strata_core::{EnvironmentState, InventoryItem};
use strata_store::{Store, StoredSpec, SyncView};

use crate::{Flows, Inventory, Notifier, Observer, Syncer, TagSource, bounded};

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

/// The components found drifted or missing.
#[derive(Debug, Default)]
pub(crate) struct DriftFindings {
    /// False when nothing was observed (not Ready): what is recorded stays as it is.
    pub(crate) checked: bool,
    pub(crate) drifted: Vec<ComponentDrift>,
    /// Components that could not be observed (`drift of <component>: error`).
    pub(crate) unreadable: Vec<String>,
}

/// The inventory a sync took.
#[derive(Debug, Default)]
pub(crate) struct InventoryFindings {
    /// The resources (bounded) and how many were left out; `None` when not taken (not
    /// Ready) or unreadable: what is recorded stays as it is.
    pub(crate) taken: Option<(Vec<InventoryItem>, usize)>,
    pub(crate) unreadable: Vec<String>,
}

impl<S: Store, F: Flows, N: Notifier, R: TagSource, O: Observer, I: Inventory>
    Syncer<S, F, N, R, O, I>
{
    /// Observes every component of a Ready environment's spec, at once, through its own
    /// function: the ones drifted or missing.
    pub(crate) async fn drift_findings(&self, spec: &StoredSpec, view: &SyncView) -> DriftFindings {
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
    pub(crate) async fn inventory_findings(
        &self,
        spec: &StoredSpec,
        view: &SyncView,
    ) -> InventoryFindings {
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
}

pub(crate) fn describe_drift(found: &ComponentDrift) -> String {
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
