//! Lambda entry point: wiring only. The logic is in the library, where tests reach it.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use strata_store::DynamoStore;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(true)
        .without_time()
        .init();
    let config = aws_config::load_from_env().await;
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let span = tracing::info_span!(
            "lifecycle",
            environment = %lifecycle::environment_of(&event.payload),
            execution = %lifecycle::execution_of(&event.payload),
            action = %event.payload["action"].as_str().unwrap_or("?"),
        );
        lifecycle::handle(store, event.payload, lifecycle::now())
            .instrument(span)
            .await
            .map_err(|e| {
                tracing::warn!(error_type = e.name(), "{e}");
                Diagnostic {
                    error_type: e.name().to_owned(),
                    error_message: e.to_string(),
                }
            })
    }))
    .await
}
