//! The state machines, generated. `environment-up` runs the create stages of the component
//! graph (components of one stage in a `Parallel`), `environment-down` the delete stages;
//! `environment-up` first tears down, in delete order, the components its plan recreates
//! (those `context.teardown` marks `true`);
//! every `Retry` and `Catch` names errors the called function really reports. The checked-in
//! `statemachines/*.asl.json` are this output (a test regenerates and diffs them), so the
//! definitions cannot drift from the graph or the handlers.
//!
//! Regenerate with `STRATA_WRITE_ASL=1 cargo test -p strata-asl`.

use serde_json::{Map, Value, json};
use strata_core::custom::STAGES;
use strata_core::{Component, OperationKind, Scope};
use strata_runtime::errors;

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
        "Retry": retry(errors::lifecycle::RETRYABLE, 1, 3),
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
        "Retry": retry(errors::component::RETRYABLE, 2, 4),
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

/// The name of create stage `i`'s custom-component map.
pub fn custom_map_name(i: usize, kind: Teardown) -> String {
    match kind {
        Teardown::No(_) => format!("Custom components {i}"),
        Teardown::Recreated => format!("Teardown custom components {i}"),
    }
}

/// A stage's custom components ([`strata_core::custom`]): a Map over the list Begin wrote
/// for it (`context.custom.stages.s<i>`, or `teardown.s<i>` for a recreate), each item one
/// poll loop of the custom function, side by side. Empty for most environments: the Map
/// then runs nothing.
fn custom_map(i: usize, kind: Teardown) -> Value {
    let (list, action) = match kind {
        Teardown::No(action) => ("stages", action),
        Teardown::Recreated => ("teardown", "destroy"),
    };
    let task = "Custom component";
    let mut states = Map::new();
    states.insert(
        task.into(),
        json!({
            "Type": "Task",
            "Comment": format!("One {action} step of the custom component this iteration runs; it answers done=false while its work goes on."),
            "Resource": "${CustomFunctionArn}",
            "Parameters": { "action": action, "component.$": "$.component", "context.$": "$.context" },
            "ResultPath": "$.step",
            "Retry": retry(errors::component::RETRYABLE, 2, 4),
            "Next": format!("{task} done?"),
        }),
    );
    states.insert(
        format!("{task} done?"),
        json!({
            "Type": "Choice",
            "Choices": [{ "Variable": "$.step.done", "BooleanEquals": true, "Next": format!("{task} done") }],
            "Default": format!("{task} wait"),
        }),
    );
    states.insert(
        format!("{task} wait"),
        json!({ "Type": "Wait", "SecondsPath": "$.step.waitSeconds", "Next": task }),
    );
    states.insert(format!("{task} done"), json!({ "Type": "Succeed" }));
    json!({
        "Type": "Map",
        "Comment": format!("The custom components of create stage {i} (spec.components), side by side."),
        "ItemsPath": format!("$.context.custom.{list}.s{i}"),
        "ItemSelector": { "component.$": "$$.Map.Item.Value", "context.$": "$.context" },
        "ItemProcessor": {
            "ProcessorConfig": { "Mode": "INLINE" },
            "StartAt": task,
            "States": states,
        },
        "ResultPath": null,
    })
}

/// What a stage's steps do: apply or destroy every component, or destroy those a recreate
/// names (`context.teardown`).
#[derive(Clone, Copy)]
pub enum Teardown {
    No(&'static str),
    Recreated,
}

/// One stage: its component's loop, or a `Parallel` of one branch per component. A teardown
/// stage asks first, per component, whether `context.teardown` names it.
fn add_stage(
    states: &mut Map<String, Value>,
    (stage, custom): (&[Component], usize),
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
    let catch =
        json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "FinishFailed" }]);
    if stage.is_empty() {
        // A stage of custom components only: its map is the stage.
        let mut map = custom_map(custom, kind);
        map["Catch"] = catch;
        map["Next"] = json!(next);
        states.insert(entry.to_owned(), map);
        return;
    }
    // Independent components run side by side, the stage's custom components beside them;
    // a failing branch fails the stage.
    let mut branches: Vec<Value> = stage
        .iter()
        .map(|c| {
            let mut branch = Map::new();
            let done = format!("{} done", label(*c));
            component_states(&mut branch, *c, &start_of(*c), &done, false);
            branch.insert(done, json!({ "Type": "Succeed" }));
            json!({ "StartAt": start_of(*c), "States": branch })
        })
        .collect();
    let mut map = custom_map(custom, kind);
    map["End"] = json!(true);
    let name = custom_map_name(custom, kind);
    branches.push(json!({ "StartAt": name, "States": { name.clone(): map } }));
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
            "Catch": catch,
            "Next": next,
        }),
    );
}

/// The definition of `environment-up` or `environment-down` over the given components (all
/// of them for the checked-in files; a subset keeps a test's definition small).
pub fn definition(operation: OperationKind, components: &[Component]) -> Value {
    // Create stage i: Strata's own components of that stage (those given) and the custom
    // components Begin places there. Stages past dns hold custom components only.
    let built_in = Component::graph().create_stages();
    let create: Vec<(Vec<Component>, usize)> = (0..STAGES)
        .map(|i| {
            let own = built_in.get(i).cloned().unwrap_or_default();
            (
                own.into_iter().filter(|c| components.contains(c)).collect(),
                i,
            )
        })
        .collect();
    let mut delete = create.clone();
    delete.reverse();
    let (stages, kind) = match operation {
        OperationKind::Up => (create, Teardown::No("apply")),
        OperationKind::Down => (delete.clone(), Teardown::No("destroy")),
    };
    let entry_of = |(stage, custom): &(Vec<Component>, usize), kind: Teardown| -> String {
        match kind {
            Teardown::No(_) if stage.is_empty() => custom_map_name(*custom, kind),
            Teardown::No(_) => stage
                .iter()
                .map(|c| state_name(*c))
                .chain([custom_map_name(*custom, kind)])
                .collect::<Vec<_>>()
                .join(" + "),
            Teardown::Recreated if stage.is_empty() => custom_map_name(*custom, kind),
            Teardown::Recreated => format!(
                "Teardown {}",
                stage
                    .iter()
                    .map(|c| state_name(*c))
                    .chain([format!("custom components {custom}")])
                    .collect::<Vec<_>>()
                    .join(" + ")
            ),
        }
    };
    let entry = |stage: &(Vec<Component>, usize)| entry_of(stage, kind);

    let mut states = Map::new();
    let mut first = stages.first().map_or("Finish".to_owned(), entry);
    let application = stages
        .iter()
        .find(|(s, _)| s.iter().any(|c| Scope::Application.includes(*c)))
        .map(entry);
    if operation == OperationKind::Up {
        // A recreate: the components the plan replaces go first, in delete order, each
        // skipped unless `context.teardown` (Strata's own) or `context.custom.teardown`
        // names it.
        let teardown = &delete;
        let teardown_entry = |stage: &(Vec<Component>, usize)| entry_of(stage, Teardown::Recreated);
        states.insert(
            "Teardown?".into(),
            json!({
                "Type": "Choice",
                "Comment": "Begin marks in context.teardown (and context.custom.teardown) the components the plan recreates: tear those down first.",
                "Choices": [{
                    "Or": components
                        .iter()
                        .map(|c| json!({ "Variable": format!("$.context.teardown.{}", c.name()), "BooleanEquals": true }))
                        .chain([json!({ "Variable": "$.context.custom.tearingDown", "BooleanEquals": true })])
                        .collect::<Vec<_>>(),
                    "Next": teardown_entry(&teardown[0]),
                }],
                "Default": first,
            }),
        );
        for (i, stage) in teardown.iter().enumerate() {
            let next = teardown.get(i + 1).map_or(first.clone(), teardown_entry);
            add_stage(
                &mut states,
                (&stage.0, stage.1),
                &teardown_entry(stage),
                &next,
                Teardown::Recreated,
            );
        }
        first = "Teardown?".to_owned();
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
            "Retry": retry(errors::lifecycle::RETRYABLE, 1, 3),
            "Catch": [
                { "ErrorEquals": errors::lifecycle::REJECTING, "Next": "Rejected" },
                { "ErrorEquals": ["LockHeld"], "Next": "Locked" },
            ],
            "Next": first,
        }),
    );
    // An up ends with the post-deploy step when the spec has one.
    let after_stages = match operation {
        OperationKind::Up => "Post-deploy?",
        OperationKind::Down => "Finish",
    };
    for (i, stage) in stages.iter().enumerate() {
        let next = stages.get(i + 1).map_or(after_stages.to_owned(), entry);
        add_stage(&mut states, (&stage.0, stage.1), &entry(stage), &next, kind);
    }
    if operation == OperationKind::Up {
        states.insert(
            "Post-deploy?".into(),
            json!({
                "Type": "Choice",
                "Comment": "Begin sets context.postDeploy when the spec names a post-deploy function (and the environment is awake).",
                "Choices": [{ "Variable": "$.context.postDeploy", "BooleanEquals": true, "Next": "Post-deploy" }],
                "Default": "Finish",
            }),
        );
        states.insert(
            "Post-deploy".into(),
            json!({
                "Type": "Task",
                "Comment": "The team's post-deploy function, given the environment's outputs; its checked answer (or why it failed) goes to finish, which decides Ready with a warning or Failed (required).",
                "Resource": "${CustomFunctionArn}",
                "Parameters": { "action": "postDeploy", "context.$": "$.context" },
                "ResultPath": "$.context.postDeployed",
                "Retry": retry(errors::component::RETRYABLE, 2, 4),
                "Catch": [{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "FinishFailed" }],
                "Next": "Finish",
            }),
        );
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
    let present = names(&mut stages.iter().flat_map(|(s, _)| s.iter().copied()));
    let purpose = match operation {
        OperationKind::Up => "converge an environment to its stored spec",
        OperationKind::Down => {
            "delete an environment's resources in reverse dependency order, honouring onDelete"
        }
    };
    let comment = format!(
        "environment-{}: {purpose}. Start it with {{\"environment\": \"<name>\"}} (optional: pollSeconds, clockScale, deadlineSeconds{}). Generated by strata-asl from the component graph. Component steps: {present}, and the spec's custom components in each stage's map.",
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
