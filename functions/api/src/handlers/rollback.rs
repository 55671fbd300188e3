//! `POST /environments/{name}/rollback`: blue-green services back to their previous colour.

use strata_core::{Component, Scope};

use super::{Decision, Found, not_ready};
use crate::ApiError;

/// Switches every blue-green service back to its previous colour (still scaled): the `up`
/// state machine in the `rollback` scope, so the lease, the history and the status work as
/// for any operation. Refused unless the environment is Ready and every blue-green service
/// has a previous colour recorded.
pub(super) fn decide(name: &str, found: &Found) -> Result<Decision, ApiError> {
    if let Some(state) = not_ready(found.status.as_ref()) {
        return Err(ApiError::RollbackRefused(format!(
            "environment {name} is {state}; only a Ready environment rolls back"
        )));
    }
    let recorded = found
        .status
        .as_ref()
        .and_then(|s| s.value.components.get(&Component::App));
    let blue_green: Vec<&str> = found
        .stored
        .environment
        .spec
        .app
        .services
        .iter()
        .filter(|s| s.strategy == strata_core::spec::Strategy::BlueGreen)
        .map(|s| s.name.as_str())
        .collect();
    if blue_green.is_empty() {
        return Err(ApiError::RollbackRefused(
            "no service is blueGreen: there is no previous colour to roll back to".into(),
        ));
    }
    for service in &blue_green {
        let previous =
            recorded.and_then(|app| app.outputs.get(&format!("service.{service}.previousColor")));
        if previous.is_none() {
            return Err(ApiError::RollbackRefused(format!(
                "service {service} has no previous colour yet (one version deployed)"
            )));
        }
    }
    Ok(Decision::Start {
        scope: Scope::Rollback,
        message: format!("rollback of {} requested", blue_green.join(", ")),
    })
}
