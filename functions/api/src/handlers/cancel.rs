//! `POST /environments/{name}/cancel`: stops the running operation and frees the environment.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use strata_api_types::{CancelView, InFlight};
use strata_control::{Flows, Run, SyncRequests};
use strata_core::Component;
use strata_store::Store;

use crate::response::respond;
use crate::{Api, ApiError, ChangeSets};

impl<S: Store, F: Flows, Q: SyncRequests, C: ChangeSets> Api<S, F, Q, C> {
    /// Stops the running operation, fences its steps, gives the environment back and
    /// records it Cancelled with what was in flight; a following `up` or `delete` resumes.
    /// 200 either way: what was cancelled, or that nothing runs.
    pub(crate) async fn cancel(
        &self,
        name: &str,
        caller: &str,
        now: u64,
    ) -> Result<Response<Body>, ApiError> {
        if self.store().get_spec(name).await?.is_none() {
            return Err(ApiError::EnvironmentNotFound(name.to_owned()));
        }
        let body = match self.operations.cancel(name, caller, now).await? {
            None => CancelView {
                environment: name.to_owned(),
                cancelled: None,
                ended: None,
                in_flight: Vec::new(),
                message: "no operation is running; nothing to cancel".to_owned(),
                status_url: None,
            },
            Some(cancelled) => {
                let ended = match &cancelled.run {
                    Run::Ended(how) => how.clone(),
                    Run::Missing => "NOT_STARTED".to_owned(),
                    Run::Running => "RUNNING".to_owned(),
                };
                CancelView {
                    environment: name.to_owned(),
                    message: format!(
                        "{} cancelled; the environment is free (a following apply or delete resumes)",
                        cancelled.execution
                    ),
                    cancelled: Some(cancelled.execution),
                    ended: Some(ended),
                    in_flight: cancelled
                        .in_flight
                        .into_iter()
                        .filter_map(|(component, phase)| {
                            Component::parse(&component)
                                .ok()
                                .map(|component| InFlight { component, phase })
                        })
                        .collect(),
                    status_url: Some(format!("/environments/{name}")),
                }
            }
        };
        Ok(respond(StatusCode::OK, &body))
    }
}
