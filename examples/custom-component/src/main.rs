//! The example component function's entry point: the request parsed as the contract's
//! [`StepRequest`], answered by the library.

use lambda_runtime::{LambdaEvent, service_fn};
use strata_core::component_contract::StepRequest;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = &aws_config::load_from_env().await;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<StepRequest>| async move {
            strata_example_component::handle(config, event.payload).await
        },
    ))
    .await
}
