//! An example of a team's own component function: what a custom component of kind `lambda`
//! looks like (`contracts/custom-component.schema.json`). It keeps one SQS queue per
//! environment and component, `strata-<environment>-<component>`, with the tags Strata
//! hands it, and answers its URL and ARN as outputs. The input `VisibilityTimeout`, if
//! given, is the queue's.
//!
//! What the contract asks of it, and how this one does it:
//! - **idempotent**: CreateQueue with the same name and attributes answers the same queue;
//!   DeleteQueue of a queue already gone is done;
//! - **ownership**: a queue of that name whose tags are not the ones Strata handed over is
//!   someone else's, and the step fails rather than adopt or delete it;
//! - **answers at once**: SQS makes a queue in one call, so every step is `done`.
//!
//! It is also an example of a post-deploy function (`spec.postDeploy`,
//! [`strata_core::post_deploy`]): given the environment's outputs, it checks that every
//! queue they name answers, and reports what it checked.

use std::collections::BTreeMap;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;
use strata_core::component_contract::{
    ObserveAnswer, ObservedDrift, ObservedField, StepAction, StepAnswer, StepRequest,
};
use strata_core::post_deploy::PostDeployRequest;

/// Why a step failed: the function's error, which Strata reports as `FunctionFailed` with
/// this text.
#[derive(Debug)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

/// What Lambda reports for a failed step: Strata shows the type and the message.
impl From<Failure> for lambda_runtime::Diagnostic {
    fn from(failure: Failure) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "QueueStepFailed".into(),
            error_message: failure.0,
        }
    }
}

fn failed<E: ProvideErrorMetadata>(call: &str, e: E) -> Failure {
    Failure(format!(
        "{call}: {}: {}",
        e.code().unwrap_or("UnknownError"),
        e.message().unwrap_or("no message")
    ))
}

fn queue_name(request: &StepRequest) -> String {
    format!("strata-{}-{}", request.environment, request.component)
}

/// One request of the contract, answered as JSON. The queue lives in the environment's
/// region.
pub async fn handle(
    config: &aws_config::SdkConfig,
    request: StepRequest,
) -> Result<serde_json::Value, Failure> {
    let client = &Client::from_conf(
        aws_sdk_sqs::config::Builder::from(config)
            .region(aws_config::Region::new(request.region.clone()))
            .build(),
    );
    let answer = match request.action {
        StepAction::Apply => serde_json::to_value(apply(client, &request).await?),
        StepAction::Destroy => serde_json::to_value(destroy(client, &request).await?),
        StepAction::Observe => serde_json::to_value(observe(client, &request).await?),
    };
    Ok(answer.expect("answers serialise"))
}

/// The post-deploy check: every output that is a queue URL (`…QueueUrl`, `queueUrl`) names
/// a queue that answers. The answer is what Strata keeps as `postDeployOutput`.
pub async fn smoke(
    config: &aws_config::SdkConfig,
    request: PostDeployRequest,
) -> Result<serde_json::Value, Failure> {
    let client = &Client::from_conf(
        aws_sdk_sqs::config::Builder::from(config)
            .region(aws_config::Region::new(request.region.clone()))
            .build(),
    );
    let mut checked = BTreeMap::new();
    for (component, outputs) in &request.outputs {
        for (key, url) in outputs {
            if !key.to_ascii_lowercase().ends_with("queueurl") {
                continue;
            }
            client
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|e| failed(&format!("{component}.{key}"), e.into_service_error()))?;
            checked.insert(format!("{component}.{key}"), "answers");
        }
    }
    Ok(serde_json::json!({ "environment": request.environment, "queues": checked }))
}

/// The queue's URL if it exists.
async fn find(client: &Client, name: &str) -> Result<Option<String>, Failure> {
    match client.get_queue_url().queue_name(name).send().await {
        Ok(out) => Ok(out.queue_url),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_queue_does_not_exist()) =>
        {
            Ok(None)
        }
        Err(e) => Err(failed("GetQueueUrl", e.into_service_error())),
    }
}

/// Refuses a queue whose tags differ from the ones Strata handed over.
async fn check_owned(client: &Client, url: &str, request: &StepRequest) -> Result<(), Failure> {
    let tags = client
        .list_queue_tags()
        .queue_url(url)
        .send()
        .await
        .map_err(|e| failed("ListQueueTags", e.into_service_error()))?
        .tags
        .unwrap_or_default();
    for (key, wanted) in &request.tags {
        if tags.get(key) != Some(wanted) {
            return Err(Failure(format!(
                "{url} is not this environment's: its tag {key} is {:?}, not {wanted:?}",
                tags.get(key)
            )));
        }
    }
    Ok(())
}

fn attributes(request: &StepRequest) -> BTreeMap<QueueAttributeName, String> {
    request
        .inputs
        .get("VisibilityTimeout")
        .map(|v| (QueueAttributeName::VisibilityTimeout, v.clone()))
        .into_iter()
        .collect()
}

async fn apply(client: &Client, request: &StepRequest) -> Result<StepAnswer, Failure> {
    let name = queue_name(request);
    let url = match find(client, &name).await? {
        Some(url) => {
            check_owned(client, &url, request).await?;
            if !attributes(request).is_empty() {
                client
                    .set_queue_attributes()
                    .queue_url(&url)
                    .set_attributes(Some(attributes(request).into_iter().collect()))
                    .send()
                    .await
                    .map_err(|e| failed("SetQueueAttributes", e.into_service_error()))?;
            }
            url
        }
        None => client
            .create_queue()
            .queue_name(&name)
            .set_attributes(Some(attributes(request).into_iter().collect()))
            .set_tags(Some(request.tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| failed("CreateQueue", e.into_service_error()))?
            .queue_url
            .ok_or_else(|| Failure("CreateQueue answered no URL".into()))?,
    };
    let arn = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| failed("GetQueueAttributes", e.into_service_error()))?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    Ok(StepAnswer {
        done: true,
        phase: None,
        resource_ids: BTreeMap::from([("queueUrl".to_owned(), url.clone())]),
        outputs: BTreeMap::from([("queueUrl".to_owned(), url), ("queueArn".to_owned(), arn)]),
    })
}

async fn destroy(client: &Client, request: &StepRequest) -> Result<StepAnswer, Failure> {
    if let Some(url) = find(client, &queue_name(request)).await? {
        check_owned(client, &url, request).await?;
        client
            .delete_queue()
            .queue_url(&url)
            .send()
            .await
            .map_err(|e| failed("DeleteQueue", e.into_service_error()))?;
    }
    Ok(StepAnswer {
        done: true,
        phase: None,
        resource_ids: BTreeMap::new(),
        outputs: BTreeMap::new(),
    })
}

async fn observe(client: &Client, request: &StepRequest) -> Result<ObserveAnswer, Failure> {
    let Some(url) = find(client, &queue_name(request)).await? else {
        return Ok(ObserveAnswer {
            drift: ObservedDrift::Missing,
            fields: Vec::new(),
        });
    };
    let live = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .map_err(|e| failed("GetQueueAttributes", e.into_service_error()))?
        .attributes
        .unwrap_or_default();
    let fields: Vec<ObservedField> = attributes(request)
        .into_iter()
        .filter(|(name, wanted)| live.get(name) != Some(wanted))
        .map(|(name, wanted)| ObservedField {
            path: format!("{url}/{}", name.as_str()),
            expected: wanted,
            observed: live.get(&name).cloned().unwrap_or_default(),
        })
        .collect();
    Ok(ObserveAnswer {
        drift: if fields.is_empty() {
            ObservedDrift::InSync
        } else {
            ObservedDrift::Drifted
        },
        fields,
    })
}
