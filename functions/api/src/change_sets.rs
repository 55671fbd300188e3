//! What a plan shows of an in-place change to a cloudFormation component's standing stack:
//! the custom function makes a change set for it, reads it and deletes it
//! (`{action: preview, …}`), so the API needs no CloudFormation permission of its own.

use aws_sdk_lambda::primitives::Blob;
use strata_core::custom::{CustomComponentSpec, StackPreview};

/// Previews a stack change.
pub trait ChangeSets: Send + Sync {
    fn preview(
        &self,
        environment: &str,
        component: &CustomComponentSpec,
    ) -> impl Future<Output = StackPreview> + Send;
}

/// No previews: the plan says so for each such component.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoChangeSets;

impl ChangeSets for NoChangeSets {
    async fn preview(&self, _environment: &str, _component: &CustomComponentSpec) -> StackPreview {
        StackPreview::unavailable("this API makes no change sets")
    }
}

/// Through the custom function (`CUSTOM_FUNCTION`, set by the template).
pub struct LambdaChangeSets {
    client: aws_sdk_lambda::Client,
    function: String,
}

impl LambdaChangeSets {
    pub fn from_env(client: aws_sdk_lambda::Client) -> Result<Self, String> {
        let function =
            std::env::var("CUSTOM_FUNCTION").map_err(|_| "CUSTOM_FUNCTION is not set")?;
        Ok(Self { client, function })
    }
}

impl ChangeSets for LambdaChangeSets {
    async fn preview(&self, environment: &str, component: &CustomComponentSpec) -> StackPreview {
        let request = serde_json::json!({
            "action": "preview",
            "environment": environment,
            "component": component,
        });
        let answer = self
            .client
            .invoke()
            .function_name(&self.function)
            .payload(Blob::new(request.to_string()))
            .send()
            .await;
        let out = match answer {
            Ok(out) => out,
            Err(e) => {
                return StackPreview::unavailable(format!(
                    "the custom function could not be asked: {}",
                    aws_sdk_lambda::error::DisplayErrorContext(&e)
                ));
            }
        };
        let body = out.payload.map(Blob::into_inner).unwrap_or_default();
        if out.function_error.is_some() {
            let reported: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            return StackPreview::unavailable(format!(
                "{}: {}",
                reported["errorType"].as_str().unwrap_or("Error"),
                reported["errorMessage"].as_str().unwrap_or("no message")
            ));
        }
        serde_json::from_slice(&body).unwrap_or_else(|e| {
            StackPreview::unavailable(format!(
                "the custom function's answer is not a preview: {e}"
            ))
        })
    }
}
