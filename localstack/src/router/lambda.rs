//! Lambda Invoke through the router: forwarded to `cargo lambda watch`, answered with AWS
//! Lambda's semantics (function errors, service errors, asynchronous invocations).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};

use super::Router;

const INVOKE_PREFIX: &str = "/2015-03-31/functions/";
const INVOKE_SUFFIX: &str = "/invocations";

/// The function name in an Invoke path, which may carry a name, a URL-encoded ARN, or
/// either with a `:qualifier`.
pub fn function_name(path: &str) -> Option<String> {
    let encoded = path
        .strip_prefix(INVOKE_PREFIX)?
        .strip_suffix(INVOKE_SUFFIX)?;
    let decoded = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()?
        .into_owned();
    let name = match decoded.split_once(":function:") {
        Some((_, rest)) => rest.to_owned(),
        None => decoded,
    };
    let name = name.split(':').next().unwrap_or_default();
    (!name.is_empty() && !name.contains('/')).then(|| name.to_owned())
}

impl Router {
    fn request_id(&self) -> String {
        format!(
            "strata-local-{:012}",
            self.request_ids.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// An asynchronous invocation (`X-Amz-Invocation-Type: Event`), as Lambda does it:
    /// 202 at once, the function runs afterwards and its result goes nowhere (its failure
    /// only to the log: the local stack has no on-failure destination).
    fn invoke_later(
        &self,
        request: Request<Full<Bytes>>,
        name: &str,
        request_id: String,
    ) -> Response<Full<Bytes>> {
        let client = self.client.clone();
        let (name, id) = (name.to_owned(), request_id.clone());
        tokio::spawn(async move {
            match client.request(request).await {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => eprintln!(
                    "local stack: asynchronous invocation {id} of {name} failed: HTTP {}",
                    response.status()
                ),
                Err(e) => eprintln!("local stack: asynchronous invocation {id} of {name}: {e}"),
            }
        });
        Response::builder()
            .status(StatusCode::ACCEPTED)
            .header("x-amzn-RequestId", &request_id)
            .body(Full::new(Bytes::new()))
            .expect("static headers are valid")
    }

    /// Invokes through cargo-lambda and answers as AWS Lambda does: `asynchronous` (an
    /// `Event` invocation) at once; else a function error is HTTP 200 with
    /// `X-Amz-Function-Error: Unhandled` and the handler's own errorType.
    pub(crate) async fn invoke(
        &self,
        lambda: SocketAddr,
        name: &str,
        body: Bytes,
        asynchronous: bool,
    ) -> Response<Full<Bytes>> {
        let request_id = self.request_id();
        if asynchronous {
            return self.invoke_later(invocation(lambda, name, body), name, request_id);
        }
        let dies = self.crashes.dies(name, &body, &request_id);
        let failed = |message: &str| invoke_failed(&request_id, "ServiceException", message);
        let (status, payload) = match self.client.request(invocation(lambda, name, body)).await {
            Ok(response) => {
                let status = response.status();
                match response.into_body().collect().await {
                    Ok(b) => (status, b.to_bytes()),
                    Err(e) => return failed(&e.to_string()),
                }
            }
            Err(e) => return failed(&e.to_string()),
        };
        let builder = Response::builder()
            .header("content-type", "application/json")
            .header("x-amzn-RequestId", &request_id)
            .header("X-Amz-Executed-Version", "$LATEST");
        if let Some(lost) = dies.filter(|_| status != StatusCode::NOT_FOUND) {
            return unhandled(builder, Bytes::from(lost));
        }
        match status {
            StatusCode::OK => builder
                .status(StatusCode::OK)
                .body(Full::new(payload))
                .expect("static headers are valid"),
            StatusCode::NOT_FOUND => invoke_failed(
                &request_id,
                "ResourceNotFoundException",
                &format!("Function not found: {name}"),
            ),
            _ => {
                // cargo-lambda answers 500 with the handler's {errorType, errorMessage}.
                let is_function_error = serde_json::from_slice::<serde_json::Value>(&payload)
                    .is_ok_and(|v| v.get("errorType").is_some());
                if !is_function_error {
                    return failed(&String::from_utf8_lossy(&payload));
                }
                unhandled(builder, payload)
            }
        }
    }
}

/// `POST` to cargo-lambda's invoke endpoint for `name`.
pub(crate) fn invocation(lambda: SocketAddr, name: &str, body: Bytes) -> Request<Full<Bytes>> {
    Request::post(format!(
        "http://{lambda}{INVOKE_PREFIX}{name}{INVOKE_SUFFIX}"
    ))
    .header("content-type", "application/json")
    .body(Full::new(body))
    .expect("a static request is well-formed")
}

/// An invocation Lambda itself failed (`Service`): 404 for a function that does not exist,
/// else 500.
fn invoke_failed(request_id: &str, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    let status = if error_type == "ResourceNotFoundException" {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    service_error(status, "Service", Some(request_id), error_type, message)
}

/// Lambda's error answers, one place for the router's invocations and the quotas'
/// refusals ([`crate::quotas`]).
///
/// A service (not function) error, as the Lambda API reports it: `fault` is the body's
/// `Type` (`User`: a request Lambda refuses; `Service`: its own failure), with the request's
/// id when the answer has one.
pub(crate) fn service_error(
    status: StatusCode,
    fault: &str,
    request_id: Option<&str>,
    error_type: &str,
    message: &str,
) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(request_id) = request_id {
        builder = builder.header("x-amzn-RequestId", request_id);
    }
    builder
        .header("x-amzn-ErrorType", error_type)
        .body(Full::new(Bytes::from(
            serde_json::json!({"Type": fault, "message": message}).to_string(),
        )))
        .expect("static headers are valid")
}

/// A failed invocation as its caller (a state machine's task) sees it: the function fails
/// with `error_type`.
pub(crate) fn function_error(error_type: &str, message: &str) -> Response<Full<Bytes>> {
    let payload = serde_json::json!({"errorType": error_type, "errorMessage": message});
    let builder = Response::builder().header("content-type", "application/json");
    unhandled(builder, Bytes::from(payload.to_string()))
}

/// A function error as Lambda answers it: HTTP 200 with `X-Amz-Function-Error: Unhandled`,
/// the function's `{errorType, errorMessage}` the payload.
fn unhandled(builder: hyper::http::response::Builder, payload: Bytes) -> Response<Full<Bytes>> {
    builder
        .status(StatusCode::OK)
        .header("X-Amz-Function-Error", "Unhandled")
        .body(Full::new(payload))
        .expect("static headers are valid")
}

#[cfg(test)]
mod tests {
    use super::function_name;

    #[test]
    fn invoke_paths_name_the_function() {
        for (path, expected) in [
            (
                "/2015-03-31/functions/lifecycle/invocations",
                Some("lifecycle"),
            ),
            (
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Alifecycle/invocations",
                Some("lifecycle"),
            ),
            (
                "/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:lifecycle:$LATEST/invocations",
                Some("lifecycle"),
            ),
            ("/2015-03-31/functions/lifecycle/configuration", None),
            ("/2015-03-31/functions//invocations", None),
            ("/", None),
        ] {
            assert_eq!(function_name(path).as_deref(), expected, "{path}");
        }
    }
}
