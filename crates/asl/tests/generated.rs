use serde_json::Value;
use strata_asl::{definition, file_name, render};
use strata_core::{Component, OperationKind};

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
            "{path} differs from the generated definition; run STRATA_WRITE_ASL=1 cargo test -p strata-asl"
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
        let substitution = strata_asl::function_arn(component);
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
    let (first, second) = (
        "Network + Storage + Custom components 0",
        "Cluster + Custom components 1",
    );
    // Without app and dns there is no fast path; a recreate's teardown comes first, from the
    // last stage (custom components only) down.
    assert_eq!(up["States"]["Begin"]["Next"], "Teardown?");
    assert_eq!(up["States"]["Teardown?"]["Default"], first);
    assert_eq!(
        up["States"]["Teardown?"]["Choices"][0]["Next"],
        "Teardown custom components 7"
    );
    let teardown = &states["Teardown Network + Storage + custom components 0"];
    assert_eq!(teardown["Type"], "Parallel");
    assert_eq!(teardown["Next"], first);
    assert_eq!(
        teardown["Branches"][0]["States"]["Teardown Network?"]["Choices"][0]["Variable"],
        "$.context.teardown.network"
    );
    assert_eq!(
        teardown["Branches"][2]["States"]["Teardown custom components 0"]["ItemsPath"],
        "$.context.custom.teardown.s0"
    );
    assert_eq!(
        up["States"]["Teardown?"]["Choices"][0]["Or"]
            .as_array()
            .unwrap()
            .len(),
        4,
        "one question per component, and one for the custom ones"
    );
    let stage = &states[first];
    assert_eq!(stage["Type"], "Parallel");
    assert_eq!(stage["Next"], second);
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
    assert_eq!(branches, ["Network", "Storage", "Custom components 0"]);
    assert_eq!(states[second]["Next"], "Custom components 2");
    // A stage of custom components only is its map, caught like a Parallel.
    let only = &states["Custom components 7"];
    assert_eq!(only["Type"], "Map");
    assert_eq!(only["Next"], "Post-deploy?");
    assert_eq!(only["Catch"][0]["Next"], "FinishFailed");

    let down = definition(
        OperationKind::Down,
        &[Component::Network, Component::Storage, Component::Cluster],
    );
    assert_eq!(down["States"]["Begin"]["Next"], "Custom components 7");
    assert_eq!(down["States"]["Custom components 2"]["Next"], second);
    assert_eq!(down["States"][second]["Next"], first);
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
            text.contains(&strata_asl::function_arn(component)),
            "{component}"
        );
    }
    assert!(text.contains("${CustomFunctionArn}"));
    let dns = &all["States"]["DNS + Custom components 4"];
    assert_eq!(dns["Next"], "Custom components 5");
    assert_eq!(
        dns["Branches"][0]["States"]["DNS wait"]["SecondsPath"], "$.steps.dns.waitSeconds",
        "the step answers how long to wait"
    );
}

#[test]
fn a_custom_component_map_runs_one_poll_loop_per_item_of_its_stage() {
    let up = definition(OperationKind::Up, &Component::BUILT_IN);
    let map = &up["States"]["Custom components 5"];
    assert_eq!(map["ItemsPath"], "$.context.custom.stages.s5");
    assert_eq!(map["ItemSelector"]["component.$"], "$$.Map.Item.Value");
    assert_eq!(map["ResultPath"], Value::Null);
    let inner = &map["ItemProcessor"]["States"];
    assert_eq!(inner["Custom component"]["Parameters"]["action"], "apply");
    assert_eq!(
        inner["Custom component"]["Parameters"]["component.$"],
        "$.component"
    );
    assert_eq!(
        inner["Custom component wait"]["SecondsPath"],
        "$.step.waitSeconds"
    );
    let down = definition(OperationKind::Down, &Component::BUILT_IN);
    assert_eq!(
        down["States"]["Custom components 5"]["ItemProcessor"]["States"]["Custom component"]["Parameters"]
            ["action"],
        "destroy"
    );
}
