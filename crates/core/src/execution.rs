//! What an execution is started with: the decision of whoever started it (the API's apply,
//! delete or rollback; the sync's repair, rollout, expiry, sleep or wake), carried to Begin
//! so Begin acts on that decision instead of deriving its own. One type for the producer
//! (`strata_control::Operations`) and the consumer (the lifecycle's Begin).

use serde::{Deserialize, Serialize};

use crate::{Component, Scope};

/// An execution's input. Unknown fields are refused; defaults are left out when written,
/// so an execution started before a field existed reads the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutionInput {
    pub environment: String,
    /// The spec generation an apply's plan was made for. Begin refuses to run another one: a
    /// spec stored after the decision is not what was planned. Absent for every other start
    /// (a repair, rollout, sleep, wake or delete converges whatever is stored) and for
    /// executions started by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// `application`: the deploy fast path (only app and dns run); `all` by default.
    #[serde(default, skip_serializing_if = "Scope::is_all")]
    pub scope: Scope,
    /// The components the plan recreates: `up` tears them down first (in delete order),
    /// then creates everything in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recreate: Vec<Component>,
    /// `true`: a sleep, `false`: a wake; absent, an `up` keeps the environment as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asleep: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_seconds: Option<u64>,
    /// AWS's seconds per second of this execution: 1 (AWS) unless a local stack says
    /// otherwise ([`crate::Clock`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_scale: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_seconds: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_left_out_and_read_back() {
        let input = ExecutionInput {
            environment: "staging".into(),
            ..Default::default()
        };
        let json = serde_json::to_string(&input).unwrap();
        assert_eq!(json, r#"{"environment":"staging"}"#);
        assert_eq!(
            serde_json::from_str::<ExecutionInput>(&json).unwrap(),
            input
        );
        let decided = ExecutionInput {
            generation: Some(4),
            scope: Scope::Application,
            ..input
        };
        let json = serde_json::to_string(&decided).unwrap();
        assert_eq!(
            json,
            r#"{"environment":"staging","generation":4,"scope":"application"}"#
        );
        assert!(serde_json::from_str::<ExecutionInput>(r#"{"environment":"a","x":1}"#).is_err());
    }
}
