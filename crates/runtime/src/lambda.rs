//! What every Strata Lambda's `main` does: JSON logs, a span naming the environment and
//! execution, and errors that reach Step Functions under their stable names.

use lambda_runtime::Diagnostic;
use serde_json::Value;
use tracing::Instrument;

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
