//! What EC2's creates ask of every step: no SDK retry of a create that has no idempotency
//! token (`once`), waiting out eventual consistency after one (`until_known`), and the small
//! values the calls share.

use aws_sdk_ec2::types::AttributeBooleanValue;
use strata_component::ComponentError;
use strata_component::aws::{classify, code};

/// For a create EC2 cannot repeat safely (no idempotency token): the SDK must not send it
/// again after an answer was lost, or a second VPC (gateway, route table, address) is
/// made. The step fails transient instead, and its next attempt finds by its tags what
/// the first made.
pub(crate) fn once() -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::config::Builder::default()
        .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
}

/// EC2 is eventually consistent: an id a `Create*` just answered may be unknown to the
/// next calls for a moment (the EC2 API reference: "wait and retry"). Waits until a
/// describe by the id finds it — 100 ms doubling to 2 s, about 7 s in all — so the calls
/// that follow in this step name something EC2 knows. Still unknown then: transient, and
/// the state machine's retry finds the resource by its tags.
pub(crate) async fn until_known<F, Fut, T, E>(what: &str, describe: F) -> Result<(), ComponentError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<
            Output = Result<
                T,
                aws_sdk_ec2::error::SdkError<E, aws_sdk_ec2::config::http::HttpResponse>,
            >,
        >,
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut wait = std::time::Duration::from_millis(100);
    for _ in 0..7 {
        match describe().await {
            Ok(_) => return Ok(()),
            Err(e) if code(&e).is_some_and(|c| c.ends_with(".NotFound")) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(2));
            }
            Err(e) => return Err(classify(what, e)),
        }
    }
    Err(ComponentError::AwsTransient(format!(
        "{what}: still unknown to EC2 after its create"
    )))
}

/// The id a create (`creating`) answered; none is a refusal.
pub(crate) fn returned_id(creating: &str, id: Option<&str>) -> Result<String, ComponentError> {
    id.map(str::to_owned)
        .ok_or_else(|| rejected(format!("{creating} returned no id")))
}

pub(crate) fn enabled() -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(true).build()
}

pub(crate) fn rejected(message: String) -> ComponentError {
    ComponentError::AwsRejected(message)
}
