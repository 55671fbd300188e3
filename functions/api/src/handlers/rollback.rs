//! `POST /environments/{name}/rollback`: blue-green services back to their previous colour.

use lambda_http::{Body, Response};
use strata_control::{Flows, Launch, SyncRequests, Trigger};
use strata_core::{Component, EnvironmentState, OperationKind, Scope};
use strata_store::Store;

use super::Existing;
use crate::response::accepted;
use crate::{Api, ApiError, ChangeSets};

impl<S: Store, F: Flows, Q: SyncRequests, C: ChangeSets> Api<S, F, Q, C> {
    /// Switches every blue-green service back to its previous colour (still scaled): the
    /// `up` state machine in the `rollback` scope, so the lease, the history and the status
    /// work as for any operation. Refused unless the environment is Ready and every
    /// blue-green service has a previous colour recorded.
    pub(crate) async fn rollback(
        &self,
        name: &str,
        caller: &str,
        now: u64,
    ) -> Result<Response<Body>, ApiError> {
        let (stored, status) = match self
            .existing(
                name,
                |generation, status_version| Trigger::Rollback {
                    generation,
                    status_version,
                },
                now,
            )
            .await?
        {
            Existing::Idle(found) => *found,
            Existing::Running(response) => return Ok(response),
        };
        let current = status.as_ref().map(|s| &s.value);
        let state = current.map(|s| s.state);
        if state != Some(EnvironmentState::Ready) {
            return Err(ApiError::RollbackRefused(format!(
                "environment {name} is {}; only a Ready environment rolls back",
                state.map_or("never run".to_owned(), |s| format!("{s:?}"))
            )));
        }
        let recorded = current.and_then(|s| s.components.get(&Component::App));
        let blue_green: Vec<&str> = stored
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
            let previous = recorded
                .and_then(|app| app.outputs.get(&format!("service.{service}.previousColor")));
            if previous.is_none() {
                return Err(ApiError::RollbackRefused(format!(
                    "service {service} has no previous colour yet (one version deployed)"
                )));
            }
        }
        let launch = Launch {
            environment: name,
            trigger: Trigger::Rollback {
                generation: stored.generation,
                status_version: status.map_or(0, |s| s.version),
            },
            scope: Scope::Rollback,
            recreate: Vec::new(),
            message: format!("rollback of {} requested", blue_green.join(", ")),
        };
        let started = self.operations.start(&launch, caller, now).await?;
        Ok(accepted(
            name,
            OperationKind::Up,
            stored.generation,
            &started,
            Some(Scope::Rollback),
        ))
    }
}
