//! The error names each function reports as its `errorType`, and which of them the state
//! machines retry or treat as a rejection. Each handler's error enum maps onto these names
//! (its tests keep the two in step); the generated ASL reads them from here, so a name
//! never changes on one side only.

/// The lifecycle function (Begin, Finish, the rest of an operation's bookkeeping).
pub mod lifecycle {
    /// Every error type the lifecycle function can report.
    pub const NAMES: &[&str] = &[
        "InvalidInput",
        "EnvironmentNotFound",
        "EventsUnavailable",
        "LockHeld",
        "NotLockHolder",
        "StaleVersion",
        "CorruptState",
        "StoreUnavailable",
    ];
    /// The errors a state machine retries with backoff.
    pub const RETRYABLE: &[&str] = &["StaleVersion", "StoreUnavailable", "EventsUnavailable"];
    /// The errors that reject an execution before anything changes.
    pub const REJECTING: &[&str] = &["InvalidInput", "EnvironmentNotFound"];
}

/// The component functions (network … dns) and the custom function.
pub mod component {
    /// Every error type a component function can report.
    pub const NAMES: &[&str] = &[
        "InvalidInput",
        "EnvironmentNotFound",
        "DependencyNotReady",
        "DependentsRemain",
        "ResourceNotOwned",
        "DeadlineExceeded",
        "AwsTransient",
        "AwsRejected",
        "KubernetesTransient",
        "KubernetesRejected",
        "ImageNotFound",
        "MigrationFailed",
        "FunctionFailed",
        "LockHeld",
        "NotLockHolder",
        "StaleVersion",
        "CorruptState",
        "StoreUnavailable",
    ];
    /// The errors a state machine retries with backoff; everything else fails the step.
    pub const RETRYABLE: &[&str] = &[
        "AwsTransient",
        "KubernetesTransient",
        "StaleVersion",
        "StoreUnavailable",
    ];
}

/// The sync function: no state machine calls it; the schedule's retry policy and alarms see
/// these names.
pub mod sync {
    /// Every error type the sync function can report.
    pub const NAMES: &[&str] = &[
        "InvalidInput",
        "EnvironmentNotFound",
        "EventsUnavailable",
        "FlowsUnavailable",
        "LockHeld",
        "NotLockHolder",
        "StaleVersion",
        "CorruptState",
        "StoreUnavailable",
    ];
}
