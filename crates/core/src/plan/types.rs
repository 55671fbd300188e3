//! What a plan says: each component's action, the field changes behind it, and what the
//! caller must allow before it runs.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::graph::Component;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Recreate,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Effect {
    InPlace,
    Replace,
}

/// One changed field and what changing it costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    pub from: String,
    pub to: String,
    pub effect: Effect,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ComponentPlan {
    pub component: Component,
    pub action: Action,
    pub changes: Vec<FieldChange>,
    /// Components whose recreate (or creation/deletion) forces this component's action.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub because_of: Vec<Component>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Every component, in create order.
    pub components: Vec<ComponentPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "the plan would recreate or delete {}, losing its data; allow it explicitly to go ahead",
        names(.0)
    )]
    StatefulChangeNotAllowed(Vec<Component>),
}

fn names(components: &[Component]) -> String {
    components
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Plan {
    pub fn action(&self, component: Component) -> Action {
        self.components
            .iter()
            .find(|p| p.component == component)
            .map_or(Action::NoOp, |p| p.action)
    }

    pub fn is_noop(&self) -> bool {
        self.components.iter().all(|p| p.action == Action::NoOp)
    }

    /// Stateful components this plan would recreate or delete, or whose deletion policy it
    /// switches to `delete` (a later delete would lose their data without a snapshot).
    pub fn data_losing(&self) -> Vec<Component> {
        self.components
            .iter()
            .filter(|p| {
                p.component.is_stateful()
                    && (matches!(p.action, Action::Recreate | Action::Delete)
                        || p.changes
                            .iter()
                            .any(|c| c.field.ends_with(".onDelete") && c.to == "delete"))
            })
            .map(|p| p.component)
            .collect()
    }

    /// The components it recreates (torn down first, then created anew).
    pub fn recreated(&self) -> Vec<Component> {
        self.components
            .iter()
            .filter(|p| p.action == Action::Recreate)
            .map(|p| p.component)
            .collect()
    }

    /// Refuses the plan when it loses data the caller did not explicitly allow.
    pub fn check_allowed(&self, allow: &BTreeSet<Component>) -> Result<(), PlanError> {
        let refused: Vec<Component> = self
            .data_losing()
            .into_iter()
            .filter(|c| !allow.contains(c))
            .collect();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(PlanError::StatefulChangeNotAllowed(refused))
        }
    }

    /// True when only the application layer changes: the deploy fast path applies.
    pub fn touches_only_app(&self) -> bool {
        !self.is_noop()
            && self.components.iter().all(|p| {
                p.action == Action::NoOp
                    || (p.component == Component::App && p.action == Action::Update)
            })
    }
}
