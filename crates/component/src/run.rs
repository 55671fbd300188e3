//! The wrapper every component handler runs in: [`handle`] reads the request, [`run`] claims
//! the step, checks the input, the deadline and the dependencies, calls the handler and
//! records its outcome; [`observe`] asks a Ready component for drift.

use std::collections::BTreeMap;

use serde_json::Value;
use strata_core::drift::{ComponentDrift, Observed};
use strata_core::status::{ComponentError as RecordedError, ComponentPhase};
use strata_core::tags::Owner;
use strata_core::{
    Component, ComponentStatus, Environment, EnvironmentState, OperationContext, OperationKind,
};
use strata_store::{Store, StoreError};

use crate::{Action, ComponentError, ComponentHandler, Progress, Request, Step, StepResult};

/// The function's input: a step of a state machine (`{action: apply|destroy, context}`) or
/// sync's drift check (`{action: observe, environment}`). Answers the step's [`StepResult`]
/// or the [`ComponentDrift`].
pub async fn handle<S: Store, H: ComponentHandler>(
    store: &S,
    handler: &H,
    request: Value,
    now: u64,
) -> Result<Value, ComponentError> {
    if request.get("action").and_then(Value::as_str) == Some("observe") {
        let environment = match request.as_object().map(|o| o.len()) {
            Some(2) => request.get("environment").and_then(Value::as_str),
            _ => None,
        }
        .ok_or_else(|| {
            ComponentError::InvalidInput(
                "request: observe takes exactly {\"action\": \"observe\", \"environment\": name}"
                    .into(),
            )
        })?;
        let observed = observe(store, handler, environment, now).await?;
        return Ok(serde_json::to_value(observed).expect("observations serialise"));
    }
    let result = run(store, handler, request, now).await?;
    Ok(serde_json::to_value(result).expect("step results serialise"))
}

/// Observes one component of a Ready environment for drift; writes nothing.
pub async fn observe<S: Store, H: ComponentHandler>(
    store: &S,
    handler: &H,
    name: &str,
    now: u64,
) -> Result<ComponentDrift, ComponentError> {
    let component = handler.component();
    let spec = store
        .get_spec(name)
        .await?
        .ok_or_else(|| ComponentError::EnvironmentNotFound(name.to_owned()))?;
    let status = store.get_status(name).await?.map(|s| s.value);
    let owner = Owner::new(name, status.as_ref().and_then(|s| s.incarnation.as_ref()));
    let components = status.map(|s| s.components).unwrap_or_default();
    let unchecked = |reason: String| ComponentDrift {
        component,
        observed: Observed::Unchecked { reason },
    };
    if !spec.environment.includes(component) {
        return Ok(unchecked("not in the spec".into()));
    }
    let Some(previous) = components.get(&component) else {
        return Ok(unchecked("never applied".into()));
    };
    if previous.phase != ComponentPhase::Ready {
        return Ok(unchecked(format!("{:?}, not Ready", previous.phase)));
    }
    // Observing is no operation: the context only carries what handlers read from it.
    let context = OperationContext::new(
        name,
        OperationKind::Up,
        format!("observe-{now}"),
        spec.generation,
        now,
    );
    let step = Step {
        environment: &spec.environment,
        context: &context,
        previous: Some(previous),
        dependencies: &components,
        owner: &owner,
    };
    Ok(ComponentDrift {
        component,
        observed: handler.observe(&step).await?,
    })
}

/// Runs one step for `handler` and records the outcome as the component's status.
pub async fn run<S: Store, H: ComponentHandler>(
    store: &S,
    handler: &H,
    request: Value,
    now: u64,
) -> Result<StepResult, ComponentError> {
    let component = handler.component();
    let request: Request = serde_json::from_value(request)
        .map_err(|e| ComponentError::InvalidInput(format!("request: {e}")))?;
    let context = &request.context;
    let name = &context.environment;
    let spec = store
        .get_spec(name)
        .await?
        .ok_or_else(|| ComponentError::EnvironmentNotFound(name.clone()))?;
    let status = store.get_status(name).await?.map(|s| s.value);
    // The fence: only a step of the running operation acts. When one Parallel branch
    // fails, a sibling's Lambda already invoked runs on after FinishFailed released the
    // lock; it must touch neither AWS nor the recorded status.
    let running = status
        .as_ref()
        .filter(|s| {
            matches!(
                s.state,
                EnvironmentState::Progressing | EnvironmentState::Deleting
            )
        })
        .and_then(|s| s.operation.as_ref())
        .map(|o| o.execution.clone());
    if running.as_deref() != Some(context.execution.as_str()) {
        return Err(StoreError::NotLockHolder {
            environment: name.clone(),
            caller: context.execution.clone(),
            holder: running,
        }
        .into());
    }
    let owner = Owner::new(name, status.as_ref().and_then(|s| s.incarnation.as_ref()));
    let mut components = status.map(|s| s.components).unwrap_or_default();
    // A preview sharing its base's cluster depends on the base's network and cluster: their
    // statuses (outputs, phase) stand in for its own, which it never makes.
    if let Some(base) = spec.environment.shared_from()
        && !matches!(component, Component::Network | Component::Cluster)
    {
        let base_status = store.get_status(base).await?.map(|s| s.value);
        for shared in [Component::Network, Component::Cluster] {
            match base_status.as_ref().and_then(|s| s.components.get(&shared)) {
                Some(found) => components.insert(shared, found.clone()),
                None => components.remove(&shared),
            };
        }
    }
    let recorded = store.get_component(name, component).await?;
    let previous = recorded.as_ref().map(|r| &r.value);

    // One invocation of a component's step at a time. A duplicate (Step Functions delivers
    // at least once; a retry may race the attempt it replaces) answers "not done yet" and
    // is asked again, instead of racing the other to AWS, where most creates (a VPC, a
    // subnet) have no idempotency token and two would be made.
    let claim = StepClaim::new(name, component, &context.execution);
    match store
        .acquire(&claim.item, &claim.holder, STEP_CLAIM_SECONDS, now)
        .await
    {
        Ok(_) => {}
        Err(StoreError::LockHeld { .. }) => {
            return Ok(StepResult {
                done: false,
                phase: previous.map_or(ComponentPhase::Pending, |p| p.phase),
                wait_seconds: context.poll_seconds,
            });
        }
        Err(e) => return Err(e.into()),
    }
    let standing = Standing {
        spec: &spec,
        components: &components,
        owner: &owner,
    };
    let result = run_claimed(store, handler, &request, &standing, recorded, now).await;
    if let Err(e) = store.release(&claim.item, &claim.holder).await {
        tracing::warn!("the step claim {} stays until it expires: {e}", claim.item);
    }
    result
}

/// How long a step's claim holds when its invocation never gives it back (a crash): the
/// component functions' timeout, and a margin.
const STEP_CLAIM_SECONDS: u64 = 180;

/// A lease item of its own per environment and component (environment names cannot hold
/// `/`, so it is no environment's), held by one invocation.
struct StepClaim {
    item: String,
    holder: String,
}

impl StepClaim {
    fn new(environment: &str, component: Component, execution: &str) -> Self {
        use std::hash::{BuildHasher, Hasher};
        static INVOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        // Unique per invocation across sandboxes: a per-process random hasher over the
        // clock and a counter.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        hasher.write_u64(INVOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        Self {
            item: format!("{environment}/step/{}", component.name()),
            holder: format!("{execution}/{:016x}", hasher.finish()),
        }
    }
}

/// What a step acts on: the stored spec, the components' statuses, the owner.
#[derive(Clone, Copy)]
struct Standing<'a> {
    spec: &'a strata_store::StoredSpec,
    components: &'a BTreeMap<Component, ComponentStatus>,
    owner: &'a Owner,
}

/// The step itself, under its claim: the handler's apply or destroy, recorded.
async fn run_claimed<S: Store, H: ComponentHandler>(
    store: &S,
    handler: &H,
    request: &Request,
    standing: &Standing<'_>,
    recorded: Option<strata_store::Versioned<ComponentStatus>>,
    now: u64,
) -> Result<StepResult, ComponentError> {
    let Standing {
        spec,
        components,
        owner,
    } = *standing;
    let component = handler.component();
    let context = &request.context;
    let name = &context.environment;
    let previous = recorded.as_ref().map(|r| &r.value);
    let outcome = async {
        if context.is_past_deadline(now) {
            return Err(ComponentError::DeadlineExceeded(context.deadline_seconds));
        }
        // A layer a preview shares with its base is the base's: never touched from here.
        if let Some(base) = spec.environment.shared_from()
            && matches!(component, Component::Network | Component::Cluster)
        {
            let mut shared = Progress::finished(ComponentPhase::Pending);
            shared.outputs.insert("sharedFrom".into(), base.to_owned());
            return Ok(shared);
        }
        let destroying = request.action == Action::Destroy || !spec.environment.includes(component);
        check_neighbours(component, &spec.environment, components, destroying)?;
        // A destroy acts on what the component converged to, not on a spec that has moved
        // on: a renamed DNS name's old records, the deletion policy in force.
        let standing = previous
            .and_then(|p| p.applied.clone())
            .filter(|_| destroying)
            .map(|section| {
                spec.environment
                    .with_applied(&BTreeMap::from([(component, section)]))
            })
            // An up of a sleeping environment converges to its sleeping shape; what it
            // records as applied stays the spec's (a wake is no change of spec).
            .or_else(|| (!destroying && context.asleep).then(|| spec.environment.asleep()));
        let step = Step {
            environment: standing.as_ref().unwrap_or(&spec.environment),
            context,
            previous,
            dependencies: components,
            owner,
        };
        if destroying {
            handler.destroy(&step).await
        } else {
            handler.apply(&step).await
        }
    }
    .await;

    let mut record = previous
        .cloned()
        .unwrap_or_else(|| ComponentStatus::new(ComponentPhase::Pending, 0, now));
    record.updated_at = now;
    let result = match &outcome {
        Ok(progress) => {
            let phase = progress.phase.unwrap_or(record.phase);
            record.phase = phase;
            record.resource_ids.extend(progress.resource_ids.clone());
            for gone in &progress.gone_ids {
                record.resource_ids.remove(gone);
            }
            record.outputs = progress.outputs.clone();
            record.last_error = None;
            if progress.done && phase == ComponentPhase::Ready {
                record.observed_generation = spec.generation;
                record.applied = Some(spec.environment.section(component));
            }
            if progress.done && phase == ComponentPhase::Deleted {
                record.applied = None;
            }
            let (wait_seconds, waiting) = match progress.done {
                true => (0, None),
                false => context.clock().next(record.waiting, progress.awaiting),
            };
            record.waiting = waiting;
            Ok(StepResult {
                done: progress.done,
                phase,
                wait_seconds,
            })
        }
        Err(e) => {
            record.phase = ComponentPhase::Failed;
            record.last_error = Some(RecordedError {
                error: e.name().to_owned(),
                cause: e.to_string(),
            });
            tracing::warn!(component = %component, error_type = e.name(), "{e}");
            Err(e.clone())
        }
    };
    // A lost race with ourselves (a retried step) surfaces as StaleVersion and is retried.
    store
        .put_component(name, component, &record, recorded.map(|r| r.version))
        .await?;
    result
}

/// Apply needs every dependency Ready; destroy needs every dependent gone.
fn check_neighbours(
    component: Component,
    environment: &Environment,
    components: &BTreeMap<Component, ComponentStatus>,
    destroying: bool,
) -> Result<(), ComponentError> {
    if destroying {
        let graph = environment.graph().unwrap_or_else(|_| Component::graph());
        for dependent in graph.blast_radius(component) {
            let gone = components.get(&dependent).is_none_or(|s| s.phase.is_gone());
            if !gone {
                return Err(ComponentError::DependentsRemain {
                    component,
                    dependent,
                });
            }
        }
    } else {
        for dependency in environment.dependencies(component) {
            let ready = components
                .get(&dependency)
                .is_some_and(|s| s.phase == ComponentPhase::Ready);
            let shared = environment.shared_from().is_some()
                && matches!(dependency, Component::Network | Component::Cluster);
            if (environment.includes(dependency) || shared) && !ready {
                return Err(ComponentError::DependencyNotReady {
                    component,
                    dependency,
                });
            }
        }
    }
    Ok(())
}
