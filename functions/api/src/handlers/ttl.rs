//! `POST /environments/{name}/ttl`: pushes an environment's TTL expiry back.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use strata_api_types::TtlExtended;
use strata_control::{Flows, SyncRequests};
use strata_core::FieldError;
use strata_store::Store;

use crate::response::respond;
use crate::{Api, ApiError, ChangeSets};

impl<S: Store, F: Flows, Q: SyncRequests, C: ChangeSets> Api<S, F, Q, C> {
    /// Pushes an environment's TTL expiry back by `by` seconds; its warnings start over.
    pub(crate) async fn extend_ttl(
        &self,
        name: &str,
        by: u64,
        caller: &str,
        now: u64,
    ) -> Result<Response<Body>, ApiError> {
        let stored = self
            .store()
            .get_spec(name)
            .await?
            .ok_or_else(|| ApiError::EnvironmentNotFound(name.to_owned()))?;
        let Some(ttl) = strata_core::ttl::seconds(&stored.environment) else {
            return Err(ApiError::Invalid(vec![FieldError::new(
                "spec.ttl",
                format!("environment {name} has no TTL to extend"),
            )]));
        };
        let every = stored.environment.spec.sync.every_seconds();
        strata_store::ensure_scheduled(self.store(), name, now, every).await?;
        let current = self
            .store()
            .get_sync(name)
            .await?
            .ok_or_else(|| ApiError::Internal(format!("{name}: schedule vanished")))?;
        let mut record = current.value;
        record.ttl_extension += by;
        record.warned_lead = None;
        let expires_at = strata_core::ttl::expires_at(record.created_at, ttl, record.ttl_extension);
        self.store()
            .put_sync(name, &record, Some(current.version))
            .await?;
        let message = format!("TTL extended by {}m; expires at {expires_at}", by / 60);
        self.record(name, "TtlExtended", message, caller, now)
            .await?;
        Ok(respond(
            StatusCode::OK,
            &TtlExtended {
                environment: name.to_owned(),
                expires_at,
                extended_by: record.ttl_extension,
            },
        ))
    }
}
