//! A custom component of kind `lambda` end to end on the local stack: the real state machines
//! run it in its stage's map through the custom function, which invokes the example team
//! function (`examples/custom-component`, an SQS queue); `down` deletes it before the network.

use aws_sdk_sfn::types::ExecutionStatus;
use strata_core::custom::{CustomComponentSpec, Input, LambdaSpec};
use strata_core::{Component, ComponentPhase, EnvironmentState};
use strata_store::Store;

mod support;

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
    let s = support::start().await;
    let mut env = support::example_as("teamq");
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
