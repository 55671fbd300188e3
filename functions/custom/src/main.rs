//! Lambda entry point for the custom components: wiring only.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use strata_component::lambda;
use strata_custom::{Clients, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let config = aws_config::load_from_env().await;
    let store = lambda::store(&config)?;
    let settings = Settings::from_env();
    let (store, clients, settings) = (&store, &Clients::new(config), &settings);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let span = lambda::span("custom", &event.payload);
        let handled = strata_custom::handle(store, clients, settings, event.payload, lambda::now());
        lambda::answer(span, handled, |e| e.name()).await
    }))
    .await
}
