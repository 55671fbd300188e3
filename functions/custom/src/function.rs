//! Kind `lambda`: the team's function follows the component contract
//! ([`strata_core::component_contract`]); each step invokes it once (RequestResponse) with
//! the resolved inputs, the ownership tags and what was recorded, and records its answer.

use std::collections::BTreeMap;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use serde_json::Value;
use strata_component::{ComponentError, Progress, Step};
use strata_core::Component;
use strata_core::component_contract::{
    ObserveAnswer, ObservedDrift, StepAction, StepAnswer, StepRequest,
};
use strata_core::drift::{FieldDrift, Observed};

pub struct Function<'a> {
    pub client: Client,
    pub function_arn: &'a str,
    pub step: &'a Step<'a>,
    pub component: Component,
    pub inputs: BTreeMap<String, String>,
}

impl Function<'_> {
    fn request(&self, action: StepAction) -> StepRequest {
        let step = self.step;
        StepRequest {
            action,
            environment: step.context.environment.clone(),
            component: self.component.name().to_owned(),
            region: step.environment.spec.region.clone(),
            inputs: self.inputs.clone(),
            tags: step
                .owner
                .tags(self.component)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            execution: step.context.execution.clone(),
            previous: step.previous.map(crate::recorded).unwrap_or_default(),
        }
    }

    /// Invokes the team's function and answers its bytes; a function error is the step's.
    async fn invoke(&self, request: &StepRequest) -> Result<Vec<u8>, ComponentError> {
        let function = self.function_arn;
        let payload = serde_json::to_vec(request).expect("a step request serialises");
        let out = self
            .client
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

    pub async fn step(&self, action: StepAction) -> Result<Progress, ComponentError> {
        let body = self.invoke(&self.request(action)).await?;
        let answer = StepAnswer::parse(&body, action).map_err(|why| {
            ComponentError::FunctionFailed(format!(
                "{} broke the component contract: {why}",
                self.function_arn
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

    pub async fn observe(&self) -> Result<Observed, ComponentError> {
        let body = self.invoke(&self.request(StepAction::Observe)).await?;
        let answer: ObserveAnswer = serde_json::from_slice(&body).map_err(|e| {
            ComponentError::FunctionFailed(format!(
                "{} broke the component contract: the answer to observe is not an observation: {e}",
                self.function_arn
            ))
        })?;
        Ok(match answer.drift {
            ObservedDrift::InSync => Observed::InSync,
            ObservedDrift::Missing => Observed::Missing {
                resources: self
                    .step
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
