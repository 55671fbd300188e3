//! Lambda entry point: wiring only. The logic is in the library, where tests reach it.

use lambda_http::{Request, RequestExt, service_fn};
use strata_component::lambda;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let api = &strata_api::deployed(&aws_config::load_from_env().await)?;
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
