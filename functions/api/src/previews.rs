//! Previews through the API: `POST /environments/{base}/previews` makes a preview of the
//! base ([`strata_core::preview`]) and applies it like any spec; a base refuses `down`, and
//! a plan that recreates its network or cluster, while previews run on its cluster.

use lambda_http::http::header;
use lambda_http::{Body, Request, Response};
use strata_api_types::PreviewRequest;
use strata_control::{Flows, SyncRequests};
use strata_core::{
    Component, Environment, EnvironmentState, FieldError, Plan, Principal, SpecError,
};
use strata_store::Store;

use crate::handlers::not_ready;
use crate::{Api, ApiError, Query};

/// The largest preview request body.
const PREVIEW_BODY_LIMIT: usize = 16 * 1024;

use crate::ChangeSets;

impl<S: Store, F: Flows, Q: SyncRequests, C: ChangeSets> Api<S, F, Q, C> {
    pub(crate) async fn preview(
        &self,
        base: &str,
        request: PreviewRequest,
        caller: &Principal,
        now: u64,
    ) -> Result<Response<Body>, ApiError> {
        let stored = self
            .store()
            .get_spec(base)
            .await?
            .ok_or_else(|| ApiError::EnvironmentNotFound(base.to_owned()))?;
        let status = self.store().get_status(base).await?;
        let refuse = |why: String| Err(ApiError::PreviewsDepend(why));
        if stored.environment.spec.preview.is_some() {
            return refuse(format!(
                "{base} is itself a preview; make the preview from its base"
            ));
        }
        if let Some(state) = not_ready(status.as_ref()) {
            return refuse(format!(
                "{base} is {state}; a preview is made from a Ready environment"
            ));
        }
        strata_core::check_environment_name(&request.name)
            .map_err(|m| ApiError::Invalid(vec![FieldError::new("name", m)]))?;
        if self.store().get_spec(&request.name).await?.is_some() {
            return Err(ApiError::Invalid(vec![FieldError::new(
                "name",
                format!(
                    "environment {} exists; apply its own spec to change it",
                    request.name
                ),
            )]));
        }
        // The base as it converged, not a spec it has not reached yet.
        let applied = crate::standing(Some(&stored), status.as_ref())
            .unwrap_or_else(|| stored.environment.clone());
        let others = self.every_spec().await?;
        let taken: Vec<&str> = others
            .iter()
            .filter(|e| e.includes(Component::Network))
            .map(|e| e.spec.network.cidr.as_str())
            .collect();
        let set: Vec<(String, String)> = request.set.into_iter().collect();
        let preview = strata_core::spec::PreviewSpec {
            base: base.to_owned(),
            share: request.share,
            database: request.database,
        };
        let environment = strata_core::preview::make(
            &applied,
            &request.name,
            &request.ttl,
            preview,
            &set,
            &taken,
        )
        .map_err(|e| match e {
            SpecError::Invalid(errors) => ApiError::Invalid(errors),
            SpecError::Syntax(m) => ApiError::Invalid(vec![FieldError::new("(body)", m)]),
        })?;
        // The preview carries the base's labels: its team is the base's, which the caller's
        // is (or it is an admin).
        caller.may_act_on(&request.name, environment.team())?;
        self.apply(environment, &Query::default(), &caller.arn, now)
            .await
    }

    /// Every stored spec (the control plane's environments, a page at a time).
    async fn every_spec(&self) -> Result<Vec<Environment>, ApiError> {
        let mut specs = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.store().list(100, cursor.as_deref()).await?;
            for summary in &page.items {
                if let Some(stored) = self.store().get_spec(&summary.name).await? {
                    specs.push(stored.environment);
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(specs),
            }
        }
    }

    /// The previews that run on `base`'s cluster and are not Deleted.
    pub(crate) async fn dependents(&self, base: &str) -> Result<Vec<String>, ApiError> {
        let mut found = Vec::new();
        for env in self.every_spec().await? {
            if env.shared_from() != Some(base) {
                continue;
            }
            let status = self.store().get_status(env.name()).await?;
            if status.is_none_or(|s| s.value.state != EnvironmentState::Deleted) {
                found.push(env.name().to_owned());
            }
        }
        Ok(found)
    }

    /// Refuses a plan of `base` that recreates or deletes its network or cluster while
    /// previews run on it.
    pub(crate) async fn check_dependents(&self, base: &str, plan: &Plan) -> Result<(), ApiError> {
        let shared = [Component::Network, Component::Cluster];
        let touched: Vec<String> = plan
            .recreated()
            .into_iter()
            .filter(|c| shared.contains(c))
            .map(|c| c.name().to_owned())
            .collect();
        if touched.is_empty() {
            return Ok(());
        }
        let dependents = self.dependents(base).await?;
        if dependents.is_empty() {
            return Ok(());
        }
        Err(ApiError::PreviewsDepend(format!(
            "the plan recreates {}, which the previews {} run on; delete them first",
            touched.join(" and "),
            dependents.join(", ")
        )))
    }
}

/// The preview request's body, its errors named by field.
pub(crate) fn preview_body(request: &Request) -> Result<PreviewRequest, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let json = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json");
    if !json {
        return Err(ApiError::UnsupportedMediaType(content_type.to_owned()));
    }
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > PREVIEW_BODY_LIMIT {
        return Err(ApiError::PayloadTooLarge {
            size: bytes.len(),
            limit: PREVIEW_BODY_LIMIT,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let message = e.inner().to_string();
        // A missing field is reported at the object holding it: name the field.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
            .map(str::to_owned);
        let path = match (e.path().to_string(), missing) {
            (p, Some(field)) if p == "." => field,
            (p, _) if p == "." => "(body)".to_owned(),
            (p, _) => p,
        };
        ApiError::Invalid(vec![FieldError::new(path, message)])
    })
}
