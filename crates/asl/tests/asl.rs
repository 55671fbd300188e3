//! The state machines and the handlers agree on error names, and on the shape of the flow.

use std::collections::BTreeSet;

use serde_json::Value;
use strata_core::{Component, OperationKind};

/// The checked-in definitions.
fn checked_in() -> Vec<(String, Value)> {
    let dir = format!(
        "{}/../../statemachines",
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
    );
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".asl.json") {
            let text = std::fs::read_to_string(&path).unwrap();
            found.push((
                path.display().to_string(),
                serde_json::from_str(&text).unwrap(),
            ));
        }
    }
    assert!(!found.is_empty(), "no definitions in {dir}");
    found
}

/// The checked-in definitions, and the ones the generator makes once every component has a
/// handler (so that Parallel stages are checked before the first one ships).
fn definitions() -> Vec<(String, Value)> {
    let mut all = checked_in();
    for operation in [OperationKind::Up, OperationKind::Down] {
        all.push((
            format!("(all components) {}", strata_asl::file_name(operation)),
            strata_asl::definition(operation, &Component::BUILT_IN),
        ));
    }
    all
}

/// Every `States` map: the top level's and, recursively, each Parallel branch's and each
/// Map's item processor's.
fn state_maps(machine: &Value) -> Vec<&serde_json::Map<String, Value>> {
    let states = machine["States"].as_object().unwrap();
    let mut maps = vec![states];
    for body in states.values() {
        for branch in body["Branches"].as_array().into_iter().flatten() {
            maps.extend(state_maps(branch));
        }
        if body["ItemProcessor"].is_object() {
            maps.extend(state_maps(&body["ItemProcessor"]));
        }
    }
    maps
}

/// Every `(state, clause, error)` named in a Retry or Catch.
fn matched_errors(definition: &Value) -> Vec<(String, &'static str, String)> {
    let mut out = Vec::new();
    for (state, body) in state_maps(definition).into_iter().flatten() {
        for clause in ["Retry", "Catch"] {
            for rule in body[clause].as_array().into_iter().flatten() {
                for error in rule["ErrorEquals"].as_array().unwrap() {
                    out.push((state.clone(), clause, error.as_str().unwrap().to_owned()));
                }
            }
        }
    }
    out
}

/// The error names each substituted function can report.
fn names_of(resource: &str) -> &'static [&'static str] {
    match resource {
        "${LifecycleFunctionArn}" => strata_runtime::errors::lifecycle::NAMES,
        // The custom components' steps and the post-deploy step.
        "${CustomFunctionArn}" => strata_runtime::errors::component::NAMES,
        other if component_of(other).is_some() => strata_runtime::errors::component::NAMES,
        other => panic!("no error names known for {other}"),
    }
}

#[test]
fn every_matched_error_is_one_its_handler_reports() {
    for (file, definition) in definitions() {
        let maps = state_maps(&definition);
        for (state, clause, error) in matched_errors(&definition) {
            let body = maps.iter().find_map(|m| m.get(&state)).unwrap();
            // A Parallel's Catch sees the errors of every function in its branches.
            let resource = body["Resource"].as_str().unwrap_or("(parallel)");
            if resource == "(parallel)" {
                assert_eq!(error, "States.ALL", "{file}: {state} catches {error}");
                continue;
            }
            // Lambda.*, Sandbox.* (a function out of time), Runtime.* (its process died)
            // and States.* come from the services themselves, not from a handler.
            let from_service = ["Lambda.", "Sandbox.", "Runtime.", "States."]
                .iter()
                .any(|prefix| error.starts_with(prefix));
            assert!(
                from_service || names_of(resource).contains(&error.as_str()),
                "{file}: {state}.{clause} matches {error}, which {resource} never reports"
            );
        }
    }
}

/// The component a Task works on, from its function (`${StorageFunctionArn}` → storage).
fn component_of(resource: &str) -> Option<Component> {
    let name = resource.strip_prefix("${")?.strip_suffix("FunctionArn}")?;
    Component::from_name(&name.to_ascii_lowercase())
}

/// A component step: which component, and whether it destroys.
type StepOf = (Component, bool);

/// The component steps a state runs: its Task's, or every branch's of a Parallel (side by
/// side, so they share one place in the order).
fn components_of(state: &Value) -> Vec<StepOf> {
    let step = |s: &Value| {
        let component = component_of(s["Resource"].as_str()?)?;
        Some((component, s["Parameters"]["action"] == "destroy"))
    };
    let branch_tasks = state["Branches"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|b| b["States"].as_object().unwrap().values().filter_map(step));
    step(state).into_iter().chain(branch_tasks).collect()
}

/// Component steps in the order an execution reaches them, one order per path through the
/// Choices (the `Scope?` fast path skips the layers below the application).
fn step_orders(definition: &Value) -> Vec<Vec<StepOf>> {
    let states = definition["States"].as_object().unwrap();
    let mut orders = Vec::new();
    let start = definition["StartAt"].as_str().unwrap();
    let mut paths: Vec<(&str, Vec<&str>, Vec<StepOf>)> = vec![(start, Vec::new(), Vec::new())];
    while let Some((name, mut seen, mut order)) = paths.pop() {
        if seen.contains(&name) {
            orders.push(order);
            continue;
        }
        seen.push(name);
        let state = &states[name];
        for c in components_of(state) {
            if !order.contains(&c) {
                order.push(c);
            }
        }
        let next: Vec<&str> = state["Next"]
            .as_str()
            .into_iter()
            .chain(state["Default"].as_str())
            .chain(
                state["Choices"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["Next"].as_str()),
            )
            .collect();
        if next.is_empty() {
            orders.push(order);
            continue;
        }
        for n in next {
            paths.push((n, seen.clone(), order.clone()));
        }
    }
    orders
}

#[test]
fn steps_run_in_an_order_the_component_graph_allows() {
    let graph = Component::graph();
    for (file, definition) in definitions() {
        let orders = step_orders(&definition);
        let longest = orders.iter().map(Vec::len).max().unwrap_or(0);
        assert!(longest > 0, "{file} runs no component step");
        for order in &orders {
            // Every destroy (down, or up's teardown for a recreate) comes before any apply.
            let first_apply = order.iter().position(|(_, destroy)| !destroy);
            let last_destroy = order.iter().rposition(|(_, destroy)| *destroy);
            if let (Some(apply), Some(destroy)) = (first_apply, last_destroy) {
                assert!(
                    destroy < apply,
                    "{file}: an apply before a destroy ({order:?})"
                );
            }
            for (i, (component, destroy)) in order.iter().enumerate() {
                for (later, later_destroys) in &order[i + 1..] {
                    if destroy != later_destroys {
                        continue;
                    }
                    // Apply: nothing may run before what it depends on; destroy: the reverse.
                    let (first, second) = if *destroy {
                        (later, component)
                    } else {
                        (component, later)
                    };
                    assert!(
                        !graph.dependencies(*first).any(|d| d == *second),
                        "{file}: {component} runs before {later}, against the graph ({order:?})"
                    );
                }
            }
        }
    }
}

#[test]
fn the_application_scope_runs_only_the_application_layer() {
    let up = definitions()
        .into_iter()
        .find(|(file, _)| file.ends_with("environment-up.asl.json"))
        .map(|(_, d)| d)
        .unwrap();
    let choice = &up["States"]["Scope?"];
    assert_eq!(up["States"]["Begin"]["Next"], "Scope?");
    assert_eq!(choice["Choices"][0]["Variable"], "$.context.scope");
    let orders = step_orders(&up);
    assert!(
        orders.contains(&vec![(Component::App, false), (Component::Dns, false)]),
        "no path runs only app and dns: {orders:?}"
    );
    assert!(
        orders.iter().any(|o| o.len() == Component::BUILT_IN.len()),
        "no path runs every component: {orders:?}"
    );
    // A recreate: a path tears every component down, in delete order, then applies them all.
    assert!(
        orders
            .iter()
            .any(|o| o.len() == 2 * Component::BUILT_IN.len() && o[0] == (Component::Dns, true)),
        "no path tears everything down first: {orders:?}"
    );
}

#[test]
fn every_error_begin_can_report_is_handled() {
    let (_, up) = definitions()
        .into_iter()
        .find(|(f, _)| f.ends_with("statemachines/environment-up.asl.json"))
        .unwrap();
    let handled: BTreeSet<String> = matched_errors(&up)
        .into_iter()
        .filter(|(state, _, _)| state == "Begin")
        .map(|(_, _, e)| e)
        .collect();
    // NotLockHolder comes only from finish; CorruptState must surface, not be retried.
    for name in strata_runtime::errors::lifecycle::NAMES {
        if !matches!(*name, "NotLockHolder" | "CorruptState") {
            assert!(
                handled.contains(*name),
                "Begin neither retries nor catches {name}"
            );
        }
    }
}

#[test]
fn every_transition_names_an_existing_state() {
    for (file, definition) in definitions() {
        let mut machines = vec![definition.clone()];
        while let Some(machine) = machines.pop() {
            let states = machine["States"].as_object().unwrap();
            let mut targets = vec![machine["StartAt"].as_str().unwrap().to_owned()];
            for body in states.values() {
                targets.extend(body["Next"].as_str().map(str::to_owned));
                targets.extend(body["Default"].as_str().map(str::to_owned));
                for list in ["Catch", "Choices"] {
                    for rule in body[list].as_array().into_iter().flatten() {
                        targets.extend(rule["Next"].as_str().map(str::to_owned));
                    }
                }
                machines.extend(body["Branches"].as_array().into_iter().flatten().cloned());
            }
            for target in targets {
                assert!(states.contains_key(&target), "{file}: no state {target}");
            }
        }
    }
}

#[test]
fn every_task_calls_a_substituted_function() {
    let template = std::fs::read_to_string(format!(
        "{}/../../infra/template.yaml",
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for (file, definition) in checked_in() {
        for (state, body) in state_maps(&definition).into_iter().flatten() {
            if body["Type"] == "Task" {
                let resource = body["Resource"].as_str().unwrap();
                let name = resource.trim_start_matches("${").trim_end_matches('}');
                assert!(
                    resource.starts_with("${") && template.contains(&format!("{name}:")),
                    "{file}: {state} calls {resource}, which the template does not substitute"
                );
            }
        }
    }
}
