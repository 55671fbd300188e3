//! The state change an operation's begin and finish put on the event bus.

use strata_core::events::{Notice, StateChange};
use strata_core::{EnvironmentState, OperationContext};
use strata_notify::Notifier;

use crate::LifecycleError;

pub(crate) async fn publish<N: Notifier>(
    notifier: &N,
    context: &OperationContext,
    state: EnvironmentState,
    message: &str,
    now: u64,
) -> Result<(), LifecycleError> {
    let change = StateChange {
        environment: context.environment.clone(),
        state,
        operation: context.operation,
        execution: context.execution.clone(),
        generation: context.generation,
        message: message.to_owned(),
        at: now,
    };
    notifier
        .publish(&Notice::StateChange(change))
        .await
        .map_err(LifecycleError::EventsUnavailable)
}
