//! What every Strata Lambda's `main` does: JSON logs, one SDK config, the store, and a
//! handler whose errors reach Step Functions under their stable names.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use strata_store::DynamoStore;
use tracing::Instrument;

use crate::ComponentHandler;

/// JSON logs, level from `RUST_LOG` (default `info`); the runtime adds the request id.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(true)
        .without_time()
        .init();
}

/// The state table named by `TABLE_NAME`.
pub fn store(config: &aws_config::SdkConfig) -> Result<DynamoStore, lambda_runtime::Error> {
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    Ok(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(config),
        table,
    ))
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A span naming the environment and execution a request is about (never its payload).
pub fn span(function: &str, request: &Value) -> tracing::Span {
    let context = &request["context"];
    let environment = request["input"]["environment"]
        .as_str()
        .or_else(|| context["environment"].as_str())
        .unwrap_or("?");
    let execution = request["execution"]
        .as_str()
        .or_else(|| context["execution"].as_str())
        .unwrap_or("?");
    tracing::info_span!(
        "step",
        function,
        environment,
        execution,
        action = request["action"].as_str().unwrap_or("?"),
    )
}

/// A Lambda error with the handler's stable name as its `errorType`.
pub fn diagnostic(name: &str, error: &dyn std::fmt::Display) -> Diagnostic {
    tracing::warn!(error_type = name, "{error}");
    Diagnostic {
        error_type: name.to_owned(),
        error_message: error.to_string(),
    }
}

/// One invocation run in `span`: a log line when it answers, the error under its stable
/// name when it fails — both inside the span, so both carry the environment and execution.
pub async fn answer<T, E, F>(
    span: tracing::Span,
    handled: F,
    name: impl Fn(&E) -> &'static str,
) -> Result<T, Diagnostic>
where
    F: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    // Boxed: a handler's future nests deep, too deep to lay out inline in `main`'s.
    let handled = Box::pin(handled);
    async move {
        match handled.await {
            Ok(value) => {
                tracing::info!("answered");
                Ok(value)
            }
            Err(e) => Err(diagnostic(name(&e), &e)),
        }
    }
    .instrument(span)
    .await
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
