//! The environment's own components (`spec.components`, [`strata_core::custom`]). One
//! function runs every custom component: the request names which (`component`), and the
//! spec says how it is deployed. The steps go through [`strata_component::run`] like every
//! built-in component's, so the fence, the step claim, the deadline, the dependency checks
//! and the recorded status are the same.
//!
//! Kind `lambda`: the team's function follows the component contract
//! ([`strata_core::component_contract`]); each step invokes it once (RequestResponse) with the
//! resolved inputs, the ownership tags and what was recorded, and records its answer.
//! Kind `cloudFormation` is not run yet: its step fails `InvalidInput` naming the field.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use serde_json::Value;
use strata_component::{ComponentError, ComponentHandler, Progress, Step};
use strata_core::component_contract::{
    ObserveAnswer, ObservedDrift, Recorded, StepAction, StepAnswer, StepRequest,
};
use strata_core::custom::{Kind, OutputRef};
use strata_core::drift::{FieldDrift, Observed};
use strata_core::{Component, ComponentStatus};
use strata_store::Store;

/// Something that hands out the Lambda client (the SDK's, or a scripted one in tests).
pub trait ClientFor: Send + Sync {
    fn client(&self) -> Client;
}

/// The deployed function's clients, from its SDK configuration.
pub struct FromConfig(pub aws_config::SdkConfig);

impl ClientFor for FromConfig {
    fn client(&self) -> Client {
        Client::new(&self.0)
    }
}

/// One custom component's steps.
pub struct Custom<'a, C> {
    pub component: Component,
    pub clients: &'a C,
}

/// The function's input: a step (`{action, component, context}`) or sync's drift check
/// (`{action: observe, environment, component}`). `component` names the custom component.
pub async fn handle<S: Store, C: ClientFor>(
    store: &S,
    clients: &C,
    mut request: Value,
    now: u64,
) -> Result<Value, ComponentError> {
    let component = request
        .as_object_mut()
        .and_then(|o| o.remove("component"))
        .ok_or_else(|| ComponentError::InvalidInput("request.component: missing".into()))?;
    let component = component
        .as_str()
        .ok_or_else(|| ComponentError::InvalidInput("request.component: must be a string".into()))
        .and_then(|name| {
            Component::parse(name)
                .ok()
                .filter(|c| c.is_custom())
                .ok_or_else(|| {
                    ComponentError::InvalidInput(format!(
                        "request.component: {name:?} is not a custom component's name"
                    ))
                })
        })?;
    let handler = Custom { component, clients };
    strata_component::handle(store, &handler, request, now).await
}

impl<C: ClientFor> Custom<'_, C> {
    /// The request to the team's function for this step, or why it cannot be made.
    fn request(
        &self,
        step: &Step<'_>,
        action: StepAction,
    ) -> Result<(String, StepRequest), ComponentError> {
        let name = self.component.name();
        let spec = step
            .environment
            .custom_component(self.component)
            .ok_or_else(|| {
                ComponentError::InvalidInput(format!("spec.components: no component named {name}"))
            })?;
        let function = match spec.kind() {
            Some(Kind::Lambda(lambda)) => lambda.function_arn.clone(),
            Some(Kind::CloudFormation(_)) => {
                return Err(ComponentError::InvalidInput(format!(
                    "spec.components[{name}].cloudFormation: custom components of kind cloudFormation are not run by this release yet"
                )));
            }
            None => {
                return Err(ComponentError::InvalidInput(format!(
                    "spec.components[{name}]: must have exactly one of cloudFormation and lambda"
                )));
            }
        };
        let mut inputs = std::collections::BTreeMap::new();
        for (key, input) in &spec.inputs {
            let value = match (&input.value, &input.from_output) {
                (Some(value), _) => value.clone(),
                (None, Some(reference)) => resolve(step, name, key, reference)?,
                (None, None) => {
                    return Err(ComponentError::InvalidInput(format!(
                        "spec.components[{name}].inputs.{key}: must have exactly one of value and fromOutput"
                    )));
                }
            };
            inputs.insert(key.clone(), value);
        }
        let previous = step.previous.map(recorded).unwrap_or_default();
        Ok((
            function,
            StepRequest {
                action,
                environment: step.context.environment.clone(),
                component: name.to_owned(),
                region: step.environment.spec.region.clone(),
                inputs,
                tags: step
                    .owner
                    .tags(self.component)
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
                execution: step.context.execution.clone(),
                previous,
            },
        ))
    }

    /// Invokes the team's function and answers its bytes; a function error is the step's.
    async fn invoke(
        &self,
        function: &str,
        request: &StepRequest,
    ) -> Result<Vec<u8>, ComponentError> {
        let payload = serde_json::to_vec(request).expect("a step request serialises");
        let out = self
            .clients
            .client()
            .invoke()
            .function_name(function)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| strata_component::aws::classify(&format!("Invoke {function}"), e))?;
        let body = out.payload.map(Blob::into_inner).unwrap_or_default();
        if let Some(kind) = out.function_error {
            let reported: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            return Err(ComponentError::FunctionFailed(format!(
                "{function} failed ({kind}): {}: {}",
                reported["errorType"].as_str().unwrap_or("an unnamed error"),
                reported["errorMessage"].as_str().unwrap_or("no message")
            )));
        }
        Ok(body)
    }

    async fn step(&self, step: &Step<'_>, action: StepAction) -> Result<Progress, ComponentError> {
        let (function, request) = self.request(step, action)?;
        let body = self.invoke(&function, &request).await?;
        let answer = StepAnswer::parse(&body, action).map_err(|why| {
            ComponentError::FunctionFailed(format!(
                "{function} broke the component contract: {why}"
            ))
        })?;
        Ok(Progress {
            done: answer.done,
            phase: Some(answer.phase_for(action)),
            resource_ids: answer.resource_ids,
            outputs: answer.outputs,
            ..Progress::default()
        })
    }
}

/// `components.<c>.outputs.<key>` from the statuses of the dependencies.
fn resolve(
    step: &Step<'_>,
    name: &str,
    input: &str,
    reference: &str,
) -> Result<String, ComponentError> {
    let at = format!("spec.components[{name}].inputs.{input}.fromOutput");
    let r = OutputRef::parse(reference)
        .map_err(|why| ComponentError::InvalidInput(format!("{at}: {why}")))?;
    step.dependencies
        .get(&r.component)
        .and_then(|s| s.outputs.get(&r.key))
        .cloned()
        .ok_or_else(|| {
            ComponentError::InvalidInput(format!("{at}: {} has no output {}", r.component, r.key))
        })
}

fn recorded(status: &ComponentStatus) -> Recorded {
    Recorded {
        resource_ids: status.resource_ids.clone(),
        outputs: status.outputs.clone(),
    }
}

impl<C: ClientFor> ComponentHandler for Custom<'_, C> {
    fn component(&self) -> Component {
        self.component
    }

    async fn apply(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        self.step(step, StepAction::Apply).await
    }

    async fn destroy(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        self.step(step, StepAction::Destroy).await
    }

    async fn observe(&self, step: &Step<'_>) -> Result<Observed, ComponentError> {
        let (function, request) = self.request(step, StepAction::Observe)?;
        let body = self.invoke(&function, &request).await?;
        let answer: ObserveAnswer = serde_json::from_slice(&body).map_err(|e| {
            ComponentError::FunctionFailed(format!(
                "{function} broke the component contract: the answer to observe is not an observation: {e}"
            ))
        })?;
        Ok(match answer.drift {
            ObservedDrift::InSync => Observed::InSync,
            ObservedDrift::Missing => Observed::Missing {
                resources: step
                    .previous
                    .map(|p| p.resource_ids.values().cloned().collect())
                    .unwrap_or_default(),
            },
            ObservedDrift::Drifted => Observed::Drifted {
                fields: answer
                    .fields
                    .into_iter()
                    .map(|f| FieldDrift {
                        path: f.path,
                        expected: f.expected,
                        observed: f.observed,
                    })
                    .collect(),
            },
        })
    }
}

#[cfg(test)]
mod tests;
