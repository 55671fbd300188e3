//! The example component function against SQS on the local stack (moto): a queue made once,
//! converged, observed, refused when it is not the environment's, deleted once.

use std::collections::BTreeMap;

use strata_core::component_contract::{Recorded, StepAction, StepRequest};
use strata_example_component::handle;
use strata_localstack::{LocalStack, Options};

fn request(action: StepAction, environment_id: &str) -> StepRequest {
    StepRequest {
        action,
        environment: "staging".into(),
        component: "jobs".into(),
        region: "us-east-1".into(),
        inputs: BTreeMap::from([("VisibilityTimeout".into(), "45".into())]),
        tags: BTreeMap::from([
            ("strata:environment".into(), "staging".into()),
            ("strata:component".into(), "jobs".into()),
            ("strata:managed-by".into(), "strata".into()),
            ("strata:environment-id".into(), environment_id.into()),
        ]),
        execution: "up-staging-1-1".into(),
        previous: Recorded::default(),
    }
}

/// Every queue's URL.
async fn queues(client: &aws_sdk_sqs::Client) -> Vec<String> {
    client
        .list_queues()
        .send()
        .await
        .unwrap()
        .queue_urls
        .unwrap_or_default()
}

#[tokio::test]
async fn a_queue_is_made_once_kept_to_its_inputs_and_deleted_only_if_ours() {
    let stack = LocalStack::start(Options {
        lambdas: false,
        ..Options::default()
    })
    .await
    .expect("the local stack starts");
    let config = stack.sdk_config();
    let client = aws_sdk_sqs::Client::new(&config);

    let first = handle(&config, request(StepAction::Apply, "e-1"))
        .await
        .unwrap();
    assert_eq!(first["done"], true);
    let url = first["outputs"]["queueUrl"].as_str().unwrap().to_owned();
    assert!(url.ends_with("/strata-staging-jobs"), "{url}");
    assert!(
        first["outputs"]["queueArn"]
            .as_str()
            .unwrap()
            .ends_with(":strata-staging-jobs")
    );
    let again = handle(&config, request(StepAction::Apply, "e-1"))
        .await
        .unwrap();
    assert_eq!(again, first, "a second apply converges on the same queue");
    let urls = queues(&client).await;
    assert_eq!(urls, vec![url.clone()]);

    let observed = handle(&config, request(StepAction::Observe, "e-1"))
        .await
        .unwrap();
    assert_eq!(observed["drift"], "inSync");
    client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "5",
        )
        .send()
        .await
        .unwrap();
    let observed = handle(&config, request(StepAction::Observe, "e-1"))
        .await
        .unwrap();
    assert_eq!(observed["drift"], "drifted");
    assert_eq!(observed["fields"][0]["observed"], "5");

    // Another incarnation of the name must not adopt or delete it.
    for action in [StepAction::Apply, StepAction::Destroy] {
        let refused = handle(&config, request(action, "e-2")).await.unwrap_err();
        assert!(
            refused.to_string().contains("is not this environment's"),
            "{refused}"
        );
    }
    assert_eq!(queues(&client).await, vec![url.clone()]);

    let gone = handle(&config, request(StepAction::Destroy, "e-1"))
        .await
        .unwrap();
    assert_eq!(gone["done"], true);
    assert!(queues(&client).await.is_empty());
    let again = handle(&config, request(StepAction::Destroy, "e-1"))
        .await
        .unwrap();
    assert_eq!(again["done"], true, "a queue already gone is done");
    let observed = handle(&config, request(StepAction::Observe, "e-1"))
        .await
        .unwrap();
    assert_eq!(observed["drift"], "missing");
}
