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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

/// The `detail-type` of a TTL warning.
pub const TTL_WARNING: &str = "Strata Environment TTL Warning";

/// An environment with a `ttl` will be destroyed at `expires_at`: put on the bus once per
/// lead time (a day, then an hour before), so the owners can extend it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct TtlWarning {
    pub environment: String,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
    /// The lead time this warning is for, in seconds (86400 or 3600).
    pub lead_seconds: u64,
    /// Seconds since the Unix epoch.
    pub at: u64,
}

/// The `detail-type` of a newer image version found by sync.
pub const UPDATE_AVAILABLE: &str = "Strata Environment Update Available";

/// A service's repository has a newer tag within its constraint than the one serving. Put on
/// the bus once per version found; under `sync.images: deploy` `execution` names the
/// app-only `up` that rolls it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UpdateAvailable {
    pub environment: String,
    pub service: String,
    pub image: String,
    pub deployed: String,
    pub available: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// Seconds since the Unix epoch.
    pub at: u64,
}

/// The `detail-type` of drift found by sync.
pub const DRIFTED: &str = "Strata Environment Drifted";

/// Sync found live resources that differ from the spec (or are gone). Put on the bus when the
/// drift found changes; under `sync.drift: repair` `repair` names the `up` that restores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Drifted {
    pub environment: String,
    pub components: Vec<crate::drift::ComponentDrift>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair: Option<String>,
    /// Seconds since the Unix epoch.
    pub at: u64,
}

/// What Strata puts on its bus: each kind under its own `detail-type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    StateChange(StateChange),
    TtlWarning(TtlWarning),
    UpdateAvailable(UpdateAvailable),
    Drifted(Drifted),
}

impl Notice {
    pub fn detail_type(&self) -> &'static str {
        match self {
            Notice::StateChange(_) => STATE_CHANGE,
            Notice::TtlWarning(_) => TTL_WARNING,
            Notice::UpdateAvailable(_) => UPDATE_AVAILABLE,
            Notice::Drifted(_) => DRIFTED,
        }
    }

    pub fn environment(&self) -> &str {
        match self {
            Notice::StateChange(c) => &c.environment,
            Notice::TtlWarning(w) => &w.environment,
            Notice::UpdateAvailable(u) => &u.environment,
            Notice::Drifted(d) => &d.environment,
        }
    }

    /// The event's `detail`: the notice's own struct as camelCase JSON.
    pub fn detail(&self) -> String {
        match self {
            Notice::StateChange(c) => serde_json::to_string(c),
            Notice::TtlWarning(w) => serde_json::to_string(w),
            Notice::UpdateAvailable(u) => serde_json::to_string(u),
            Notice::Drifted(d) => serde_json::to_string(d),
        }
        .expect("notices serialise")
    }
}
