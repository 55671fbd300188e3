//! Lambda entry point: wiring only. The logic is in the library, where tests reach it.

use api::{Api, EventBus, LambdaObserver, Registries, SfnFlows};
use lambda_http::{Request, RequestExt, service_fn};
use strata_component::lambda;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let config = aws_config::load_from_env().await;
    let store = lambda::store(&config)?;
    let flows = SfnFlows::from_env(aws_sdk_sfn::Client::new(&config))?;
    // Only the local stack sets it: moto makes everything at once, so polls can be quick.
    let poll_seconds = std::env::var("STRATA_POLL_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    let bus = std::env::var("EVENT_BUS_NAME").map_err(|_| "EVENT_BUS_NAME is not set")?;
    let events = EventBus::new(aws_sdk_eventbridge::Client::new(&config), bus);
    let registries = Registries::new(config.clone());
    let observer = LambdaObserver::from_env(aws_sdk_lambda::Client::new(&config))?;
    let api = &Api::new(store, flows, events, registries, observer, poll_seconds);
    lambda_http::run(service_fn(move |request: Request| async move {
        let span = tracing::info_span!(
            "request",
            function = "api",
            method = %request.method(),
            path = request.raw_http_path(),
        );
        Ok::<_, std::convert::Infallible>(api.handle(request, lambda::now()).instrument(span).await)
    }))
    .await
}
