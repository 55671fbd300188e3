//! The example function's entry point: a component step (the contract's [`StepRequest`]) or
//! a post-deploy check ([`PostDeployRequest`]: no `action`), answered by the library.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use strata_example_component::Failure;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = &aws_config::load_from_env().await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let request = event.payload;
        let invalid = |e: serde_json::Error| Failure(format!("not a request Strata sends: {e}"));
        match request.get("action") {
            Some(_) => {
                let step = serde_json::from_value(request).map_err(invalid)?;
                strata_example_component::handle(config, step).await
            }
            None => {
                let check = serde_json::from_value(request).map_err(invalid)?;
                strata_example_component::smoke(config, check).await
            }
        }
    }))
    .await
}
