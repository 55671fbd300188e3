//! What an execution was started with: its input's fields, defaults and checks.

use serde_json::Value;
use strata_core::check_environment_name;

use crate::LifecycleError;

/// Seconds between polls of a long AWS operation, unless the input says otherwise.
/// The smallest: a handler answers longer waits while AWS is expected to still be working
/// (`strata_core::waits`), so this is how finely the end of a create is caught.
pub const DEFAULT_POLL_SECONDS: u64 = 5;
/// How long an operation may run before the lease expires and another may take over.
pub const DEFAULT_DEADLINE_SECONDS: u64 = 3 * 3600;

/// What an execution was started with: one type with the code that starts it.
pub use strata_core::ExecutionInput;

pub(crate) fn parse_input(input: Value) -> Result<ExecutionInput, LifecycleError> {
    let invalid = |message: String| LifecycleError::InvalidInput(message);
    if !input.is_object() {
        return Err(invalid(
            "input: must be an object such as {\"environment\": \"staging\"}".to_owned(),
        ));
    }
    // serde names the offending field in its message (`unknown field`, `missing field`).
    let parsed: ExecutionInput =
        serde_json::from_value(input).map_err(|e| invalid(format!("input: {e}")))?;
    check_environment_name(&parsed.environment)
        .map_err(|m| invalid(format!("input.environment: {m}")))?;
    if parsed.poll_seconds.is_some_and(|s| s > 300) {
        return Err(invalid(
            "input.pollSeconds: must be between 0 and 300".to_owned(),
        ));
    }
    if parsed.clock_scale.is_some_and(|s| s > 3600) {
        return Err(invalid(
            "input.clockScale: must be between 0 and 3600".to_owned(),
        ));
    }
    if parsed
        .deadline_seconds
        .is_some_and(|s| !(60..=86_400).contains(&s))
    {
        return Err(invalid(
            "input.deadlineSeconds: must be between 60 and 86400".to_owned(),
        ));
    }
    Ok(parsed)
}
