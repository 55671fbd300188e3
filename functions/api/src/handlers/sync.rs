//! `POST /environments/{name}/sync`: a sync now, handed to the sync function.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use strata_api_types::SyncRequested;
use strata_control::{Flows, SyncRequest, SyncRequests};
use strata_store::Store;

use crate::response::respond;
use crate::{Api, ApiError, ChangeSets};

impl<S: Store, F: Flows, Q: SyncRequests, C: ChangeSets> Api<S, F, Q, C> {
    /// Hands one environment's sync (due or not, live resources read) to the sync function
    /// and answers 202 at once: reading live resources can take longer than API Gateway's
    /// 30 s. The result is the history's `Synced` event whose actor is `sync/<run>`. 409
    /// while an operation holds the lease (the sync would only skip).
    pub(crate) async fn sync_now(
        &self,
        name: &str,
        caller: &str,
        request_id: &str,
        now: u64,
    ) -> Result<Response<Body>, ApiError> {
        if self.store().get_spec(name).await?.is_none() {
            return Err(ApiError::EnvironmentNotFound(name.to_owned()));
        }
        if let Some(lease) = self.store().lease(name, now).await? {
            return Err(ApiError::OperationInProgress {
                environment: name.to_owned(),
                execution: lease.holder,
                expires_at: lease.expires_at,
            });
        }
        let run = format!("now-{request_id}");
        self.syncs
            .request(&SyncRequest {
                environment: name.to_owned(),
                run: Some(run.clone()),
                requested_by: Some(caller.to_owned()),
            })
            .await?;
        let message = format!("sync requested (run {run})");
        self.record(name, "SyncRequested", message, caller, now)
            .await?;
        Ok(respond(
            StatusCode::ACCEPTED,
            &SyncRequested {
                environment: name.to_owned(),
                operation: "sync".to_owned(),
                result_actor: format!("sync/{run}"),
                run,
                history_url: format!("/environments/{name}/history"),
                status_url: format!("/environments/{name}"),
            },
        ))
    }
}
