//! `POST /environments/{name}/plan`: what an apply of the spec would do, its cost and the
//! standing stacks' change sets, without writing or starting anything.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use strata_api_types::{PlanCost, PlanView};
use strata_control::{Flows, SyncRequests};
use strata_core::{Component, Environment, EnvironmentStatus, cost, plan};
use strata_store::{Store, Versioned};

use crate::apply::{standing, summary};
use crate::request::Query;
use crate::response::respond;
use crate::{Api, ApiError, ChangeSets};

impl<S: Store, F: Flows, Q: SyncRequests, C: ChangeSets> Api<S, F, Q, C> {
    pub(crate) async fn plan(
        &self,
        environment: Environment,
        query: &Query,
    ) -> Result<Response<Body>, ApiError> {
        self.admit(&environment)?;
        let stored = self.store().get_spec(environment.name()).await?;
        let status = self.store().get_status(environment.name()).await?;
        let standing = standing(stored.as_ref(), status.as_ref());
        let planned = plan(standing.as_ref(), &environment);
        let refused: Vec<Component> = planned
            .data_losing()
            .into_iter()
            .filter(|c| !query.allow_recreate.contains(c))
            .collect();
        let before = match (standing.as_ref(), status.as_ref()) {
            (Some(standing), Some(status)) => Some(cost::estimate_running(standing, &status.value)),
            _ => None,
        };
        let change_sets = self
            .change_sets(&environment, &planned, status.as_ref())
            .await;
        let after = cost::estimate(&environment);
        let cost = PlanCost {
            change_usd: cost::change(before.as_ref(), &after),
            over_budget: cost::check_budget(&environment, &after)
                .err()
                .map(|e| e.to_string()),
            before,
            after,
        };
        Ok(respond(
            StatusCode::OK,
            &PlanView {
                environment: environment.name().to_owned(),
                generation: stored.as_ref().map_or(0, |s| s.generation),
                summary: summary(&planned),
                noop: planned.is_noop(),
                deploy_only: planned.touches_only_app(),
                refused,
                plan: planned,
                cost,
                dependents: self.dependents(environment.name()).await?,
                change_sets,
            },
        ))
    }

    /// A change set's look at each cloudFormation component the plan changes in place and
    /// whose stack stands.
    async fn change_sets(
        &self,
        environment: &Environment,
        planned: &strata_core::Plan,
        status: Option<&Versioned<EnvironmentStatus>>,
    ) -> std::collections::BTreeMap<String, strata_core::custom::StackPreview> {
        let mut previews = std::collections::BTreeMap::new();
        for change in &planned.components {
            let standing = status
                .and_then(|s| s.value.components.get(&change.component))
                .is_some_and(|s| s.phase.stands());
            let Some(spec) = environment
                .custom_component(change.component)
                .filter(|s| s.cloud_formation.is_some())
            else {
                continue;
            };
            if change.action == strata_core::Action::Update && standing {
                let preview = self.change_sets.preview(environment.name(), spec).await;
                previews.insert(spec.name.clone(), preview);
            }
        }
        previews
    }
}
