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
    // A delete AWS refuses while something still uses the resource: on a delete of Strata's
    // own resources in dependency order, that is what EKS and RDS leave behind (network
    // interfaces) and AWS removes minutes later.
    "DependencyViolation",
];

/// EC2 is eventually consistent: a resource just created may be `Invalid….NotFound` to the
/// next call for a while. The handlers check a NotFound that means "gone" themselves, before
/// classifying.
fn eventually_consistent(code: &str) -> bool {
    code.starts_with("Invalid") && code.ends_with(".NotFound")
}

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
            let code = e.err().code().unwrap_or_default();
            e.raw().status().is_server_error()
                || TRANSIENT_CODES.contains(&code)
                || eventually_consistent(code)
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_smithy_types::body::SdkBody;

    fn answered(code: &str, status: u16) -> ComponentError {
        let err = GetItemError::generic(ErrorMetadata::builder().code(code).message("m").build());
        let raw = Response::new(status.try_into().unwrap(), SdkBody::empty());
        classify("Call", SdkError::service_error(err, raw))
    }

    #[test]
    fn eventual_consistency_and_lingering_dependencies_are_retried_refusals_are_not() {
        for code in [
            "InvalidVpcID.NotFound",
            "InvalidRouteTableID.NotFound",
            "DependencyViolation",
            "Throttling",
        ] {
            assert!(
                matches!(answered(code, 400), ComponentError::AwsTransient(_)),
                "{code}"
            );
        }
        for code in ["VpcLimitExceeded", "InvalidParameterValue", "AccessDenied"] {
            assert!(
                matches!(answered(code, 400), ComponentError::AwsRejected(_)),
                "{code}"
            );
        }
        assert!(matches!(
            answered("Anything", 503),
            ComponentError::AwsTransient(_)
        ));
    }
}
