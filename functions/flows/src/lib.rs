//! The state machines, generated. `environment-up` runs the create stages of the component
//! graph (components of one stage in a `Parallel`), `environment-down` the delete stages;
//! `environment-up` first tears down, in delete order, the components its plan recreates
//! (those `context.teardown` marks `true`);
//! every `Retry` and `Catch` names errors the called function really reports. The checked-in
//! `statemachines/*.asl.json` are this output (a test regenerates and diffs them), so the
//! definitions cannot drift from the graph or the handlers.
//!
//! Regenerate with `STRATA_WRITE_ASL=1 cargo test -p strata-flows`.

use serde_json::{Map, Value, json};
use strata_component::ComponentError;
use strata_core::{Component, OperationKind, Scope};

/// Lambda's own transient errors, retried like the handlers' transient ones: the service's
/// 5xx and throttling, the client-side failures Step Functions reports for an invoke it could
/// not complete, a function that ran out of time, and one whose process died (killed, out of
/// memory: `Runtime.ExitError`, or `Lambda.Unknown` when Lambda names no cause). Each step is
/// idempotent, so running it again after its work was done is safe.
const LAMBDA_TRANSIENT: &[&str] = &[
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Sandbox.Timedout",
    "Runtime.ExitError",
    "Lambda.Unknown",
];

pub fn file_name(operation: OperationKind) -> String {
    format!("environment-{}.asl.json", operation.name())
}

/// The state name of a component's step, e.g. `Storage`, `DNS`.
pub fn state_name(component: Component) -> String {
    match component {
        Component::Dns => "DNS".to_owned(),
        other => capitalised(other.name()),
    }
}

/// The template substitution that holds a component's function ARN.
pub fn function_arn(component: Component) -> String {
    format!("${{{}FunctionArn}}", capitalised(component.name()))
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn retry(errors: &[&str], interval: u64, attempts: u64) -> Value {
    let names: Vec<&str> = errors.iter().chain(LAMBDA_TRANSIENT).copied().collect();
    json!([{ "ErrorEquals": names, "IntervalSeconds": interval, "MaxAttempts": attempts, "BackoffRate": 2 }])
}

fn lifecycle_task(comment: &str, parameters: Value, result_path: &str, next: &str) -> Value {
    json!({
        "Type": "Task",
        "Comment": comment,
        "Resource": "${LifecycleFunctionArn}",
        "Parameters": parameters,
        "ResultPath": result_path,
        "Retry": retry(lifecycle::LifecycleError::RETRYABLE, 1, 3),
        "Next": next,
    })
}

/// One component's poll loop: Task → done? → Wait → Task, the Task named `name`. `done` is
/// where it goes when done.
fn step_loop(
    states: &mut Map<String, Value>,
    (component, name): (Component, &str),
    action: &str,
    done: &str,
    catch: bool,
) {
    let name = name.to_owned();
    let key = component.name();
    let mut task = json!({
        "Type": "Task",
        "Comment": format!("One {action} step of the {key} component; it answers done=false while AWS is still working."),
        "Resource": function_arn(component),
        "Parameters": { "action": action, "context.$": "$.context" },
        "ResultPath": format!("$.steps.{key}"),
        "Retry": retry(ComponentError::RETRYABLE, 2, 4),
        "Next": format!("{name} done?"),
    });
    if catch {
        task["Catch"] = json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "FinishFailed" }]);
    }
    states.insert(name.clone(), task);
    states.insert(
        format!("{name} done?"),
        json!({
            "Type": "Choice",
            "Choices": [{ "Variable": format!("$.steps.{key}.done"), "BooleanEquals": true, "Next": done }],
            "Default": format!("{name} wait"),
        }),
    );
    states.insert(
        format!("{name} wait"),
        // The step answers how long: AWS's typical time left for what it waits on.
        json!({ "Type": "Wait", "SecondsPath": format!("$.steps.{key}.waitSeconds"), "Next": name }),
    );
}

/// What a stage's steps do: apply or destroy every component, or destroy those a recreate
/// names (`context.teardown`).
#[derive(Clone, Copy)]
enum Teardown {
    No(&'static str),
    Recreated,
}

/// One stage: its component's loop, or a `Parallel` of one branch per component. A teardown
/// stage asks first, per component, whether `context.teardown` names it.
fn add_stage(
    states: &mut Map<String, Value>,
    stage: &[Component],
    entry: &str,
    next: &str,
    kind: Teardown,
) {
    let label = |c: Component| match kind {
        Teardown::No(_) => state_name(c),
        Teardown::Recreated => format!("Teardown {}", state_name(c)),
    };
    let action = match kind {
        Teardown::No(action) => action,
        Teardown::Recreated => "destroy",
    };
    // The loop of one component, behind its teardown question when there is one.
    let component_states = |states: &mut Map<String, Value>,
                            c: Component,
                            start: &str,
                            done: &str,
                            catch: bool| {
        let task = label(c);
        if let Teardown::Recreated = kind {
            states.insert(
                    start.to_owned(),
                    json!({
                        "Type": "Choice",
                        "Choices": [{ "Variable": format!("$.context.teardown.{}", c.name()), "BooleanEquals": true, "Next": task }],
                        "Default": done,
                    }),
                );
        }
        step_loop(states, (c, &task), action, done, catch);
    };
    let start_of = |c: Component| match kind {
        Teardown::No(_) => state_name(c),
        Teardown::Recreated => format!("{}?", label(c)),
    };
    if let [component] = stage {
        // The stage's entry is the component's first state.
        component_states(states, *component, &start_of(*component), next, true);
        return;
    }
    // Independent components run side by side; a failing branch fails the stage.
    let branches: Vec<Value> = stage
        .iter()
        .map(|c| {
            let mut branch = Map::new();
            let done = format!("{} done", label(*c));
            component_states(&mut branch, *c, &start_of(*c), &done, false);
            branch.insert(done, json!({ "Type": "Succeed" }));
            json!({ "StartAt": start_of(*c), "States": branch })
        })
        .collect();
    states.insert(
        entry.to_owned(),
        json!({
            "Type": "Parallel",
            "Comment": match kind {
                Teardown::No(_) => "Components of one stage of the graph, side by side.",
                Teardown::Recreated => "Components of one stage torn down for a recreate, side by side.",
            },
            "Branches": branches,
            "ResultPath": null,
            "Catch": [{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "FinishFailed" }],
            "Next": next,
        }),
    );
}

/// The definition of `environment-up` or `environment-down` over the given components (all
/// of them for the checked-in files; a subset keeps a test's definition small).
pub fn definition(operation: OperationKind, components: &[Component]) -> Value {
    let graph = Component::graph();
    let (stages, kind) = match operation {
        OperationKind::Up => (graph.create_stages(), Teardown::No("apply")),
        OperationKind::Down => (graph.delete_stages(), Teardown::No("destroy")),
    };
    let stages: Vec<Vec<Component>> = stages
        .into_iter()
        .map(|s| {
            s.into_iter()
                .filter(|c| components.contains(c))
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect();
    let entry = |stage: &[Component]| -> String {
        match stage {
            [one] => state_name(*one),
            many => many
                .iter()
                .map(|c| state_name(*c))
                .collect::<Vec<_>>()
                .join(" + "),
        }
    };

    let mut states = Map::new();
    let mut first = stages.first().map_or("Finish".to_owned(), |s| entry(s));
    let application = stages
        .iter()
        .find(|s| s.iter().any(|c| Scope::Application.includes(*c)))
        .map(|s| entry(s));
    if operation == OperationKind::Up {
        // A recreate: the components the plan replaces go first, in delete order, each
        // skipped unless `context.teardown` names it.
        let teardown: Vec<Vec<Component>> = graph
            .delete_stages()
            .into_iter()
            .map(|s| s.into_iter().filter(|c| components.contains(c)).collect())
            .filter(|s: &Vec<Component>| !s.is_empty())
            .collect();
        if let Some(start) = teardown.first() {
            // A one-component stage starts at its question; a Parallel at the Parallel.
            let teardown_entry = |stage: &[Component]| match stage {
                [one] => format!("Teardown {}?", state_name(*one)),
                many => format!("Teardown {}", entry(many)),
            };
            states.insert(
                "Teardown?".into(),
                json!({
                    "Type": "Choice",
                    "Comment": "Begin marks in context.teardown the components the plan recreates: tear those down first.",
                    "Choices": [{
                        "Or": components
                            .iter()
                            .map(|c| json!({ "Variable": format!("$.context.teardown.{}", c.name()), "BooleanEquals": true }))
                            .collect::<Vec<_>>(),
                        "Next": teardown_entry(start),
                    }],
                    "Default": first,
                }),
            );
            for (i, stage) in teardown.iter().enumerate() {
                let next = teardown
                    .get(i + 1)
                    .map_or(first.clone(), |s| teardown_entry(s));
                add_stage(
                    &mut states,
                    stage,
                    &teardown_entry(stage),
                    &next,
                    Teardown::Recreated,
                );
            }
            first = "Teardown?".to_owned();
        }
    }
    // The deploy fast path: an `up` scoped to the application layer starts at its stage.
    if let (OperationKind::Up, Some(application)) = (operation, application) {
        states.insert(
            "Scope?".into(),
            json!({
                "Type": "Choice",
                "Comment": "input.scope application (an app-only change) or rollback: skip the layers below, which Begin found Ready.",
                "Choices": [
                    { "Variable": "$.context.scope", "StringEquals": "application", "Next": application },
                    { "Variable": "$.context.scope", "StringEquals": "rollback", "Next": application },
                ],
                "Default": first,
            }),
        );
        first = "Scope?".to_owned();
    }
    states.insert(
        "Begin".into(),
        json!({
            "Type": "Task",
            "Comment": format!(
                "Validate the input, take the environment's lease lock, mark it {:?}.",
                operation.running_state()
            ),
            "Resource": "${LifecycleFunctionArn}",
            "Parameters": {
                "action": "begin",
                "operation": operation.name(),
                "execution.$": "$$.Execution.Name",
                "input.$": "$",
            },
            "ResultPath": "$.context",
            "Retry": retry(lifecycle::LifecycleError::RETRYABLE, 1, 3),
            "Catch": [
                { "ErrorEquals": lifecycle::LifecycleError::REJECTING, "Next": "Rejected" },
                { "ErrorEquals": ["LockHeld"], "Next": "Locked" },
            ],
            "Next": first,
        }),
    );
    for (i, stage) in stages.iter().enumerate() {
        let next = stages.get(i + 1).map_or("Finish".to_owned(), |s| entry(s));
        add_stage(&mut states, stage, &entry(stage), &next, kind);
    }
    let done = format!("{:?}", operation.done_state());
    let mut finish = lifecycle_task(
        &format!(
            "Record the outcome ({done} only if every component converged) and release the lock."
        ),
        json!({ "action": "finish", "context.$": "$.context" }),
        "$.finished",
        "Converged?",
    );
    // A state table or event bus that stays down past the retries: FinishFailed records
    // that (or, when the outcome was recorded, publishes it again) and releases the lock.
    finish["Catch"] =
        json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "FinishFailed" }]);
    states.insert("Finish".into(), finish);
    states.insert(
        "Converged?".into(),
        json!({
            "Type": "Choice",
            "Choices": [{ "Variable": "$.finished.state", "StringEquals": done, "Next": done }],
            "Default": "NotConverged",
        }),
    );
    states.insert(done.clone(), json!({ "Type": "Succeed" }));
    states.insert(
        "NotConverged".into(),
        json!({
            "Type": "Fail",
            "Comment": "The operation ended without every component converged; the cause lists them.",
            "Error": "NotConverged",
            "CausePath": "$.finished.message",
        }),
    );
    let mut finish_failed = lifecycle_task(
        "A step failed: record it as the environment's cause and release the lock; everything stays resumable.",
        json!({ "action": "finish", "context.$": "$.context", "error.$": "$.error" }),
        "$.finished",
        "Failed",
    );
    finish_failed["Catch"] =
        json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.unrecorded", "Next": "Release" }]);
    states.insert("FinishFailed".into(), finish_failed);
    // The last resort: the outcome could not be recorded, but the lease must not stay held
    // until its deadline. Retried for minutes, since the state table was just unavailable.
    states.insert(
        "Release".into(),
        json!({
            "Type": "Task",
            "Comment": "The outcome could not be recorded: only give the lease back.",
            "Resource": "${LifecycleFunctionArn}",
            "Parameters": { "action": "release", "context.$": "$.context" },
            "ResultPath": "$.released",
            "Retry": retry(&["StoreUnavailable"], 5, 6),
            "Next": "Unrecorded",
        }),
    );
    states.insert(
        "Unrecorded".into(),
        json!({
            "Type": "Fail",
            "Comment": "The state table or the event bus stayed unavailable; the lease was given back, so the operation can be run again.",
            "Error": "Unrecorded",
            "Cause": "the operation's outcome could not be recorded (the state table or the event bus stayed unavailable); the lease was given back: run the operation again",
        }),
    );
    states.insert(
        "Failed".into(),
        json!({
            "Type": "Fail",
            "Comment": "The failing step's error; the cause is the environment's status message.",
            "ErrorPath": "$.error.Error",
            "CausePath": "$.finished.message",
        }),
    );
    states.insert(
        "Rejected".into(),
        json!({
            "Type": "Fail",
            "Comment": "Bad input, or no stored spec: nothing was changed.",
            "ErrorPath": "$.Error",
            "CausePath": "$.Cause",
        }),
    );
    states.insert(
        "Locked".into(),
        json!({
            "Type": "Fail",
            "Comment": "Another execution holds the environment's lease; the cause names it.",
            "ErrorPath": "$.Error",
            "CausePath": "$.Cause",
        }),
    );

    let names = |cs: &mut dyn Iterator<Item = Component>| {
        cs.map(|c| c.name().to_owned())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let present = names(&mut stages.iter().flatten().copied());
    let purpose = match operation {
        OperationKind::Up => "converge an environment to its stored spec",
        OperationKind::Down => {
            "delete an environment's resources in reverse dependency order, honouring onDelete"
        }
    };
    let comment = format!(
        "environment-{}: {purpose}. Start it with {{\"environment\": \"<name>\"}} (optional: pollSeconds, clockScale, deadlineSeconds{}). Generated by strata-flows from the component graph. Component steps: {present}.",
        operation.name(),
        match operation {
            OperationKind::Up => ", scope: all | application | rollback",
            OperationKind::Down => "",
        }
    );
    json!({ "Comment": comment, "StartAt": "Begin", "States": states })
}

/// The file's text: the definition, pretty-printed, with a final newline.
pub fn render(operation: OperationKind) -> String {
    let mut text = serde_json::to_string_pretty(&definition(operation, &Component::BUILT_IN))
        .expect("a definition always serialises");
    text.push('\n');
    text
}
