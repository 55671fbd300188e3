//! The contract between Strata and a team's own component function (a custom component of
//! kind `lambda`): the same steps as Strata's own handlers. Strata invokes the function with
//! a [`StepRequest`]; it answers a [`StepAnswer`] to `apply` and `destroy` (both idempotent,
//! both answering at once: `done: false` means "ask again after a wait") and an
//! [`ObserveAnswer`] to `observe`. `contracts/custom-component.schema.json` is this module as
//! a JSON schema (generated; a test keeps it in step).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::status::ComponentPhase;

/// At most this many resource ids, and as many outputs, in one answer.
pub const MAX_ENTRIES: usize = 64;
/// At most this many bytes in a key or a value of an answer.
pub const MAX_VALUE_BYTES: usize = 2048;
/// At most this many bytes in the whole answer.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum StepAction {
    /// Make or converge the component's resources.
    Apply,
    /// Delete them (down, or the spec no longer has the component).
    Destroy,
    /// Compare the live resources with what was applied; change nothing.
    Observe,
}

/// What Strata sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct StepRequest {
    pub action: StepAction,
    pub environment: String,
    /// The component's name in `spec.components`.
    pub component: String,
    /// The environment's region.
    pub region: String,
    /// The component's inputs, resolved: literals and the outputs they reference.
    pub inputs: BTreeMap<String, String>,
    /// The tags to put on everything the function makes: how Strata, its inventory and its
    /// sweeps know the resources are this environment's.
    pub tags: BTreeMap<String, String>,
    /// The operation's execution: the same for every step and retry of one operation, so
    /// it can serve as an idempotency token.
    pub execution: String,
    /// What the previous step answered (resource ids accumulate; outputs are replaced).
    pub previous: Recorded,
}

/// What the component's status holds from earlier steps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    #[serde(default)]
    pub resource_ids: BTreeMap<String, String>,
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
}

/// The answer to `apply` and `destroy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepAnswer {
    /// Finished: `false` asks Strata to wait a poll interval and call again.
    pub done: bool,
    /// Creating, Updating, Ready, Deleting, Deleted or Retained. Absent: Ready or Deleted
    /// when done, Creating or Deleting while not.
    #[serde(default)]
    pub phase: Option<ComponentPhase>,
    /// Identifiers of what it made (at most 64; keys and values at most 2,048 bytes).
    #[serde(default)]
    pub resource_ids: BTreeMap<String, String>,
    /// Values other components read (`components.<name>.outputs.<key>`); never secret
    /// values, which would be stored in the status. Same bounds.
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
}

/// The answer to `observe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObserveAnswer {
    pub drift: ObservedDrift,
    /// For `drifted`: each managed field that differs.
    #[serde(default)]
    pub fields: Vec<ObservedField>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum ObservedDrift {
    InSync,
    Drifted,
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObservedField {
    pub path: String,
    pub expected: String,
    pub observed: String,
}

impl StepAnswer {
    /// The answer read from the function's bytes, or why it breaks the contract.
    pub fn parse(bytes: &[u8], action: StepAction) -> Result<Self, String> {
        if bytes.len() > MAX_ANSWER_BYTES {
            return Err(format!(
                "the answer is {} bytes, more than {MAX_ANSWER_BYTES}",
                bytes.len()
            ));
        }
        let answer: StepAnswer = serde_json::from_slice(bytes)
            .map_err(|e| format!("the answer is not a step answer: {e}"))?;
        for (what, map) in [
            ("resourceIds", &answer.resource_ids),
            ("outputs", &answer.outputs),
        ] {
            if map.len() > MAX_ENTRIES {
                return Err(format!(
                    "{what} has {} entries, more than {MAX_ENTRIES}",
                    map.len()
                ));
            }
            if let Some((key, _)) = map.iter().find(|(k, v)| {
                k.is_empty() || k.len() > MAX_VALUE_BYTES || v.len() > MAX_VALUE_BYTES
            }) {
                return Err(format!(
                    "{what}.{key}: keys must be 1 to {MAX_VALUE_BYTES} bytes and values at most {MAX_VALUE_BYTES}"
                ));
            }
        }
        let allowed: &[ComponentPhase] = match action {
            StepAction::Apply => &[
                ComponentPhase::Creating,
                ComponentPhase::Updating,
                ComponentPhase::Ready,
            ],
            StepAction::Destroy => &[
                ComponentPhase::Deleting,
                ComponentPhase::Deleted,
                ComponentPhase::Retained,
            ],
            StepAction::Observe => &[],
        };
        match answer.phase {
            Some(phase) if !allowed.contains(&phase) => Err(format!(
                "phase {phase:?} is not an answer to {action:?} (one of {allowed:?})"
            )),
            Some(phase)
                if answer.done
                    != matches!(
                        phase,
                        ComponentPhase::Ready | ComponentPhase::Deleted | ComponentPhase::Retained
                    ) =>
            {
                Err(format!(
                    "phase {phase:?} does not go with done: {}",
                    answer.done
                ))
            }
            _ => Ok(answer),
        }
    }

    /// The phase, with the defaults the contract gives an absent one.
    pub fn phase_for(&self, action: StepAction) -> ComponentPhase {
        self.phase.unwrap_or(match (action, self.done) {
            (StepAction::Destroy, true) => ComponentPhase::Deleted,
            (StepAction::Destroy, false) => ComponentPhase::Deleting,
            (_, true) => ComponentPhase::Ready,
            (_, false) => ComponentPhase::Creating,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_that_break_the_contract_are_refused_with_the_reason() {
        let ok = StepAnswer::parse(
            br#"{"done": true, "outputs": {"topicArn": "arn:x"}}"#,
            StepAction::Apply,
        )
        .unwrap();
        assert_eq!(ok.phase_for(StepAction::Apply), ComponentPhase::Ready);
        let waiting = StepAnswer::parse(br#"{"done": false}"#, StepAction::Destroy).unwrap();
        assert_eq!(
            waiting.phase_for(StepAction::Destroy),
            ComponentPhase::Deleting
        );

        let refused = |body: &str, action| StepAnswer::parse(body.as_bytes(), action).unwrap_err();
        assert!(
            refused(r#"{"done": true, "extra": 1}"#, StepAction::Apply).contains("unknown field")
        );
        assert!(
            refused(r#"{"done": true, "phase": "deleted"}"#, StepAction::Apply)
                .contains("not an answer to Apply")
        );
        assert!(
            refused(r#"{"done": false, "phase": "ready"}"#, StepAction::Apply)
                .contains("does not go with done")
        );
        let many: BTreeMap<String, String> =
            (0..65).map(|i| (format!("k{i}"), "v".into())).collect();
        let body = serde_json::json!({"done": true, "outputs": many}).to_string();
        assert!(refused(&body, StepAction::Apply).contains("more than 64"));
        let long =
            serde_json::json!({"done": true, "resourceIds": {"id": "x".repeat(2049)}}).to_string();
        assert!(refused(&long, StepAction::Apply).starts_with("resourceIds.id"));
        assert!(refused(&" ".repeat(MAX_ANSWER_BYTES + 1), StepAction::Apply).contains("bytes"));
    }
}
