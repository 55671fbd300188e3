//! Begins and finishes an operation (`up`, `down`) on an environment.
//!
//! `begin` validates the execution's input (a console start may send only
//! `{"environment": "staging"}`), loads the stored spec, takes the lease lock for the
//! execution and marks the environment Progressing or Deleting. `finish` records how the
//! operation ended and releases the lock. Both are idempotent: a retried step converges.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

use strata_core::events::{Notice, StateChange};
use strata_core::status::{ComponentPhase, CredentialRef, Incarnation, Sleeping};
use strata_core::{
    Component, EnvironmentState, EnvironmentStatus, Event, Operation, OperationContext,
    OperationKind, Scope, check_environment_name,
};
use strata_store::{Store, StoreError};

pub use strata_notify::{EventBus, MemoryNotifier, Notifier};

/// Seconds between polls of a long AWS operation, unless the input says otherwise.
/// The smallest: a handler answers longer waits while AWS is expected to still be working
/// (`strata_core::waits`), so this is how finely the end of a create is caught.
pub const DEFAULT_POLL_SECONDS: u64 = 5;
/// How long an operation may run before the lease expires and another may take over.
pub const DEFAULT_DEADLINE_SECONDS: u64 = 3 * 3600;

/// The errors this function reports to Step Functions. The names are the `errorType`s that
/// the state machines' `Retry` and `Catch` match, so they must never change casually.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("environment {0} has no stored spec; apply one first")]
    EnvironmentNotFound(String),
    /// The state change could not be put on the event bus; the step is retried.
    #[error("the event bus refused the state change: {0}")]
    EventsUnavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LifecycleError {
    /// Every error type this function can report.
    pub const NAMES: &[&str] = &[
        "InvalidInput",
        "EnvironmentNotFound",
        "EventsUnavailable",
        "LockHeld",
        "NotLockHolder",
        "StaleVersion",
        "CorruptState",
        "StoreUnavailable",
    ];

    /// The errors a state machine retries with backoff.
    pub const RETRYABLE: &[&str] = &["StaleVersion", "StoreUnavailable", "EventsUnavailable"];
    /// The errors that reject an execution before anything changes.
    pub const REJECTING: &[&str] = &["InvalidInput", "EnvironmentNotFound"];

    pub fn name(&self) -> &'static str {
        match self {
            LifecycleError::InvalidInput(_) => "InvalidInput",
            LifecycleError::EnvironmentNotFound(_) => "EnvironmentNotFound",
            LifecycleError::EventsUnavailable(_) => "EventsUnavailable",
            LifecycleError::Store(e) => e.name(),
        }
    }
}

/// What an execution was started with. Unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutionInput {
    pub environment: String,
    #[serde(default)]
    pub poll_seconds: Option<u64>,
    /// AWS's seconds per second of this execution: 1 (AWS) unless a local stack says
    /// otherwise ([`strata_core::Clock`]).
    #[serde(default)]
    pub clock_scale: Option<u32>,
    #[serde(default)]
    pub deadline_seconds: Option<u64>,
    /// `application`: the deploy fast path (only app and dns run); `all` by default.
    #[serde(default)]
    pub scope: Scope,
    /// The components the plan recreates: `up` tears them down first (in delete order),
    /// then creates everything in order.
    #[serde(default)]
    pub recreate: Vec<Component>,
    /// `true`: a sleep, `false`: a wake; absent, an `up` keeps the environment as it is.
    #[serde(default)]
    pub asleep: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase", deny_unknown_fields)]
enum Request {
    Begin {
        operation: OperationKind,
        execution: String,
        input: Value,
    },
    Finish {
        context: OperationContext,
        #[serde(default)]
        error: Option<CaughtError>,
    },
    /// The last resort when the outcome could not be recorded: give the lease back, so the
    /// environment is not held until the lease's deadline.
    Release { context: OperationContext },
}

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

/// Runs one request against the store.
pub async fn handle<S: Store, N: Notifier>(
    store: &S,
    notifier: &N,
    control_plane: &str,
    request: Value,
    now: u64,
) -> Result<Value, LifecycleError> {
    let request: Request = serde_json::from_value(request)
        .map_err(|e| LifecycleError::InvalidInput(format!("request: {e}")))?;
    match request {
        Request::Begin {
            operation,
            execution,
            input,
        } => {
            let context = begin(
                store,
                notifier,
                &Begin {
                    control_plane,
                    operation,
                    execution: &execution,
                },
                input,
                now,
            )
            .await?;
            Ok(serde_json::to_value(context).expect("a context always serialises"))
        }
        Request::Finish { context, error } => {
            let status = finish(store, notifier, &context, error.as_ref(), now).await?;
            Ok(serde_json::json!({
                "environment": context.environment,
                "state": status.state,
                "message": status.message,
            }))
        }
        Request::Release { context } => {
            release(store, &context).await?;
            Ok(serde_json::json!({ "environment": context.environment, "released": true }))
        }
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

fn parse_input(input: Value) -> Result<ExecutionInput, LifecycleError> {
    let invalid = |message: String| LifecycleError::InvalidInput(message);
    if !input.is_object() {
        return Err(invalid(
            "input: must be an object such as {\"environment\": \"staging\"}".to_owned(),
        ));
    }
    // serde names the offending field in its message (`unknown field`, `missing field`).
    let parsed: ExecutionInput =
        serde_json::from_value(input).map_err(|e| invalid(format!("input: {e}")))?;
    check_environment_name(&parsed.environment)
        .map_err(|m| invalid(format!("input.environment: {m}")))?;
    if parsed.poll_seconds.is_some_and(|s| s > 300) {
        return Err(invalid(
            "input.pollSeconds: must be between 0 and 300".to_owned(),
        ));
    }
    if parsed.clock_scale.is_some_and(|s| s > 3600) {
        return Err(invalid(
            "input.clockScale: must be between 0 and 3600".to_owned(),
        ));
    }
    if parsed
        .deadline_seconds
        .is_some_and(|s| !(60..=86_400).contains(&s))
    {
        return Err(invalid(
            "input.deadlineSeconds: must be between 60 and 86400".to_owned(),
        ));
    }
    Ok(parsed)
}

/// Which operation begins, under which control plane.
pub struct Begin<'a> {
    /// The control plane's stack id: the incarnations it mints carry it.
    pub control_plane: &'a str,
    pub operation: OperationKind,
    pub execution: &'a str,
}

/// The custom components each stage runs: the spec's, and those it dropped whose resources
/// still stand (placed by what they applied), which an `up` destroys and a `down` too.
fn custom_steps(
    spec: &strata_core::Environment,
    status: Option<&strata_core::EnvironmentStatus>,
    recreate: &[Component],
) -> strata_core::custom::CustomSteps {
    let dropped: BTreeMap<Component, Value> = status
        .into_iter()
        .flat_map(|s| &s.components)
        .filter(|(c, cs)| {
            c.is_custom()
                && !spec.includes(**c)
                && !matches!(cs.phase, ComponentPhase::Deleted | ComponentPhase::Pending)
        })
        .filter_map(|(c, cs)| cs.applied.clone().map(|a| (*c, a)))
        .collect();
    let standing = spec.with_applied(&dropped);
    strata_core::custom::CustomSteps::of(&standing, &recreate.iter().copied().collect())
}

/// Validates the input, takes the lock, marks the environment as changing; an `up` of a new
/// name, or of one Deleted, mints its incarnation.
pub async fn begin<S: Store, N: Notifier>(
    store: &S,
    notifier: &N,
    begin: &Begin<'_>,
    input: Value,
    now: u64,
) -> Result<OperationContext, LifecycleError> {
    let Begin {
        control_plane,
        operation,
        execution,
    } = *begin;
    let input = parse_input(input)?;
    let name = input.environment.clone();
    let spec = store
        .get_spec(&name)
        .await?
        .ok_or_else(|| LifecycleError::EnvironmentNotFound(name.clone()))?;
    let deadline_seconds = input.deadline_seconds.unwrap_or(DEFAULT_DEADLINE_SECONDS);
    if !input.scope.is_all() && operation != OperationKind::Up {
        return Err(LifecycleError::InvalidInput(format!(
            "input.scope: only up takes a scope; {} runs every component",
            operation.name()
        )));
    }
    if !input.recreate.is_empty() && (operation != OperationKind::Up || !input.scope.is_all()) {
        return Err(LifecycleError::InvalidInput(
            "input.recreate: only an up of every component recreates".to_owned(),
        ));
    }
    if input.asleep.is_some() && (operation != OperationKind::Up || !input.scope.is_all()) {
        return Err(LifecycleError::InvalidInput(
            "input.asleep: only an up of every component sleeps or wakes".to_owned(),
        ));
    }
    store
        .acquire(&name, execution, deadline_seconds, now)
        .await?;

    let current = store.get_status(&name).await?;
    if !input.scope.is_all() {
        // The fast path skips the layers below; they must stand as the last up left them.
        let below_not_ready: Vec<String> = spec
            .environment
            .components()
            .into_iter()
            .filter(|c| !input.scope.includes(*c))
            .filter(|c| {
                current
                    .as_ref()
                    .and_then(|s| s.value.components.get(c))
                    .is_none_or(|cs| cs.phase != ComponentPhase::Ready)
            })
            .map(|c| c.name().to_owned())
            .collect();
        if !below_not_ready.is_empty() {
            store.release(&name, execution).await?;
            return Err(LifecycleError::InvalidInput(format!(
                "input.scope: {} needs every layer below Ready; not Ready: {} (run a full up)",
                input.scope.name(),
                below_not_ready.join(", ")
            )));
        }
    }
    // A retried begin finds its own operation already recorded and changes nothing.
    let begun = current.as_ref().and_then(|s| {
        s.value
            .operation
            .as_ref()
            .filter(|o| s.value.state == operation.running_state() && o.execution == execution)
            .map(|o| o.started_at)
    });
    let asleep = operation == OperationKind::Up
        && input
            .asleep
            .unwrap_or_else(|| current.as_ref().is_some_and(|s| s.value.sleeping.is_some()));
    let context = OperationContext {
        environment: name.clone(),
        operation,
        execution: execution.to_owned(),
        generation: spec.generation,
        poll_seconds: input.poll_seconds.unwrap_or(DEFAULT_POLL_SECONDS),
        clock_scale: input.clock_scale.unwrap_or(1),
        deadline_seconds,
        started_at: begun.unwrap_or(now),
        scope: input.scope,
        teardown: match operation {
            OperationKind::Up => Component::BUILT_IN
                .into_iter()
                .map(|c| (c, input.recreate.contains(&c)))
                .collect(),
            OperationKind::Down => BTreeMap::new(),
        },
        asleep,
        // The fast path runs the application layer only, none of the custom components.
        custom: match input.scope.is_all() {
            true => custom_steps(
                &spec.environment,
                current.as_ref().map(|s| &s.value),
                &input.recreate,
            ),
            false => Default::default(),
        },
        // A sleeping environment serves nothing to check.
        post_deploy: operation == OperationKind::Up
            && spec.environment.spec.post_deploy.is_some()
            && !asleep,
        post_deployed: None,
    };
    let message = started_message(&context);
    if begun.is_some() {
        // A retried begin publishes again: the first attempt may have failed to.
        publish(notifier, &context, operation.running_state(), &message, now).await?;
        return Ok(context);
    }
    let (mut status, version) = match current {
        Some(s) => (s.value, Some(s.version)),
        None => (
            EnvironmentStatus::new(operation.running_state(), "", now),
            None,
        ),
    };
    // An incarnation ends when its down left nothing: a database or bucket kept by
    // `onDelete: retain` is still this incarnation's, and the next up takes it back.
    let ended = status.state == EnvironmentState::Deleted
        && !status
            .components
            .values()
            .any(|c| c.phase == ComponentPhase::Retained);
    if operation == OperationKind::Up && (ended || status.incarnation.is_none()) {
        status.incarnation = Some(Incarnation {
            control_plane: control_plane.to_owned(),
            id: uuid::Uuid::new_v4().to_string(),
            since: now,
        });
    }
    status.state = operation.running_state();
    status.message = message.clone();
    status.operation = Some(Operation {
        kind: operation,
        execution: execution.to_owned(),
        generation: spec.generation,
        started_at: now,
    });
    status.updated_at = now;
    store.put_status(&name, &status, version).await?;
    store
        .append_event(
            &name,
            &Event {
                at: now,
                kind: "OperationStarted".to_owned(),
                message: status.message.clone(),
                actor: execution.to_owned(),
                execution: Some(execution.to_owned()),
            },
        )
        .await?;
    publish(notifier, &context, status.state, &message, now).await?;
    Ok(context)
}

fn started_message(context: &OperationContext) -> String {
    format!(
        "{} of generation {} started{}",
        context.operation.name(),
        context.generation,
        match context.scope {
            Scope::All if context.teardown.values().any(|t| *t) => format!(
                " (recreating {})",
                context
                    .teardown
                    .iter()
                    .filter(|(_, t)| **t)
                    .map(|(c, _)| c.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Scope::All => String::new(),
            Scope::Application => " (application layer only)".to_owned(),
            Scope::Rollback => " (rollback to the previous colours)".to_owned(),
        }
    )
}

async fn publish<N: Notifier>(
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
