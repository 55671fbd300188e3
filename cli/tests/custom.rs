//! Issue 22's end to end, as a user runs it: `strata` against the API function on the local
//! stack, with an environment that has a custom `cloudFormation` component (a queue and a
//! topic after the network), a custom `lambda` component (the example team function) that
//! reads the stack's queue URL, the api service reading it too, and a post-deploy step. It
//! comes up Ready, the queue URL reaches the api's Deployment, a parameter change is planned
//! from a change set (and a rename shows the replacement), the post-deploy answer shows in
//! `strata get`, and `delete` removes both components in order.

use serde_json::json;

use strata_testkit::cli::Strata;
use strata_testkit::example_as;
use strata_testkit::local_stack;
use strata_testkit::templates::queue_and_topic;

const STRATA: Strata = Strata::new(env!("CARGO_BIN_EXE_strata"));

const EXAMPLE: &str = "arn:aws:lambda:us-east-1:123456789012:function:strata-component-example";

/// `teams` with the two custom components, the api reading the queue, and the post-deploy
/// check, the stack's queue named `queue` with `visibility`.
fn spec(visibility: &str, queue: &str) -> strata_core::Environment {
    let mut value = example_as("teams").to_json();
    value["spec"]["components"] = json!([
        {
            "name": "queue",
            "dependsOn": ["network"],
            "inputs": {
                "VisibilityTimeout": {"value": visibility},
                "QueueName": {"value": queue},
                "Network": {"fromOutput": "components.network.outputs.vpcId"},
            },
            "cloudFormation": {"template": queue_and_topic(true)},
        },
        {
            "name": "jobs",
            "inputs": {"Upstream": {"fromOutput": "components.queue.outputs.QueueUrl"}},
            "lambda": {"functionArn": EXAMPLE},
        },
    ]);
    value["spec"]["postDeploy"] = json!({"lambda": {"functionArn": EXAMPLE}, "required": true});
    value["spec"]["app"]["services"][1]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "JOBS_QUEUE_URL", "fromOutput": "components.queue.outputs.QueueUrl"}));
    strata_core::Environment::from_value(value).expect("the spec is valid")
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_components_come_up_are_planned_from_a_change_set_and_go_in_order() {
    let env = spec("45", "strata-teams-work");
    let local = local_stack::local(&env).await;
    let cloudformation = aws_sdk_cloudformation::Client::new(&local.regional);

    local.apply(&STRATA, "teams.json", &env);
    let got = STRATA.run(&local.endpoint, &["get", "teams"]);
    assert!(got.out.contains("state        Ready\n"), "{}", got.out);
    assert!(
        got.out.contains(r#"post-deploy  {"environment":"teams","queues":{"jobs.queueUrl":"answers","queue.QueueUrl":"answers"}}"#),
        "{}",
        got.out
    );
    let body = STRATA.get(&local.endpoint, "teams");
    let queue_url = body["status"]["components"]["queue"]["outputs"]["QueueUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    assert!(queue_url.ends_with("/strata-teams-work"), "{queue_url}");
    let deployment = local
        .stack
        .cluster_simulator()
        .object("strata-teams", "apps/v1", "deployments", "teams", "api")
        .expect("the api's Deployment");
    let variables = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(
        variables
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "JOBS_QUEUE_URL" && v["value"] == queue_url.as_str()),
        "{variables}"
    );

    // A new timeout: planned from a change set, in place.
    let slower = local.write("teams-2.json", &spec("90", "strata-teams-work"));
    let planned = STRATA.run(&local.endpoint, &["plan", "-f", &slower]);
    assert_eq!(planned.code, 0, "{}", planned.err);
    assert!(
        planned
            .out
            .contains("change set: Modify Queue AWS::SQS::Queue\n"),
        "{}",
        planned.out
    );
    // A new queue name replaces the queue: the plan says so.
    let renamed = local.write("teams-3.json", &spec("45", "strata-teams-other"));
    let planned = STRATA.run(&local.endpoint, &["plan", "-f", &renamed]);
    assert!(
        planned
            .out
            .contains("change set: Modify Queue AWS::SQS::Queue (REPLACED: what it holds is lost)"),
        "{}",
        planned.out
    );
    // Plans leave no change set behind.
    let sets = cloudformation
        .list_change_sets()
        .stack_name("strata-teams-queue")
        .send()
        .await
        .unwrap();
    assert!(sets.summaries().is_empty(), "{:?}", sets.summaries());

    let applied = STRATA.run(&local.endpoint, &["apply", "-f", &slower, "--wait"]);
    assert_eq!(applied.code, 0, "{}\n{}", applied.out, applied.err);
    let updated = cloudformation
        .describe_stacks()
        .stack_name("strata-teams-queue")
        .send()
        .await
        .unwrap();
    let parameters = updated.stacks()[0].parameters();
    assert!(parameters.iter().any(|p| {
        p.parameter_key() == Some("VisibilityTimeout") && p.parameter_value() == Some("90")
    }));

    let deleted = STRATA.run(&local.endpoint, &["delete", "teams", "--wait"]);
    assert_eq!(deleted.code, 0, "{}\n{}", deleted.out, deleted.err);
    let gone = cloudformation
        .describe_stacks()
        .stack_name("strata-teams-queue")
        .send()
        .await;
    assert!(gone.is_err(), "the stack is deleted");
    let body = STRATA.get(&local.endpoint, "teams");
    let components = &body["status"]["components"];
    let at = |c: &str| components[c]["updatedAt"].as_u64().unwrap_or_default();
    assert_eq!(components["queue"]["phase"], "deleted", "{body}");
    assert_eq!(components["jobs"]["phase"], "deleted", "{body}");
    // The function's component went before the stack it reads, the stack before the network.
    assert!(
        at("jobs") <= at("queue") && at("queue") <= at("network"),
        "{body}"
    );
}
