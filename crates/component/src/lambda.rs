//! A component Lambda's whole `main`: the shared boot code (strata-runtime), one SDK
//! config, the store, and the handler served under its stable error names.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use strata_store::DynamoStore;

use crate::ComponentHandler;
pub use strata_runtime::lambda::{answer, diagnostic, init_tracing, now, span};

/// The state table named by `TABLE_NAME`.
pub fn store(config: &aws_config::SdkConfig) -> Result<DynamoStore, lambda_runtime::Error> {
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    Ok(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(config),
        table,
    ))
}

/// The whole `main` of a component Lambda: logs, one SDK config, the store, and the handler
/// built from the config, served until the runtime stops.
pub async fn run_component<H, F>(handler: F) -> Result<(), lambda_runtime::Error>
where
    H: ComponentHandler,
    F: FnOnce(aws_config::SdkConfig) -> H,
{
    init_tracing();
    let config = aws_config::load_from_env().await;
    let store = store(&config)?;
    // Boxed: the runtime's future nests the handler's, too deep to lay out inside `main`'s.
    Box::pin(serve(store, handler(config))).await
}

/// Serves a component handler until the runtime stops.
pub async fn serve<H: ComponentHandler>(
    store: DynamoStore,
    handler: H,
) -> Result<(), lambda_runtime::Error> {
    let (store, handler) = (&store, &handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let span = span(handler.component().name(), &event.payload);
        let handled = crate::handle(store, handler, event.payload, now());
        answer(span, handled, |e| e.name()).await
    }))
    .await
}
