//! Custom components end to end on the local stack: the real state machines run them in their
//! stages' maps through the custom function. Kind `lambda` invokes the example team function
//! (`examples/custom-component`, an SQS queue); kind `cloudFormation` deploys a stack (moto
//! runs CloudFormation). `down` deletes them in reverse order, before the network.

use strata_core::custom::{CloudFormationSpec, CustomComponentSpec, Input, LambdaSpec};
use strata_core::{Component, ComponentPhase, EnvironmentState, EnvironmentStatus};
use strata_store::prelude::*;

use strata_testkit::local_stack;
use strata_testkit::templates::queue_and_topic;

const EXAMPLE: &str = "arn:aws:lambda:us-east-1:123456789012:function:strata-component-example";

/// Every queue's URL.
async fn queues(sqs: &aws_sdk_sqs::Client) -> Vec<String> {
    sqs.list_queues()
        .send()
        .await
        .unwrap()
        .queue_urls
        .unwrap_or_default()
}

/// `up` (or `down`) of `name` run as the API runs it, which must succeed: the status after.
async fn succeeded(s: &local_stack::Started, name: &str, down: bool) -> EnvironmentStatus {
    let (operations, sfn) = s.operations();
    let ended = s.run(&operations, &sfn, name, down, "tester").await;
    local_stack::assert_succeeded(&ended);
    s.status(name).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lambda_custom_component_comes_up_in_its_stage_and_goes_before_the_network() {
    let s = local_stack::start().await;
    let mut env = strata_testkit::example_as("teamq");
    env.spec.components.push(CustomComponentSpec {
        name: "jobs".into(),
        depends_on: vec!["network".into()],
        inputs: [(
            "VisibilityTimeout".to_owned(),
            Input {
                value: Some("45".into()),
                from_output: None,
            },
        )]
        .into(),
        cloud_formation: None,
        lambda: Some(LambdaSpec {
            function_arn: EXAMPLE.into(),
        }),
    });
    let env = strata_core::Environment::from_value(env.to_json()).expect("the spec is valid");
    s.stand_in_and_store(&env, 1).await;
    let jobs = Component::parse("jobs").unwrap();
    let sqs = aws_sdk_sqs::Client::new(&s.regional("eu-west-1"));

    let status = succeeded(&s, "teamq", false).await;
    assert_eq!(status.state, EnvironmentState::Ready, "{}", status.message);
    let recorded = &status.components[&jobs];
    assert_eq!(recorded.phase, ComponentPhase::Ready);
    assert_eq!(recorded.observed_generation, 1);
    let url = recorded.outputs["queueUrl"].clone();
    assert!(url.ends_with("/strata-teamq-jobs"), "{url}");
    // The queue is in the environment's region, with the environment's tags.
    let tags = sqs
        .list_queue_tags()
        .queue_url(&url)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap_or_default();
    assert_eq!(tags["strata:environment"], "teamq");
    assert_eq!(tags["strata:component"], "jobs");
    // Its stage's map ran it after the network it depends on was Ready.
    assert!(recorded.updated_at >= status.components[&Component::Network].updated_at);

    // A second up converges on the same queue.
    succeeded(&s, "teamq", false).await;
    let urls = queues(&sqs).await;
    assert_eq!(urls, vec![url.clone()]);

    let status = succeeded(&s, "teamq", true).await;
    assert_eq!(
        status.state,
        EnvironmentState::Deleted,
        "{}",
        status.message
    );
    assert_eq!(status.components[&jobs].phase, ComponentPhase::Deleted);
    assert!(queues(&sqs).await.is_empty(), "down deleted the queue");
    // The network went after the component that depends on it.
    assert!(
        status.components[&Component::Network].updated_at >= status.components[&jobs].updated_at
    );
}

fn value(v: &str) -> Input {
    Input {
        value: Some(v.into()),
        from_output: None,
    }
}

fn output(reference: &str) -> Input {
    Input {
        value: None,
        from_output: Some(reference.into()),
    }
}

/// `name` with a stack `queue` after the network and the example function's `jobs` after the
/// stack, reading its queue's URL.
fn with_stack_and_function(name: &str, visibility: &str) -> strata_core::Environment {
    let mut env = strata_testkit::example_as(name);
    env.spec.components.push(CustomComponentSpec {
        name: "queue".into(),
        depends_on: vec!["network".into()],
        inputs: [
            ("VisibilityTimeout".to_owned(), value(visibility)),
            (
                "Network".to_owned(),
                output("components.network.outputs.vpcId"),
            ),
        ]
        .into(),
        cloud_formation: Some(CloudFormationSpec {
            // A queue and a topic, their settings from the inputs (one the network's VPC id).
            template: Some(format!(
                "AWSTemplateFormatVersion: \"2010-09-09\"\n{}",
                queue_and_topic(false)
            )),
            template_url: None,
        }),
        lambda: None,
    });
    env.spec.components.push(CustomComponentSpec {
        name: "jobs".into(),
        depends_on: vec![],
        inputs: [(
            "Upstream".to_owned(),
            output("components.queue.outputs.QueueUrl"),
        )]
        .into(),
        cloud_formation: None,
        lambda: Some(LambdaSpec {
            function_arn: EXAMPLE.into(),
        }),
    });
    // After every up, the example function checks the queues the outputs name.
    env.spec.post_deploy = Some(strata_core::post_deploy::PostDeploySpec {
        lambda: LambdaSpec {
            function_arn: EXAMPLE.into(),
        },
        required: true,
    });
    // The api's environment gets the stack's queue.
    let services = &mut env.spec.app.services;
    let api = services.iter_mut().find(|s| s.name == "api").unwrap();
    api.env.push(strata_core::spec::EnvVar {
        name: "JOBS_QUEUE_URL".into(),
        value: None,
        secret_arn: None,
        from_output: Some("components.queue.outputs.QueueUrl".into()),
    });
    strata_core::Environment::from_value(env.to_json()).expect("the spec is valid")
}

async fn stack(
    cloudformation: &aws_sdk_cloudformation::Client,
    name: &str,
) -> Option<aws_sdk_cloudformation::types::Stack> {
    cloudformation
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .ok()
        .and_then(|o| o.stacks.unwrap_or_default().into_iter().next())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_component_comes_up_with_its_outputs_changes_through_a_change_set_and_goes_in_order()
 {
    let s = local_stack::start().await;
    let env = with_stack_and_function("teamcf", "45");
    s.stand_in_and_store(&env, 1).await;
    let (queue, jobs) = (
        Component::parse("queue").unwrap(),
        Component::parse("jobs").unwrap(),
    );
    let cloudformation = aws_sdk_cloudformation::Client::new(&s.regional("eu-west-1"));

    let status = succeeded(&s, "teamcf", false).await;
    assert_eq!(status.state, EnvironmentState::Ready, "{}", status.message);
    let recorded = &status.components[&queue];
    assert_eq!(recorded.phase, ComponentPhase::Ready);
    let queue_url = recorded.outputs["QueueUrl"].clone();
    assert!(recorded.outputs["TopicArn"].starts_with("arn:aws:sns:eu-west-1:"));
    // The stack is the environment's, in its region, with the network's output as a
    // parameter and the environment's tags.
    let deployed = stack(&cloudformation, "strata-teamcf-queue")
        .await
        .expect("the stack is in the environment's region");
    assert_eq!(
        recorded.resource_ids["stackId"],
        deployed.stack_id().unwrap()
    );
    let parameter = |stack: &aws_sdk_cloudformation::types::Stack, key: &str| {
        stack
            .parameters()
            .iter()
            .find(|p| p.parameter_key() == Some(key))
            .and_then(|p| p.parameter_value())
            .map(str::to_owned)
    };
    assert_eq!(
        parameter(&deployed, "Network").as_deref(),
        Some(status.components[&Component::Network].outputs["vpcId"].as_str())
    );
    assert!(
        deployed
            .tags()
            .iter()
            .any(|t| t.key() == Some("strata:component") && t.value() == Some("queue"))
    );
    // The post-deploy step ran last, and its answer is kept.
    assert_eq!(
        status.post_deploy_output,
        Some(serde_json::json!({
            "environment": "teamcf",
            "queues": {"jobs.queueUrl": "answers", "queue.QueueUrl": "answers"},
        })),
        "{:?}",
        status.post_deploy_warning
    );
    // The api's Deployment has the queue's URL in its environment.
    let deployment = s
        .stack
        .cluster_simulator()
        .object("strata-teamcf", "apps/v1", "deployments", "teamcf", "api")
        .expect("the api's Deployment");
    let variables = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    assert!(
        variables
            .iter()
            .any(|v| v["name"] == "JOBS_QUEUE_URL" && v["value"] == queue_url.as_str()),
        "{variables:?}"
    );
    // The function's component, which reads the stack's queue URL, came after the stack.
    let jobs_status = &status.components[&jobs];
    assert_eq!(jobs_status.phase, ComponentPhase::Ready);
    assert!(jobs_status.updated_at >= recorded.updated_at);

    // A new parameter: the stack is updated in place through the operation's change set.
    let changed = with_stack_and_function("teamcf", "90");
    s.store
        .put_spec(
            &changed,
            Some(&s.store.get_spec("teamcf").await.unwrap().unwrap()),
            2,
        )
        .await
        .unwrap();
    let again = succeeded(&s, "teamcf", false).await;
    let updated = stack(&cloudformation, "strata-teamcf-queue").await.unwrap();
    assert_eq!(
        parameter(&updated, "VisibilityTimeout").as_deref(),
        Some("90")
    );
    assert_eq!(
        updated.stack_id(),
        deployed.stack_id(),
        "updated, not replaced"
    );
    assert_eq!(again.components[&queue].outputs["QueueUrl"], queue_url);
    let sets = cloudformation
        .list_change_sets()
        .stack_name("strata-teamcf-queue")
        .send()
        .await
        .unwrap();
    assert_eq!(sets.summaries().len(), 1, "one change set, the second up's");

    let status = succeeded(&s, "teamcf", true).await;
    assert_eq!(
        status.state,
        EnvironmentState::Deleted,
        "{}",
        status.message
    );
    assert!(
        stack(&cloudformation, "strata-teamcf-queue")
            .await
            .is_none()
    );
    assert_eq!(status.components[&queue].phase, ComponentPhase::Deleted);
    // In reverse order: the function's component, then the stack, then the network.
    assert!(status.components[&queue].updated_at >= status.components[&jobs].updated_at);
    assert!(
        status.components[&Component::Network].updated_at >= status.components[&queue].updated_at
    );
}
