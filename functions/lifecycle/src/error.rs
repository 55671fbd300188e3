//! The errors this function reports, under the names the state machines' `Retry` and
//! `Catch` match.

use strata_store::StoreError;

/// The errors this function reports to Step Functions. The names are the `errorType`s that
/// the state machines' `Retry` and `Catch` match, so they must never change casually.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("environment {0} has no stored spec; apply one first")]
    EnvironmentNotFound(String),
    /// The state change could not be put on the event bus; the step is retried.
    #[error("the event bus refused the state change: {0}")]
    EventsUnavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LifecycleError {
    /// Every error type this function can report.
    pub const NAMES: &[&str] = strata_runtime::errors::lifecycle::NAMES;

    /// The errors a state machine retries with backoff.
    pub const RETRYABLE: &[&str] = strata_runtime::errors::lifecycle::RETRYABLE;
    /// The errors that reject an execution before anything changes.
    pub const REJECTING: &[&str] = strata_runtime::errors::lifecycle::REJECTING;

    pub fn name(&self) -> &'static str {
        match self {
            LifecycleError::InvalidInput(_) => "InvalidInput",
            LifecycleError::EnvironmentNotFound(_) => "EnvironmentNotFound",
            LifecycleError::EventsUnavailable(_) => "EventsUnavailable",
            LifecycleError::Store(e) => e.name(),
        }
    }
}
