//! `GET /environments`, `GET /environments/{name}` and `DELETE /environments/{name}`: the
//! listing, one environment as it stands, and its teardown (`PUT` is the apply, in `apply.rs`).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use strata_api_types::{EnvironmentList, EnvironmentListItem, EnvironmentView, NothingToDo};
use strata_control::{Flows, SyncRequests};
use strata_core::{EnvironmentState, Principal, Scope, cost};
use strata_store::Store;

use super::{Decision, Found};
use crate::request::{DEFAULT_LIMIT, Query};
use crate::response::respond;
use crate::{Api, ApiError, ChangeSets, sleep};

impl<S: Store, F: Flows, Q: SyncRequests, C: ChangeSets> Api<S, F, Q, C> {
    /// A page of the environments the caller may see: all for an admin, its team's
    /// otherwise. For a team the store's pages are read on until `limit` of its own are
    /// found, and `next` is the last one shown: a cursor never names another team's.
    pub(crate) async fn list(
        &self,
        query: &Query,
        caller: &Principal,
    ) -> Result<Response<Body>, ApiError> {
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        let mut cursor = query.cursor.clone();
        let mut shown = Vec::new();
        let next = loop {
            let page = self.store().list(limit, cursor.as_deref()).await?;
            for summary in page.items {
                if shown.len() == limit as usize {
                    break;
                }
                if !caller.admin {
                    let stored = self.store().get_spec(&summary.name).await?;
                    if !caller.sees(stored.as_ref().and_then(|s| s.environment.team())) {
                        continue;
                    }
                }
                shown.push(summary);
            }
            match page.next {
                None => break None,
                Some(_) if shown.len() == limit as usize => {
                    break shown.last().map(|s| s.name.clone());
                }
                Some(next) => cursor = Some(next),
            }
        };
        let mut items = Vec::with_capacity(shown.len());
        for summary in shown {
            let status = self.store().get_status(&summary.name).await?;
            items.push(EnvironmentListItem {
                name: summary.name,
                generation: summary.generation,
                updated_at: summary.updated_at,
                state: status.as_ref().map(|s| s.value.state),
                message: status.map(|s| s.value.message),
            });
        }
        Ok(respond(StatusCode::OK, &EnvironmentList { items, next }))
    }

    pub(crate) async fn get(&self, name: &str, now: u64) -> Result<Response<Body>, ApiError> {
        let read = self.store().read(name, now).await?;
        let stored = read
            .spec
            .ok_or_else(|| ApiError::EnvironmentNotFound(name.to_owned()))?;
        let status = read.status.map(|s| s.value);
        let lease = read.lease;
        let cost = status
            .as_ref()
            .map(|s| cost::estimate_running(&stored.environment, s));
        Ok(respond(
            StatusCode::OK,
            &EnvironmentView {
                name: name.to_owned(),
                generation: stored.generation,
                updated_at: stored.updated_at,
                sleep: status
                    .as_ref()
                    .map(|s| sleep::view(&stored.environment, s, now)),
                running_execution: lease.map(|l| l.holder),
                cost,
                spec: stored.environment,
                status,
            },
        ))
    }

    /// `DELETE`'s decision: nothing to do when already Deleted; refused while previews run
    /// on the environment's cluster.
    pub(super) async fn delete(&self, name: &str, found: &Found) -> Result<Decision, ApiError> {
        if found
            .status
            .as_ref()
            .is_some_and(|s| s.value.state == EnvironmentState::Deleted)
        {
            return Ok(Decision::Answer(respond(
                StatusCode::OK,
                &NothingToDo {
                    environment: name.to_owned(),
                    generation: found.stored.generation,
                    state: EnvironmentState::Deleted,
                    message: "already Deleted; nothing to do".to_owned(),
                },
            )));
        }
        let dependents = self.dependents(name).await?;
        if !dependents.is_empty() {
            return Err(ApiError::PreviewsDepend(format!(
                "previews run on environment {name}'s cluster: {}; delete them first",
                dependents.join(", ")
            )));
        }
        Ok(Decision::Start {
            scope: Scope::All,
            message: format!("delete requested (generation {})", found.stored.generation),
        })
    }
}
