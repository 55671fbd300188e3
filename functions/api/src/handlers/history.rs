//! `GET /environments/{name}/history`: an environment's events, a page at a time.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use strata_api_types::HistoryPage;
use strata_control::{Flows, SyncRequests};
use strata_store::Store;

use crate::request::{DEFAULT_LIMIT, Query};
use crate::response::respond;
use crate::{Api, ApiError, ChangeSets};

impl<S: Store, F: Flows, Q: SyncRequests, C: ChangeSets> Api<S, F, Q, C> {
    pub(crate) async fn history(
        &self,
        name: &str,
        query: &Query,
    ) -> Result<Response<Body>, ApiError> {
        if self.store().get_spec(name).await?.is_none() {
            return Err(ApiError::EnvironmentNotFound(name.to_owned()));
        }
        let page = self
            .store()
            .history(
                name,
                query.limit.unwrap_or(DEFAULT_LIMIT),
                query.cursor.as_deref(),
            )
            .await?;
        Ok(respond(
            StatusCode::OK,
            &HistoryPage {
                items: page.items,
                next: page.next,
            },
        ))
    }
}
