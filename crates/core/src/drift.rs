//! Drift: what a component's live resources look like against the spec and the recorded
//! status, as a component's `observe` action reports it. Only the fields Strata manages are
//! compared.

use serde::{Deserialize, Serialize};

use crate::graph::Component;

/// One managed field whose live value differs from what Strata set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldDrift {
    /// Where, e.g. `nodegroup strata-staging-a1b2/scalingConfig.desiredSize`.
    pub path: String,
    pub expected: String,
    pub observed: String,
}

impl FieldDrift {
    pub fn new(path: impl Into<String>, expected: impl ToString, observed: impl ToString) -> Self {
        Self {
            path: path.into(),
            expected: expected.to_string(),
            observed: observed.to_string(),
        }
    }
}

/// What observing one component found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "drift"
)]
pub enum Observed {
    InSync,
    Drifted {
        fields: Vec<FieldDrift>,
    },
    /// A resource Strata made is gone.
    Missing {
        resources: Vec<String>,
    },
    /// Not compared: the component has no drift check (named, not pretended), or it is not
    /// Ready to compare against.
    Unchecked {
        reason: String,
    },
}

impl Observed {
    /// In sync, unless something differs or is gone.
    pub fn from_findings(missing: Vec<String>, fields: Vec<FieldDrift>) -> Self {
        if !missing.is_empty() {
            Observed::Missing { resources: missing }
        } else if !fields.is_empty() {
            Observed::Drifted { fields }
        } else {
            Observed::InSync
        }
    }

    /// Drifted or missing: what `repair` restores.
    pub fn is_drift(&self) -> bool {
        matches!(self, Observed::Drifted { .. } | Observed::Missing { .. })
    }
}

/// One component's observation, as recorded in the status and put on the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ComponentDrift {
    pub component: Component,
    #[serde(flatten)]
    pub observed: Observed,
}
