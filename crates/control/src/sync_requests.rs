//! Handing one environment's sync to the sync function: the API's "sync now" reads live
//! resources, which can take longer than API Gateway's 30 s, so it is invoked
//! asynchronously (Lambda retries it, then its on-failure destination takes it).

use std::future::Future;

use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde::{Deserialize, Serialize};

use crate::flows::FlowError;

/// The sync function's input for one environment, now: what the API sends and the sync
/// function reads (one type for both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncRequest {
    pub environment: String,
    /// Names the run: its `Synced` event's actor is `sync/<run>`, which is how the caller
    /// finds the result in the history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Who asked (the API's caller), for the history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

pub trait SyncRequests: Send + Sync {
    /// Queues the sync; it runs after this answers.
    fn request(&self, request: &SyncRequest) -> impl Future<Output = Result<(), FlowError>> + Send;
}

/// [`SyncRequests`] through Lambda's asynchronous Invoke of the sync function.
#[derive(Debug, Clone)]
pub struct LambdaSyncRequests {
    client: aws_sdk_lambda::Client,
    function: String,
}

impl LambdaSyncRequests {
    /// The function from `SYNC_FUNCTION_NAME` (the template sets it).
    pub fn from_env(client: aws_sdk_lambda::Client) -> Result<Self, String> {
        let function =
            std::env::var("SYNC_FUNCTION_NAME").map_err(|_| "SYNC_FUNCTION_NAME is not set")?;
        Ok(Self { client, function })
    }
}

impl SyncRequests for LambdaSyncRequests {
    async fn request(&self, request: &SyncRequest) -> Result<(), FlowError> {
        let payload = serde_json::to_vec(request).expect("a sync request serialises");
        self.client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| {
                FlowError::Unavailable(
                    DisplayErrorContext(&e)
                        .to_string()
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })?;
        Ok(())
    }
}
