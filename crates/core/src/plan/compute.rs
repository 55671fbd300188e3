//! Computing a plan: each component's own action from its diff, then recreates and
//! comings and goings propagated to their dependents in create order.

use std::collections::BTreeMap;

use super::diff::diff;
use super::{Action, ComponentPlan, Effect, FieldChange, Plan};
use crate::graph::{Component, Graph};
use crate::spec::Environment;

/// Plans the move from `old` (the stored spec, if any) to `new`.
pub fn plan(old: Option<&Environment>, new: &Environment) -> Plan {
    let graph = graph_of(old, new);
    let order: Vec<Component> = graph.create_stages().into_iter().flatten().collect();
    let mut plans: BTreeMap<Component, ComponentPlan> = order
        .iter()
        .map(|&component| {
            let (action, changes) = match old {
                None if new.includes(component) => (Action::Create, Vec::new()),
                None => (Action::NoOp, Vec::new()),
                Some(old) => match (old.includes(component), new.includes(component)) {
                    (false, false) => (Action::NoOp, Vec::new()),
                    (false, true) => (Action::Create, Vec::new()),
                    (true, false) => (Action::Delete, Vec::new()),
                    (true, true) => {
                        let changes = diff(component, old, new);
                        (action_for(&changes), changes)
                    }
                },
            };
            (
                component,
                ComponentPlan {
                    component,
                    action,
                    changes,
                    because_of: Vec::new(),
                },
            )
        })
        .collect();

    // Propagate in create order so that a dependent sees its dependencies' final action.
    for &component in &order {
        let action = plans[&component].action;
        for dependent in graph.blast_radius(component) {
            if !new.includes(dependent) {
                continue;
            }
            let entry = plans
                .get_mut(&dependent)
                .expect("every component is planned");
            let forced = match (action, entry.action) {
                (Action::Recreate, Action::NoOp | Action::Update | Action::Recreate) => {
                    Some(Action::Recreate)
                }
                // A direct dependent reads the outputs of a component that comes or goes.
                (Action::Create | Action::Delete, Action::NoOp)
                    if new.dependencies(dependent).contains(&component) =>
                {
                    Some(Action::Update)
                }
                _ => None,
            };
            if let Some(forced) = forced {
                entry.action = forced;
                entry.because_of.push(component);
            }
        }
    }
    Plan {
        components: order
            .into_iter()
            .map(|c| plans.remove(&c).unwrap())
            .collect(),
    }
}

/// The graph over both specs' components: a custom component that goes is ordered by the
/// old spec's edges, the others by the new one's. Validation refuses a cycle in either; if one
/// got through anyway, the built-in graph still orders Strata's own components.
fn graph_of(old: Option<&Environment>, new: &Environment) -> Graph<Component> {
    // The new spec with the old one's dropped custom components beside its own: the
    // environment's own graph over both.
    let mut both = new.clone();
    both.spec.components.extend(
        old.into_iter()
            .flat_map(|o| o.custom_components())
            .filter(|(c, _)| !new.includes(*c))
            .map(|(_, spec)| spec.clone()),
    );
    both.graph().unwrap_or_else(|_| Component::graph())
}

fn action_for(changes: &[FieldChange]) -> Action {
    if changes.iter().any(|c| c.effect == Effect::Replace) {
        Action::Recreate
    } else if changes.is_empty() {
        Action::NoOp
    } else {
        Action::Update
    }
}
