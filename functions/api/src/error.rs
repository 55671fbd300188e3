//! The API's error: every refusal and failure as one type, with its HTTP status, the stable
//! code clients match on, and the JSON error body it answers as.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use strata_api_types::{ErrorBody, ErrorCode, ErrorDetail, FieldProblem};
use strata_control::{FlowError, StartError};
use strata_core::{FieldError, Plan};
use strata_store::StoreError;

use crate::response::respond;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("the request is invalid: {}", lines(.0))]
    Invalid(Vec<FieldError>),
    #[error("no route for {method} {path}")]
    NoRoute { method: String, path: String },
    #[error("environment {0} does not exist")]
    EnvironmentNotFound(String),
    #[error("{method} is not allowed on {path}; allowed: {allow}")]
    MethodNotAllowed {
        method: String,
        path: String,
        allow: String,
    },
    #[error(
        "environment {environment} is locked by the running operation {execution} (lease until {expires_at}); wait for it to end"
    )]
    OperationInProgress {
        environment: String,
        execution: String,
        expires_at: u64,
    },
    #[error("{message}")]
    RecreateRefused { message: String, plan: Box<Plan> },
    #[error(transparent)]
    BudgetExceeded(#[from] strata_core::cost::BudgetError),
    #[error("the stored spec changed while this request ran; read it again and retry")]
    SpecChanged,
    #[error("{0}")]
    RollbackRefused(String),
    #[error("{0}")]
    SleepRefused(String),
    #[error("{0}")]
    PreviewsDepend(String),
    #[error("the body is {size} bytes; the limit is {limit}")]
    PayloadTooLarge { size: usize, limit: usize },
    #[error("content type {0:?} is not accepted; send application/json or application/yaml")]
    UnsupportedMediaType(String),
    #[error(
        "the request carries no IAM identity; the API takes only SigV4-signed requests (the strata CLI signs with your AWS credentials)"
    )]
    NoIdentity,
    #[error(transparent)]
    NotYourTeam(#[from] strata_core::NotYourTeam),
    #[error("{0}")]
    ClientTooOld(String),
    #[error("{0}; retry later")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

fn lines(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) | ApiError::ClientTooOld(_) => StatusCode::BAD_REQUEST,
            ApiError::NoRoute { .. } | ApiError::EnvironmentNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::OperationInProgress { .. }
            | ApiError::RecreateRefused { .. }
            | ApiError::BudgetExceeded(_)
            | ApiError::SpecChanged
            | ApiError::RollbackRefused(_)
            | ApiError::SleepRefused(_)
            | ApiError::PreviewsDepend(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NoIdentity | ApiError::NotYourTeam(_) => StatusCode::FORBIDDEN,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients match on (the CLI does).
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Invalid(_) => ErrorCode::InvalidRequest,
            ApiError::NoRoute { .. } => ErrorCode::NoSuchRoute,
            ApiError::EnvironmentNotFound(_) => ErrorCode::EnvironmentNotFound,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ApiError::OperationInProgress { .. } => ErrorCode::OperationInProgress,
            ApiError::RecreateRefused { .. } => ErrorCode::RecreateRefused,
            ApiError::BudgetExceeded(_) => ErrorCode::BudgetExceeded,
            ApiError::SpecChanged => ErrorCode::SpecChanged,
            ApiError::RollbackRefused(_) => ErrorCode::RollbackRefused,
            ApiError::SleepRefused(_) => ErrorCode::SleepRefused,
            ApiError::PreviewsDepend(_) => ErrorCode::PreviewsDepend,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::NoIdentity => ErrorCode::NoIdentity,
            ApiError::NotYourTeam(_) => ErrorCode::NotYourTeam,
            ApiError::ClientTooOld(_) => ErrorCode::ClientTooOld,
            ApiError::Unavailable(_) => ErrorCode::ServiceUnavailable,
            ApiError::Internal(_) => ErrorCode::InternalError,
        }
    }

    fn body(&self) -> ErrorBody {
        let mut error = ErrorDetail {
            code: self.code(),
            message: self.to_string(),
            fields: Vec::new(),
            execution: None,
            plan: None,
        };
        match self {
            ApiError::Invalid(fields) => {
                error.fields = fields
                    .iter()
                    .map(|f| FieldProblem {
                        path: f.path.clone(),
                        message: f.message.clone(),
                    })
                    .collect();
            }
            ApiError::OperationInProgress { execution, .. } => {
                error.execution = Some(execution.clone());
            }
            ApiError::RecreateRefused { plan, .. } => error.plan = Some((**plan).clone()),
            ApiError::BudgetExceeded(refused) => {
                error.fields = vec![FieldProblem {
                    path: strata_core::cost::BudgetError::PATH.to_owned(),
                    message: refused.to_string(),
                }];
            }
            _ => {}
        }
        ErrorBody { error }
    }

    pub(crate) fn into_response(self) -> Response<Body> {
        let mut response = respond(self.status(), &self.body());
        if let ApiError::MethodNotAllowed { allow, .. } = &self {
            if let Ok(value) = HeaderValue::from_str(allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::StaleVersion { .. } => ApiError::SpecChanged,
            StoreError::Aws(_) => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Held {
                environment,
                holder,
                expires_at,
            } => ApiError::OperationInProgress {
                environment,
                execution: holder,
                expires_at,
            },
            StartError::Store(e) => e.into(),
            StartError::Flows(e) => e.into(),
        }
    }
}
