//! Custom components end to end on the local stack: the real state machines run them in their
//! stages' maps through the custom function. Kind `lambda` invokes the example team function
//! (`examples/custom-component`, an SQS queue); kind `cloudFormation` deploys a stack (moto
//! runs CloudFormation). `down` deletes them in reverse order, before the network.

use aws_sdk_sfn::types::ExecutionStatus;
use strata_core::custom::{CloudFormationSpec, CustomComponentSpec, Input, LambdaSpec};
use strata_core::{Component, ComponentPhase, EnvironmentState};
use strata_store::prelude::*;

use strata_testkit::local_stack;

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
    s.stack.stand_in_for(&env).await.unwrap();
    s.store.put_spec(&env, None, 1).await.unwrap();
    let jobs = Component::parse("jobs").unwrap();
    let (operations, sfn) = s.operations();
    let sqs = aws_sdk_sqs::Client::new(&s.regional("eu-west-1"));

    let up = s.run(&operations, &sfn, "teamq", false, "tester").await;
    assert_eq!(
        up.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        up.error,
        up.cause
    );
    let status = s.store.get_status("teamq").await.unwrap().unwrap().value;
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
    let again = s.run(&operations, &sfn, "teamq", false, "tester").await;
    assert_eq!(
        again.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        again.cause
    );
    let urls = queues(&sqs).await;
    assert_eq!(urls, vec![url.clone()]);

    let down = s.run(&operations, &sfn, "teamq", true, "tester").await;
    assert_eq!(
        down.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        down.error,
        down.cause
    );
    let status = s.store.get_status("teamq").await.unwrap().unwrap().value;
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

/// A queue and a topic, their settings from the inputs (one of them the network's VPC id).
const QUEUE_AND_TOPIC: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  VisibilityTimeout: { Type: Number }
  Network: { Type: String }
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: !Ref VisibilityTimeout
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: !Ref Network
Outputs:
  QueueUrl: { Value: !Ref Queue }
  TopicArn: { Value: !Ref Topic }
"#;

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
            template: Some(QUEUE_AND_TOPIC.into()),
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
    let api = env
        .spec
        .app
        .services
        .iter_mut()
        .find(|s| s.name == "api")
        .unwrap();
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
    s.stack.stand_in_for(&env).await.unwrap();
    s.store.put_spec(&env, None, 1).await.unwrap();
    let (queue, jobs) = (
        Component::parse("queue").unwrap(),
        Component::parse("jobs").unwrap(),
    );
    let (operations, sfn) = s.operations();
    let cloudformation = aws_sdk_cloudformation::Client::new(&s.regional("eu-west-1"));

    let up = s.run(&operations, &sfn, "teamcf", false, "tester").await;
    assert_eq!(
        up.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        up.error,
        up.cause
    );
    let status = s.store.get_status("teamcf").await.unwrap().unwrap().value;
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
    let again = s.run(&operations, &sfn, "teamcf", false, "tester").await;
    assert_eq!(
        again.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        again.error,
        again.cause
    );
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
    let status = s.store.get_status("teamcf").await.unwrap().unwrap().value;
    assert_eq!(status.components[&queue].outputs["QueueUrl"], queue_url);
    let sets = cloudformation
        .list_change_sets()
        .stack_name("strata-teamcf-queue")
        .send()
        .await
        .unwrap();
    assert_eq!(sets.summaries().len(), 1, "one change set, the second up's");

    let down = s.run(&operations, &sfn, "teamcf", true, "tester").await;
    assert_eq!(
        down.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        down.error,
        down.cause
    );
    let status = s.store.get_status("teamcf").await.unwrap().unwrap().value;
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
