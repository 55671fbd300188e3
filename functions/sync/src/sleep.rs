//! The sleep schedule: a sync that finds a sleep or a wake due starts it under the lease.

use strata_control::{Launch, Trigger};
use strata_core::Scope;
use strata_store::Store;

use crate::due::Visit;
use crate::{Flows, Inventory, Notifier, Observer, Outcome, SyncError, Syncer, TagSource};

impl<S: Store, F: Flows, N: Notifier, R: TagSource, O: Observer, I: Inventory>
    Syncer<S, F, N, R, O, I>
{
    /// The sleep or wake the schedule has due (`Scheduled`, or `Skipped` when an operation
    /// took the lease since the view); `None` when neither is due.
    pub(crate) async fn sleep_or_wake(
        &self,
        visit: Visit<'_>,
    ) -> Result<Option<Outcome>, SyncError> {
        let status = visit.view.status.as_ref();
        let env = &visit.spec.environment;
        let Some(asleep) = status.and_then(|s| strata_core::sleep::due(env, &s.value, visit.now))
        else {
            return Ok(None);
        };
        let generation = visit.spec.generation;
        let status_version = status.map_or(0, |s| s.version);
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
            environment: visit.name,
            trigger,
            scope: Scope::All,
            recreate: Vec::new(),
            message: format!("the sleep schedule: {word}"),
        };
        let outcome = match self.start(&launch, visit.run, visit.now).await? {
            Ok(execution) => Outcome::Scheduled { execution, asleep },
            Err(holder) => Outcome::Skipped { holder },
        };
        Ok(Some(outcome))
    }
}
