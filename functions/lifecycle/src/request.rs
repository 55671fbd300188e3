//! One request from a state machine (`begin`, `finish` or `release`), decoded and run.

use serde::Deserialize;
use serde_json::Value;

use strata_core::{OperationContext, OperationKind};
use strata_notify::Notifier;
use strata_store::Store;

use crate::LifecycleError;
use crate::begin::{Begin, begin};
use crate::finish::{CaughtError, finish, release};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase", deny_unknown_fields)]
enum Request {
    Begin {
        operation: OperationKind,
        execution: String,
        input: Value,
    },
    Finish {
        context: OperationContext,
        #[serde(default)]
        error: Option<CaughtError>,
    },
    /// The last resort when the outcome could not be recorded: give the lease back, so the
    /// environment is not held until the lease's deadline.
    Release { context: OperationContext },
}

/// Runs one request against the store.
pub async fn handle<S: Store, N: Notifier>(
    store: &S,
    notifier: &N,
    control_plane: &str,
    request: Value,
    now: u64,
) -> Result<Value, LifecycleError> {
    let request: Request = serde_json::from_value(request)
        .map_err(|e| LifecycleError::InvalidInput(format!("request: {e}")))?;
    match request {
        Request::Begin {
            operation,
            execution,
            input,
        } => {
            let context = begin(
                store,
                notifier,
                &Begin {
                    control_plane,
                    operation,
                    execution: &execution,
                },
                input,
                now,
            )
            .await?;
            Ok(serde_json::to_value(context).expect("a context always serialises"))
        }
        Request::Finish { context, error } => {
            let status = finish(store, notifier, &context, error.as_ref(), now).await?;
            Ok(serde_json::json!({
                "environment": context.environment,
                "state": status.state,
                "message": status.message,
            }))
        }
        Request::Release { context } => {
            release(store, &context).await?;
            Ok(serde_json::json!({ "environment": context.environment, "released": true }))
        }
    }
}
