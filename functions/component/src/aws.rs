//! Turning an AWS SDK error into the step's error: worth a retry by the state machine
//! (`AwsTransient`), or final (`AwsRejected`). The SDK has already retried throttling and
//! transient failures itself by the time a step sees them.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::ComponentError;

/// Error codes AWS services use for throttling and passing trouble.
const TRANSIENT_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "RequestTimeout",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "InternalError",
];

/// Classifies `err` from the call `what` (e.g. `CreateBucket strata-staging-assets`).
pub fn classify<E>(what: &str, err: SdkError<E, Response>) -> ComponentError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => {
            e.raw().status().is_server_error()
                || TRANSIENT_CODES.contains(&e.err().code().unwrap_or_default())
        }
        _ => false,
    };
    let message = match &err {
        SdkError::ServiceError(e) => format!(
            "{what}: {} (HTTP {}): {}",
            e.err().code().unwrap_or("UnknownError"),
            e.raw().status().as_u16(),
            e.err().message().unwrap_or("no message")
        ),
        other => format!("{what}: {}", strata_core::error_chain(other)),
    };
    if transient {
        ComponentError::AwsTransient(message)
    } else {
        ComponentError::AwsRejected(message)
    }
}

/// The service's error code, if the call reached the service.
pub fn code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    err.as_service_error().and_then(ProvideErrorMetadata::code)
}
