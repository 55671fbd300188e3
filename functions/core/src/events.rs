//! What Strata puts on its EventBridge bus, so that users can route state changes to chat or
//! paging with an ordinary rule (`{"source": ["strata"]}`). The schema is this struct, as
//! camelCase JSON in the event's `detail`; ARCHITECTURE.md documents it.

use serde::{Deserialize, Serialize};

use crate::status::{EnvironmentState, OperationKind};

/// The `source` of every Strata event.
pub const SOURCE: &str = "strata";
/// The `detail-type` of an environment's state change.
pub const STATE_CHANGE: &str = "Strata Environment State Change";

/// An environment entered `state` (Progressing, Ready, Failed, Deleting, Deleted). Delivered
/// at least once: a retried step publishes again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChange {
    pub environment: String,
    pub state: EnvironmentState,
    pub operation: OperationKind,
    /// The Step Functions execution that made the change.
    pub execution: String,
    pub generation: u64,
    /// The status message, e.g. the failing step's error (never a secret: statuses hold none).
    pub message: String,
    /// Seconds since the Unix epoch.
    pub at: u64,
}
