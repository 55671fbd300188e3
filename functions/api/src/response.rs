//! Answers as responses: a contract body as JSON with its status, and the 202 that names a
//! started (or already running) operation and where to follow it.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;
use strata_api_types::Accepted;
use strata_control::Started;
use strata_core::{OperationKind, Scope};

/// A contract body as JSON with `status`.
pub(crate) fn respond(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let text = serde_json::to_string(body).expect("the contract's bodies serialise");
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub(crate) fn accepted(
    name: &str,
    operation: OperationKind,
    generation: u64,
    started: &Started,
    scope: Option<Scope>,
) -> Response<Body> {
    let execution = &started.execution;
    let arn = (!started.arn.is_empty()).then_some(&started.arn);
    let status_url = format!("/environments/{name}");
    let mut response = respond(
        StatusCode::ACCEPTED,
        &Accepted {
            environment: name.to_owned(),
            operation: operation.name().to_owned(),
            generation,
            execution: execution.clone(),
            execution_arn: arn.cloned(),
            scope,
            status_url: status_url.clone(),
        },
    );
    if let Ok(value) = HeaderValue::from_str(&status_url) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
