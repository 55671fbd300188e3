//! Lambda entry point: wiring only. The logic is in the library, where tests reach it.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use strata_component::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let config = aws_config::load_from_env().await;
    let syncer = &strata_sync::deployed(&config)?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let span = tracing::info_span!(
            "sync",
            function = "sync",
            environment = event.payload["environment"].as_str().unwrap_or("*"),
            execution = %event.context.request_id,
        );
        let handled = strata_sync::handle(syncer, event.payload, lambda::now());
        lambda::answer(span, handled, |e| e.name()).await
    }))
    .await
}
