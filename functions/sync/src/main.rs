//! Lambda entry point: wiring only. The logic is in the library, where tests reach it.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use strata_component::lambda;
use sync::{EventBus, LambdaObserver, Registries, SfnFlows, Syncer};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let config = aws_config::load_from_env().await;
    let store = lambda::store(&config)?;
    let flows = SfnFlows::from_env(aws_sdk_sfn::Client::new(&config))?;
    let bus = std::env::var("EVENT_BUS_NAME").map_err(|_| "EVENT_BUS_NAME is not set")?;
    let events = EventBus::new(aws_sdk_eventbridge::Client::new(&config), bus);
    let registries = Registries::new(config.clone());
    // Only the local stack sets it: moto makes everything at once, so polls can be quick.
    let poll_seconds = std::env::var("STRATA_POLL_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    let observer = LambdaObserver::from_env(aws_sdk_lambda::Client::new(&config))?;
    let syncer =
        &Syncer::new(store, flows, events, registries, observer).with_poll_seconds(poll_seconds);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let span = tracing::info_span!(
            "sync",
            function = "sync",
            environment = event.payload["environment"].as_str().unwrap_or("*"),
            execution = %event.context.request_id,
        );
        sync::handle(syncer, event.payload, lambda::now())
            .instrument(span)
            .await
            .map_err(|e| lambda::diagnostic(e.name(), &e))
    }))
    .await
}
