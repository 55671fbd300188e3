//! Custom components (`spec.components`): parsed, validated with field paths, placed in the
//! graph and the stages, planned.

use std::collections::{BTreeMap, BTreeSet};

use strata_core::custom::STAGES;
use strata_core::{Action, Component, CustomName, Effect, Environment, plan};

fn staging_with(components: &str) -> Result<Environment, Vec<String>> {
    let mut text = strata_testkit::examples::staging_text();
    text.push_str("  components:\n");
    for line in components.lines().filter(|l| !l.trim().is_empty()) {
        text.push_str("    ");
        text.push_str(line);
        text.push('\n');
    }
    Environment::parse(&text).map_err(|e| {
        e.field_errors()
            .into_iter()
            .map(|f| format!("{}: {}", f.path, f.message))
            .collect()
    })
}

const QUEUE_AND_WORKER: &str = r#"
- name: queue
  dependsOn: [network]
  inputs:
    RetentionSeconds: {value: "345600"}
    VpcId: {fromOutput: components.network.outputs.vpcId}
  cloudFormation:
    template: |
      Resources:
        Queue: {Type: AWS::SQS::Queue}
- name: worker
  inputs:
    QueueUrl: {fromOutput: components.queue.outputs.QueueUrl}
  lambda:
    functionArn: arn:aws:lambda:eu-west-1:123456789012:function:team-worker
"#;

fn custom(name: &str) -> Component {
    Component::Custom(CustomName::new(name).unwrap())
}

#[test]
fn custom_components_join_the_graph_after_what_they_depend_on() {
    let env = staging_with(QUEUE_AND_WORKER).unwrap();
    let (queue, worker) = (custom("queue"), custom("worker"));
    assert_eq!(
        env.components(),
        [Component::BUILT_IN.to_vec(), vec![queue, worker]].concat()
    );
    assert_eq!(env.dependencies(queue), vec![Component::Network]);
    assert_eq!(
        env.dependencies(worker),
        vec![queue],
        "an input's source is a dependency"
    );

    let stages = env.stages().unwrap();
    assert_eq!(
        stages[&queue], 1,
        "beside cluster and database, after network"
    );
    assert_eq!(stages[&worker], 2);
    assert_eq!(stages[&Component::Dns], 4, "Strata's own keep their stages");
    let mut expected = vec![Vec::new(); STAGES];
    expected[1] = vec![queue];
    expected[2] = vec![worker];
    assert_eq!(env.custom_stages(), expected);

    let graph = env.graph().unwrap();
    assert!(graph.blast_radius(Component::Network).contains(&worker));
    assert_eq!(graph.blast_radius(queue), BTreeSet::from([worker]));
    let deletes: Vec<Component> = graph.delete_stages().into_iter().flatten().collect();
    let at = |c| deletes.iter().position(|d| *d == c).unwrap();
    assert!(at(worker) < at(queue) && at(queue) < at(Component::Network));
}

#[test]
fn a_custom_component_after_dns_gets_a_stage_of_its_own() {
    let env = staging_with(
        r#"
- name: smoke
  dependsOn: [dns]
  lambda: {functionArn: "arn:aws:lambda:eu-west-1:123456789012:function:smoke:live"}
"#,
    )
    .unwrap();
    assert_eq!(env.stages().unwrap()[&custom("smoke")], 5);
}

#[test]
fn every_broken_rule_is_named_by_its_field() {
    let errors = staging_with(
        r#"
- name: Queue
  cloudFormation: {template: "x", templateUrl: "https://b.s3.amazonaws.com/t.yaml"}
- name: network
  lambda: {functionArn: "arn:aws:lambda:eu-west-1:123:function:f"}
- name: a
  dependsOn: [a, nowhere]
  inputs:
    "bad-name": {value: "1"}
    Both: {value: "1", fromOutput: components.network.outputs.vpcId}
    Mine: {fromOutput: components.a.outputs.x}
    Odd: {fromOutput: network.vpcId}
  cloudFormation: {templateUrl: "http://example.com/t.yaml"}
- name: b
- name: b
  lambda: {functionArn: "arn:aws:lambda:eu-west-1:123456789012:function:f"}
"#,
    )
    .unwrap_err();
    let expected = [
        "spec.components[0].name: must be lowercase",
        "spec.components[0].cloudFormation: must have exactly one of template and templateUrl",
        "spec.components[1].name: network is one of Strata's own components",
        "spec.components[1].lambda.functionArn: must be arn:aws:lambda",
        "spec.components[2].dependsOn[0]: a component cannot depend on itself",
        "spec.components[2].dependsOn[1]: nowhere is not a component of this environment",
        "spec.components[2].inputs.bad-name: input names are letters and digits",
        "spec.components[2].inputs.Both: must have exactly one of value and fromOutput",
        "spec.components[2].inputs.Mine.fromOutput: a component cannot read its own outputs",
        "spec.components[2].inputs.Odd.fromOutput: must read components.<component>.outputs.<key>",
        "spec.components[2].cloudFormation.templateUrl: must be an https:// URL of an object in S3",
        "spec.components[3]: must have exactly one of cloudFormation and lambda",
        "spec.components[4].name: b is defined twice",
    ];
    for want in expected {
        assert!(
            errors.iter().any(|e| e.starts_with(want)),
            "missing {want:?} in {errors:#?}"
        );
    }
}

#[test]
fn a_cycle_and_a_chain_too_deep_are_refused() {
    let cycle = staging_with(
        r#"
- name: a
  dependsOn: [b]
  lambda: {functionArn: "arn:aws:lambda:eu-west-1:123456789012:function:f"}
- name: b
  dependsOn: [a]
  lambda: {functionArn: "arn:aws:lambda:eu-west-1:123456789012:function:f"}
"#,
    )
    .unwrap_err();
    assert!(cycle.contains(&"spec.components: the components' dependencies form a cycle".into()));

    // dns is stage 4; c5 … c7 fit in the stages after it, c8 does not.
    let mut chain = String::new();
    for i in 5..=8 {
        let on = if i == 5 {
            "dns".to_owned()
        } else {
            format!("c{}", i - 1)
        };
        chain.push_str(&format!(
            "- name: c{i}\n  dependsOn: [{on}]\n  lambda: {{functionArn: \"arn:aws:lambda:eu-west-1:123456789012:function:f\"}}\n"
        ));
    }
    let deep = staging_with(&chain).unwrap_err();
    assert_eq!(
        deep,
        vec![format!(
            "spec.components[3].dependsOn: its chain of dependencies is too deep: the state machines have {STAGES} stages"
        )]
    );
}

#[test]
fn plans_say_what_a_custom_component_change_does() {
    let old = staging_with(QUEUE_AND_WORKER).unwrap();
    let (queue, worker) = (custom("queue"), custom("worker"));
    let action = |p: &strata_core::Plan, c| {
        p.components
            .iter()
            .find(|x| x.component == c)
            .map(|x| x.action)
    };

    let fresh = plan(None, &old);
    assert_eq!(action(&fresh, queue), Some(Action::Create));
    let order: Vec<Component> = fresh.components.iter().map(|c| c.component).collect();
    let at = |c| order.iter().position(|d| *d == c).unwrap();
    assert!(at(Component::Network) < at(queue) && at(queue) < at(worker));

    let mut changed = old.clone();
    changed.spec.components[0]
        .inputs
        .get_mut("RetentionSeconds")
        .unwrap()
        .value = Some("60".into());
    let p = plan(Some(&old), &changed);
    assert_eq!(action(&p, queue), Some(Action::Update));
    let change = &p
        .components
        .iter()
        .find(|c| c.component == queue)
        .unwrap()
        .changes[0];
    assert_eq!(
        change.field,
        "spec.components[queue].inputs.RetentionSeconds"
    );
    assert_eq!(change.effect, Effect::InPlace);
    assert_eq!(action(&p, worker), Some(Action::NoOp));

    let mut other_function = old.clone();
    other_function.spec.components[1]
        .lambda
        .as_mut()
        .unwrap()
        .function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:other".into();
    assert_eq!(
        action(&plan(Some(&old), &other_function), worker),
        Some(Action::Recreate)
    );

    // A network recreate drags the custom components along.
    let mut cidr = old.clone();
    cidr.spec.network.cidr = "10.41.0.0/16".into();
    let p = plan(Some(&old), &cidr);
    assert_eq!(action(&p, queue), Some(Action::Recreate));
    assert_eq!(action(&p, worker), Some(Action::Recreate));
    assert_eq!(action(&p, Component::Storage), Some(Action::NoOp));

    // Removed: deleted, and ordered by the old spec's edges.
    let mut removed = old.clone();
    removed.spec.components.clear();
    let p = plan(Some(&old), &removed);
    assert_eq!(action(&p, queue), Some(Action::Delete));
    assert_eq!(action(&p, worker), Some(Action::Delete));
}

#[test]
fn a_removed_custom_component_is_put_back_from_what_it_applied() {
    let old = staging_with(QUEUE_AND_WORKER).unwrap();
    let queue = custom("queue");
    let mut removed = old.clone();
    removed.spec.components.retain(|c| c.name != "queue");
    let applied = BTreeMap::from([(queue, old.section(queue))]);
    let standing = removed.with_applied(&applied);
    assert!(
        standing.includes(queue),
        "its destroy still knows its template"
    );
    assert_eq!(
        standing.custom_component(queue),
        old.custom_component(queue)
    );
    // Put back in place, not added twice.
    assert_eq!(old.with_applied(&applied), old);
}

/// `staging_with(components)` whose api service also reads `reference` into `QUEUE_URL`.
fn api_reading(components: &str, reference: &str) -> Result<Environment, Vec<String>> {
    let env = staging_with(components)?;
    let mut value = env.to_json();
    value["spec"]["app"]["services"][1]["env"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "QUEUE_URL", "fromOutput": reference}));
    Environment::from_value(value).map_err(|e| {
        e.field_errors()
            .into_iter()
            .map(|f| format!("{}: {}", f.path, f.message))
            .collect()
    })
}

#[test]
fn the_app_reads_a_custom_components_output_which_then_comes_first() {
    let env = api_reading(QUEUE_AND_WORKER, "components.queue.outputs.QueueUrl").unwrap();
    assert_eq!(
        env.dependencies(Component::App),
        vec![Component::Config, custom("queue")]
    );
    assert!(
        env.graph()
            .unwrap()
            .blast_radius(custom("queue"))
            .contains(&Component::App)
    );
    // A built-in component's output too.
    api_reading(QUEUE_AND_WORKER, "components.database.outputs.endpoint").unwrap();

    let late = "- name: late\n  dependsOn: [config]\n  lambda: {functionArn: \"arn:aws:lambda:eu-west-1:123456789012:function:team-late\"}\n";
    for (components, reference, why) in [
        (
            QUEUE_AND_WORKER,
            "queue.QueueUrl",
            "spec.app.services[1].env[2].fromOutput: must read components.<component>.outputs.<key>",
        ),
        (
            QUEUE_AND_WORKER,
            "components.dns.outputs.fqdn",
            "spec.app.services[1].env[2].fromOutput: the app cannot read dns's outputs: it comes after the app",
        ),
        (
            QUEUE_AND_WORKER,
            "components.cache.outputs.endpoint",
            "spec.app.services[1].env[2].fromOutput: cache is not a component of this environment",
        ),
        (
            late,
            "components.late.outputs.url",
            "spec.app.services[1].env[2].fromOutput: late runs in create stage 3, not before the app's (3): it may depend on network, storage, cluster, database and config only",
        ),
    ] {
        assert_eq!(api_reading(components, reference).unwrap_err(), vec![why]);
    }
}
