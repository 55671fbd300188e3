//! Observing components for drift: each component's own function answers an `observe`
//! action (it holds the role and the code that know its resources); sync invokes them.

use std::collections::BTreeMap;
use std::future::Future;

use aws_sdk_lambda::primitives::Blob;
use strata_core::Component;
use strata_core::drift::ComponentDrift;

use crate::sdk_failure;

/// Observes one component of an environment: what its live resources look like against the
/// spec and the recorded status.
pub trait Observer: Send + Sync {
    fn observe(
        &self,
        environment: &str,
        component: Component,
    ) -> impl Future<Output = Result<ComponentDrift, String>> + Send;
}

/// [`Observer`] through Lambda Invoke of the component functions.
#[derive(Debug, Clone)]
pub struct LambdaObserver {
    client: aws_sdk_lambda::Client,
    functions: BTreeMap<Component, String>,
    /// The one function of every custom component: the request names which.
    custom: String,
}

impl LambdaObserver {
    /// The functions from `<COMPONENT>_FUNCTION` (`NETWORK_FUNCTION`, …), and
    /// `CUSTOM_FUNCTION` for the spec's own components; names or ARNs.
    pub fn from_env(client: aws_sdk_lambda::Client) -> Result<Self, String> {
        let functions = Component::BUILT_IN
            .into_iter()
            .map(|component| {
                let var = format!("{}_FUNCTION", component.name().to_uppercase());
                std::env::var(&var)
                    .map(|f| (component, f))
                    .map_err(|_| format!("{var} is not set"))
            })
            .collect::<Result<_, _>>()?;
        let custom = std::env::var("CUSTOM_FUNCTION").map_err(|_| "CUSTOM_FUNCTION is not set")?;
        Ok(Self {
            client,
            functions,
            custom,
        })
    }
}

impl Observer for LambdaObserver {
    async fn observe(
        &self,
        environment: &str,
        component: Component,
    ) -> Result<ComponentDrift, String> {
        let (function, payload) = match component {
            Component::Custom(_) => (
                &self.custom,
                serde_json::json!({"action": "observe", "environment": environment, "component": component}),
            ),
            _ => (
                &self.functions[&component],
                serde_json::json!({"action": "observe", "environment": environment}),
            ),
        };
        let out = self
            .client
            .invoke()
            .function_name(function)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| sdk_failure(&format!("Invoke {function}"), e))?;
        let body = out.payload().map(|p| p.as_ref()).unwrap_or_default();
        if out.function_error().is_some() {
            let error: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            return Err(format!(
                "{}: {}",
                error["errorType"].as_str().unwrap_or("Unhandled"),
                error["errorMessage"].as_str().unwrap_or("no message")
            ));
        }
        serde_json::from_slice(body).map_err(|e| format!("{function} answered no observation: {e}"))
    }
}
