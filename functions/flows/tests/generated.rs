use serde_json::Value;
use strata_core::{Component, OperationKind};
use strata_flows::{definition, file_name, render};

#[test]
fn the_checked_in_definitions_are_the_generated_ones() {
    for operation in [OperationKind::Up, OperationKind::Down] {
        let path = format!(
            "{}/../../statemachines/{}",
            std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
            file_name(operation)
        );
        let generated = render(operation);
        if std::env::var_os("STRATA_WRITE_ASL").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "{path} differs from the generated definition; run STRATA_WRITE_ASL=1 cargo test -p strata-flows"
        );
    }
}

#[test]
fn the_template_has_a_function_for_every_component() {
    let template = std::fs::read_to_string(format!(
        "{}/../../infra/template.yaml",
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for component in Component::BUILT_IN {
        let substitution = strata_flows::function_arn(component);
        let key = substitution.trim_start_matches("${").trim_end_matches('}');
        assert!(
            template.contains(&format!("{key}: !GetAtt")),
            "no {key} in the template"
        );
        assert!(template.contains(&format!("Binary: {}", component.name())));
    }
}

#[test]
fn components_of_one_stage_run_in_parallel_and_a_failing_branch_fails_the_stage() {
    let up = definition(
        OperationKind::Up,
        &[Component::Network, Component::Storage, Component::Cluster],
    );
    let states = up["States"].as_object().unwrap();
    // Without app and dns there is no fast path; a recreate's teardown comes first.
    assert_eq!(up["States"]["Begin"]["Next"], "Teardown?");
    assert_eq!(up["States"]["Teardown?"]["Default"], "Network + Storage");
    assert_eq!(
        up["States"]["Teardown?"]["Choices"][0]["Next"],
        "Teardown Cluster?"
    );
    let teardown = &states["Teardown Network + Storage"];
    assert_eq!(teardown["Type"], "Parallel");
    assert_eq!(teardown["Next"], "Network + Storage");
    assert_eq!(
        teardown["Branches"][0]["States"]["Teardown Network?"]["Choices"][0]["Variable"],
        "$.context.teardown.network"
    );
    assert_eq!(
        up["States"]["Teardown?"]["Choices"][0]["Or"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "one question per component"
    );
    let stage = &states["Network + Storage"];
    assert_eq!(stage["Type"], "Parallel");
    assert_eq!(stage["Next"], "Cluster");
    assert_eq!(
        stage["ResultPath"],
        Value::Null,
        "the context survives the stage"
    );
    assert_eq!(stage["Catch"][0]["Next"], "FinishFailed");
    let branches: Vec<&str> = stage["Branches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["StartAt"].as_str().unwrap())
        .collect();
    assert_eq!(branches, ["Network", "Storage"]);
    assert_eq!(states["Cluster done?"]["Choices"][0]["Next"], "Finish");

    let down = definition(
        OperationKind::Down,
        &[Component::Network, Component::Storage, Component::Cluster],
    );
    assert_eq!(down["States"]["Begin"]["Next"], "Cluster");
    assert_eq!(
        down["States"]["Cluster done?"]["Choices"][0]["Next"],
        "Network + Storage"
    );
    assert_eq!(
        down["States"]["Network"],
        Value::Null,
        "branch states live in the branch"
    );
}

#[test]
fn every_component_has_its_own_function_and_loop() {
    let all = definition(OperationKind::Up, &Component::BUILT_IN);
    let text = all.to_string();
    for component in Component::BUILT_IN {
        assert!(
            text.contains(&strata_flows::function_arn(component)),
            "{component}"
        );
    }
    // The last create stage is dns alone, and it leads to Finish.
    assert_eq!(all["States"]["DNS done?"]["Choices"][0]["Next"], "Finish");
    assert_eq!(
        all["States"]["DNS wait"]["SecondsPath"], "$.steps.dns.waitSeconds",
        "the step answers how long to wait"
    );
}
