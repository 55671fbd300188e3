//! Lambda entry point: wiring only. The logic is in the library, where tests reach it.

use api::{Api, LambdaSyncRequests, Operations, SfnFlows};
use lambda_http::{Request, RequestExt, service_fn};
use strata_component::lambda;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let config = aws_config::load_from_env().await;
    let flows = SfnFlows::from_env(aws_sdk_sfn::Client::new(&config))?;
    let operations = Operations::new(lambda::store(&config)?, flows).with_poll_seconds_from_env();
    let syncs = LambdaSyncRequests::from_env(aws_sdk_lambda::Client::new(&config))?;
    let api = &Api::from_env(operations, syncs)?;
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
