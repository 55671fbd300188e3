//! The sleep schedule: a sync that finds a sleep or a wake due starts it under the lease.

use strata_control::{Launch, Trigger};
use strata_core::Scope;
use strata_store::{Store, StoredSpec, SyncView};

use crate::{Flows, Inventory, Notifier, Observer, Outcome, SyncError, Syncer, TagSource};

impl<S: Store, F: Flows, N: Notifier, R: TagSource, O: Observer, I: Inventory>
    Syncer<S, F, N, R, O, I>
{
    /// The sleep or wake the schedule has due (`Scheduled`, or `Skipped` when an operation
    /// took the lease since the view); `None` when neither is due.
    pub(crate) async fn sleep_or_wake(
        &self,
        name: &str,
        spec: &StoredSpec,
        view: &SyncView,
        run: &str,
        now: u64,
    ) -> Result<Option<Outcome>, SyncError> {
        let status = view.status.as_ref().map(|s| &s.value);
        let Some(asleep) = status.and_then(|s| strata_core::sleep::due(&spec.environment, s, now))
        else {
            return Ok(None);
        };
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
        Ok(Some(match self.start(&launch, run, now).await? {
            Ok(execution) => Outcome::Scheduled { execution, asleep },
            Err(holder) => Outcome::Skipped { holder },
        }))
    }
}
