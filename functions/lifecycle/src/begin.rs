//! How an operation begins: the input checked (and held to the generation its decision was
//! made on), the lease taken, the environment marked changing (and a new incarnation
//! minted), the start recorded and published.

use serde_json::Value;
use std::collections::BTreeMap;

use strata_core::status::{ComponentPhase, Incarnation};
use strata_core::{
    Component, EnvironmentState, EnvironmentStatus, Event, Operation, OperationContext,
    OperationKind, Scope,
};
use strata_notify::Notifier;
use strata_store::Store;

use crate::input::parse_input;
use crate::publish::publish;
use crate::{DEFAULT_DEADLINE_SECONDS, DEFAULT_POLL_SECONDS, LifecycleError};

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
        .filter(|(c, cs)| c.is_custom() && !spec.includes(**c) && cs.phase.stands())
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
    // The decision was made on one generation; a spec stored since is not what was planned.
    // The lease reserved for this execution goes back at once: nothing runs under it.
    if let Some(decided) = input.generation
        && decided != spec.generation
    {
        match store.release(&name, execution).await {
            Ok(()) | Err(strata_store::StoreError::NotLockHolder { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        return Err(LifecycleError::InvalidInput(format!(
            "input.generation: {} was decided on generation {decided}, but generation {} is stored; nothing was done",
            operation.name(),
            spec.generation
        )));
    }
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
        let below_not_ready: Vec<String> = input
            .scope
            .not_ready_outside(&spec.environment, current.as_ref().map(|s| &s.value))
            .into_iter()
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
