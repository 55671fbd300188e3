//! The post-deploy step ([`strata_core::post_deploy`]): the team's function is invoked once
//! with the environment's outputs; its answer is kept only when it is bounded JSON holding
//! none of the environment's secret values. The function failing is the step's outcome, not
//! its error: `finish` decides whether that fails the `up` (`required`). Only AWS trouble
//! reaching the function, or the store's, fails the step (and the state machine retries it).

use aws_sdk_lambda::primitives::Blob;
use serde_json::Value;
use strata_component::ComponentError;
use strata_core::OperationContext;
use strata_core::post_deploy::{PostDeployOutcome, PostDeployRequest, check_output};
use strata_store::Store;

use crate::AwsClients;

pub async fn run<S: Store, C: AwsClients>(
    store: &S,
    clients: &C,
    context: &OperationContext,
) -> Result<PostDeployOutcome, ComponentError> {
    let name = &context.environment;
    let spec = store
        .get_spec(name)
        .await?
        .ok_or_else(|| ComponentError::EnvironmentNotFound(name.clone()))?;
    let env = &spec.environment;
    let post = env.spec.post_deploy.as_ref().ok_or_else(|| {
        ComponentError::InvalidInput(format!(
            "spec.postDeploy: environment {name} has none (the spec changed since the up began)"
        ))
    })?;
    let function = post.lambda.function_arn.as_str();
    let statuses = store
        .get_status(name)
        .await?
        .map(|s| s.value.components)
        .unwrap_or_default();
    let secrets =
        strata_secret_values::of_environment(|r| clients.secrets(r), env, &statuses).await?;
    // The function's own words are checked as its answer is: neither may carry a secret.
    let unless_secret = |text: String| match check_output(
        &serde_json::to_vec(&Value::String(text.clone())).unwrap_or_default(),
        &secrets,
    ) {
        Ok(_) => text,
        Err(why) => format!("its error message was withheld: {why}"),
    };
    let request = PostDeployRequest::new(env, &context.execution, &statuses);
    let payload = serde_json::to_vec(&request).expect("a request serialises");
    let answer = clients
        .lambda()
        .invoke()
        .function_name(function)
        .payload(Blob::new(payload))
        .send()
        .await;
    let out = match answer {
        Ok(out) => out,
        Err(e) => {
            return match strata_component::aws::classify(&format!("Invoke {function}"), e) {
                // Throttled or unreachable: the state machine tries again.
                transient @ ComponentError::AwsTransient(_) => Err(transient),
                refused => Ok(PostDeployOutcome::failed(function, refused.to_string())),
            };
        }
    };
    let body = out.payload.map(Blob::into_inner).unwrap_or_default();
    if let Some(kind) = out.function_error {
        let reported: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let message = format!(
            "{kind}: {}: {}",
            reported["errorType"].as_str().unwrap_or("an unnamed error"),
            reported["errorMessage"].as_str().unwrap_or("no message")
        );
        return Ok(PostDeployOutcome::failed(function, unless_secret(message)));
    }
    Ok(match check_output(&body, &secrets) {
        Ok(output) => PostDeployOutcome {
            function_arn: function.to_owned(),
            succeeded: true,
            output: Some(output),
            error: None,
        },
        Err(why) => PostDeployOutcome::failed(function, why),
    })
}

#[cfg(test)]
mod tests;
