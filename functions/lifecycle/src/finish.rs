//! How an operation ends: the outcome recorded from what the components converged to,
//! the lease given back, the end published.

use serde::Deserialize;
use serde_json::Value;

use strata_core::status::{ComponentPhase, CredentialRef, Sleeping};
use strata_core::{
    Component, EnvironmentState, EnvironmentStatus, Event, OperationContext, OperationKind,
};
use strata_notify::Notifier;
use strata_store::{Store, StoreError};

use crate::LifecycleError;
use crate::publish::publish;

/// What a state machine's `Catch` puts at its `ResultPath`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

impl CaughtError {
    /// A Lambda error's cause is its JSON error object; keep only the message.
    fn message(&self) -> String {
        serde_json::from_str::<Value>(&self.cause)
            .ok()
            .and_then(|v| v["errorMessage"].as_str().map(str::to_owned))
            .unwrap_or_else(|| self.cause.clone())
    }
}

/// Gives the operation's lease back; a lease already given back (or taken over) is fine.
pub async fn release<S: Store>(
    store: &S,
    context: &OperationContext,
) -> Result<(), LifecycleError> {
    match store
        .release(&context.environment, &context.execution)
        .await
    {
        Ok(()) | Err(StoreError::NotLockHolder { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The components that have not reached the phase the operation needs, at its generation
/// (those outside the operation's scope: Ready at any generation).
pub fn unconverged(
    status: &EnvironmentStatus,
    context: &OperationContext,
    expected: &[Component],
) -> Vec<Component> {
    let (operation, generation) = (context.operation, context.generation);
    expected
        .iter()
        .copied()
        .filter(|c| match (operation, status.components.get(c)) {
            (OperationKind::Up, None) => true,
            (OperationKind::Up, Some(cs)) => {
                cs.phase != ComponentPhase::Ready
                    || (context.scope.includes(*c) && cs.observed_generation < generation)
            }
            // A component that was never created is as gone as a deleted one.
            (OperationKind::Down, None) => false,
            (OperationKind::Down, Some(cs)) => !matches!(
                cs.phase,
                ComponentPhase::Deleted | ComponentPhase::Retained | ComponentPhase::Pending
            ),
        })
        .collect()
}

/// Records how the operation ended and releases the lock. An operation that reports no
/// error still ends Failed unless every component of the spec converged: Ready is earned
/// by the component handlers' recorded results, never assumed.
/// The credential references the components report (ARNs only), e.g. the database's
/// RDS-managed master secret; recomputed at every finish, so a deleted database drops its.
fn credentials(status: &EnvironmentStatus) -> Vec<CredentialRef> {
    status
        .components
        .get(&Component::Database)
        .and_then(|db| db.outputs.get("masterUserSecretArn"))
        .and_then(|arn| CredentialRef::new("database-master", arn.clone()).ok())
        .into_iter()
        .collect()
}

/// Why this up's post-deploy step failed, and whether that fails the up (`required`).
fn post_deploy_failure(
    context: &OperationContext,
    env: &strata_core::Environment,
) -> Option<(String, bool)> {
    let outcome = context.post_deployed.as_ref().filter(|o| !o.succeeded)?;
    let required = env.spec.post_deploy.as_ref().is_some_and(|p| p.required);
    Some((
        format!(
            "post-deploy {} failed: {}",
            outcome.function_arn,
            outcome.error.as_deref().unwrap_or("no reason given")
        ),
        required,
    ))
}

/// Where the environment answers: its DNS name, then the app's load balancer.
fn ingress_urls(status: &EnvironmentStatus) -> Vec<String> {
    [(Component::Dns, "url"), (Component::App, "ingressUrl")]
        .into_iter()
        .filter_map(|(c, key)| status.components.get(&c)?.outputs.get(key).cloned())
        .collect()
}

pub async fn finish<S: Store, N: Notifier>(
    store: &S,
    notifier: &N,
    context: &OperationContext,
    error: Option<&CaughtError>,
    now: u64,
) -> Result<EnvironmentStatus, LifecycleError> {
    let name = &context.environment;
    let current = store
        .get_status(name)
        .await?
        .ok_or_else(|| LifecycleError::EnvironmentNotFound(name.clone()))?;
    let (mut status, version) = (current.value, current.version);
    let ours = status.operation.as_ref().map(|o| o.execution.as_str()) == Some(&context.execution);
    let finished = !matches!(
        status.state,
        EnvironmentState::Progressing | EnvironmentState::Deleting
    );
    if !(ours && finished) {
        if !ours {
            return Err(StoreError::NotLockHolder {
                environment: name.clone(),
                caller: context.execution.clone(),
                holder: status.operation.map(|o| o.execution),
            }
            .into());
        }
        let spec = store
            .get_spec(name)
            .await?
            .ok_or_else(|| LifecycleError::EnvironmentNotFound(name.clone()))?;
        let expected: Vec<Component> = spec.environment.components();
        let missing = unconverged(&status, context, &expected);
        let (state, message) = match (error, missing.is_empty()) {
            (Some(e), _) => (
                EnvironmentState::Failed,
                format!(
                    "{} failed: {}: {}",
                    context.operation.name(),
                    e.error,
                    e.message()
                ),
            ),
            (None, false) => (
                EnvironmentState::Failed,
                format!(
                    "{} ended with components not converged: {}",
                    context.operation.name(),
                    missing
                        .iter()
                        .map(|c| c.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            (None, true) => match post_deploy_failure(context, &spec.environment) {
                Some((why, true)) => (
                    EnvironmentState::Failed,
                    format!("{} failed: {why}", context.operation.name()),
                ),
                warning => (
                    context.operation.done_state(),
                    format!(
                        "{} of generation {} done{}{}",
                        context.operation.name(),
                        context.generation,
                        if context.asleep { ", asleep" } else { "" },
                        warning.map_or(String::new(), |(why, _)| format!("; warning: {why}"))
                    ),
                ),
            },
        };
        if error.is_none() && missing.is_empty() {
            // What this up's post-deploy step answered, or why it failed; an up without
            // one leaves nothing of an earlier one's.
            let outcome = context.post_deployed.as_ref();
            status.post_deploy_output = outcome.and_then(|o| o.output.clone());
            status.post_deploy_warning = outcome.and_then(|o| o.error.clone());
        }
        if state == EnvironmentState::Ready {
            status.observed_generation = context.generation;
            // The sleeping condition follows what this up converged to.
            status.sleeping = context.asleep.then(|| Sleeping {
                since: status.sleeping.map_or(now, |s| s.since),
                asserted_at: now,
            });
        }
        if state == EnvironmentState::Deleted {
            status.sleeping = None;
        }
        status.state = state;
        status.message = message;
        status.updated_at = now;
        status.credentials = credentials(&status);
        status.ingress_urls = ingress_urls(&status);
        status.components.clear();
        store.put_status(name, &status, Some(version)).await?;
        store
            .append_event(
                name,
                &Event {
                    at: now,
                    kind: format!("{state:?}"),
                    message: status.message.clone(),
                    actor: context.execution.clone(),
                    execution: Some(context.execution.clone()),
                },
            )
            .await?;
    }
    if status.state == EnvironmentState::Deleted {
        // Nothing left to sync; a later apply of the same name schedules it afresh (and
        // its TTL counts from then).
        store.delete_sync(name).await?;
    }
    // The lease goes before the event: a bus that stays down fails the execution, never
    // holds the environment until the deadline. A retry (the status says this execution
    // finished it) publishes again; by then another operation may hold the lease.
    match store.release(name, &context.execution).await {
        Ok(()) => {}
        Err(StoreError::NotLockHolder { .. }) if ours && finished => {}
        Err(e) => return Err(e.into()),
    }
    publish(notifier, context, status.state, &status.message, now).await?;
    Ok(status)
}
