//! Lambda entry point: wiring only. The logic is in the library, where tests reach it.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use strata_component::lambda;
use strata_lifecycle::EventBus;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let config = aws_config::load_from_env().await;
    let store = &lambda::store(&config)?;
    let bus = std::env::var("EVENT_BUS_NAME").map_err(|_| "EVENT_BUS_NAME is not set")?;
    let events = &EventBus::new(aws_sdk_eventbridge::Client::new(&config), bus);
    let stack: &str =
        &std::env::var("STRATA_CONTROL_PLANE").map_err(|_| "no STRATA_CONTROL_PLANE")?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let span = lambda::span("lifecycle", &event.payload);
        let handled = strata_lifecycle::handle(store, events, stack, event.payload, lambda::now());
        lambda::answer(span, handled, |e| e.name()).await
    }))
    .await
}
