//! The payload quotas AWS enforces, refused by the router as AWS would refuse them (moto's
//! own checks are not relied on), so a spec that grows a state's data past the limit fails
//! here as it would on AWS.
//!
//! - Step Functions, "Maximum input or output size for a task, state, or execution: 256 KiB
//!   of data as a UTF-8 encoded string" (Step Functions quotas, "Quotas related to state
//!   machine executions"): a task's payload or result over it fails the state with
//!   `States.DataLimitExceeded`; an execution input over it is a `ValidationException`.
//! - Lambda, "Invocation payload (request and response): 6 MB each for synchronous, 1 MB for
//!   asynchronous" (Lambda quotas, "Function configuration, deployment, and execution").

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::router::{function_error, service_error};

pub const STATE_DATA_BYTES: usize = 256 * 1024;
pub const SYNC_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
pub const ASYNC_PAYLOAD_BYTES: usize = 1024 * 1024;

/// Who invokes a function, for the limit that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invoker {
    /// Another function (the api handing a sync on, the custom function a team's).
    Function,
    /// A state machine's task: moto's interpreter, or a test standing in for it.
    StateMachine,
}

/// The answer AWS gives instead of invoking, when the request is over a quota.
pub(crate) fn refuse_invoke(
    invoker: Invoker,
    asynchronous: bool,
    payload: usize,
) -> Option<Response<Full<Bytes>>> {
    let limit = match asynchronous {
        true => ASYNC_PAYLOAD_BYTES,
        false => SYNC_PAYLOAD_BYTES,
    };
    if payload > limit {
        return Some(service_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "User",
            None,
            "RequestEntityTooLargeException",
            &format!("Request must be smaller than {limit} bytes for the InvokeFunction operation"),
        ));
    }
    (invoker == Invoker::StateMachine && payload > STATE_DATA_BYTES)
        .then(|| data_limit_exceeded("input", payload))
}

/// The answer AWS gives instead of a function's result over a quota (a synchronous one).
pub(crate) fn refuse_result(invoker: Invoker, result: usize) -> Option<Response<Full<Bytes>>> {
    if result > SYNC_PAYLOAD_BYTES {
        return Some(function_error(
            "Function.ResponseSizeTooLarge",
            &format!(
                "Response payload size exceeded maximum allowed payload size ({SYNC_PAYLOAD_BYTES} bytes)."
            ),
        ));
    }
    (invoker == Invoker::StateMachine && result > STATE_DATA_BYTES)
        .then(|| data_limit_exceeded("result", result))
}

/// A `StartExecution` whose input is over the execution data limit: `body` is its JSON.
pub(crate) fn refuse_start(body: &[u8]) -> Option<Response<Full<Bytes>>> {
    let request: serde_json::Value = serde_json::from_slice(body).ok()?;
    let input = request.get("input")?.as_str()?;
    (input.len() > STATE_DATA_BYTES).then(|| {
        let message = format!(
            "1 validation error detected: Value at 'input' failed to satisfy constraint: \
             Member must have length less than or equal to {STATE_DATA_BYTES}"
        );
        Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amzn-ErrorType", "ValidationException")
            .body(Full::new(Bytes::from(
                serde_json::json!({"__type": "ValidationException", "message": message})
                    .to_string(),
            )))
            .expect("static headers are valid")
    })
}

fn data_limit_exceeded(what: &str, size: usize) -> Response<Full<Bytes>> {
    function_error(
        "States.DataLimitExceeded",
        &format!(
            "The state's {what} is {size} bytes, over Step Functions' maximum of {STATE_DATA_BYTES}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_type(response: &Response<Full<Bytes>>) -> String {
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &hyper::header::HeaderValue| v.to_str().unwrap().to_owned())
        };
        header("x-amzn-ErrorType").unwrap_or_else(|| {
            assert_eq!(header("X-Amz-Function-Error").as_deref(), Some("Unhandled"));
            "function error".into()
        })
    }

    #[test]
    fn a_state_s_data_is_limited_to_256_kib_and_an_invocation_to_lambda_s_payloads() {
        let sfn = Invoker::StateMachine;
        assert!(refuse_invoke(sfn, false, STATE_DATA_BYTES).is_none());
        let over = refuse_invoke(sfn, false, STATE_DATA_BYTES + 1).unwrap();
        assert_eq!(error_type(&over), "function error");
        assert!(refuse_result(sfn, STATE_DATA_BYTES + 1).is_some());
        // A function invoking another is held to Lambda's own limits only.
        let function = Invoker::Function;
        assert!(refuse_invoke(function, false, STATE_DATA_BYTES + 1).is_none());
        assert!(refuse_invoke(function, true, ASYNC_PAYLOAD_BYTES).is_none());
        let async_over = refuse_invoke(function, true, ASYNC_PAYLOAD_BYTES + 1).unwrap();
        assert_eq!(async_over.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(error_type(&async_over), "RequestEntityTooLargeException");
        assert!(refuse_invoke(function, false, SYNC_PAYLOAD_BYTES + 1).is_some());
        assert!(refuse_result(function, SYNC_PAYLOAD_BYTES).is_none());
        assert!(refuse_result(function, SYNC_PAYLOAD_BYTES + 1).is_some());
    }

    #[test]
    fn an_execution_input_over_256_kib_is_refused() {
        let input = |n: usize| serde_json::json!({"input": "x".repeat(n)}).to_string();
        assert!(refuse_start(input(STATE_DATA_BYTES).as_bytes()).is_none());
        let refused = refuse_start(input(STATE_DATA_BYTES + 1).as_bytes()).unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error_type(&refused), "ValidationException");
    }
}
