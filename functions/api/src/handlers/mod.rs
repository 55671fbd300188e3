//! Answering one request (who called, which route, its query and body, then the endpoint's
//! handler: one module per resource) and what handlers share: the lease check, history events.

use lambda_http::{Body, Request, RequestExt, Response};
use strata_control::{Flows, Launch, Started, SyncRequests, Trigger};
use strata_core::{
    EnvironmentState, EnvironmentStatus, Event, FieldError, Scope, check_environment_name,
};
use strata_store::{Lease, Store, StoredSpec, Versioned};

use crate::request::{extension_body, query, spec_body};
use crate::response::accepted;
use crate::{Api, ApiError, ChangeSets, Endpoint, previews, route};

mod cancel;
mod environments;
mod history;
mod plan;
mod rollback;
mod sync;
mod ttl;

impl<S: Store, F: Flows, Q: SyncRequests, C: ChangeSets> Api<S, F, Q, C> {
    /// Answers one request; every failure is a response with an error body, never a panic.
    pub async fn handle(&self, request: Request, now: u64) -> Response<Body> {
        let result = self.dispatch(&request, now).await;
        let response = result.unwrap_or_else(|e| {
            if e.status().is_server_error() {
                tracing::error!(code = ?e.code(), "{e}");
            } else {
                tracing::info!(code = ?e.code(), "{e}");
            }
            e.into_response()
        });
        tracing::info!(
            method = %request.method(),
            path = request.raw_http_path(),
            status = response.status().as_u16(),
            "answered"
        );
        response
    }

    async fn dispatch(&self, request: &Request, now: u64) -> Result<Response<Body>, ApiError> {
        let principal = self.caller(request).await?;
        let caller = principal.arn.as_str();
        let (endpoint, name) = route(request.method(), request.raw_http_path())?;
        let query = query(request, endpoint)?;
        let name = match name {
            Some(name) => {
                check_environment_name(&name)
                    .map_err(|m| ApiError::Invalid(vec![FieldError::new("name", m)]))?;
                name
            }
            None => String::new(),
        };
        // Every route but the listing names one environment: the caller's team's, or refused
        // before anything is read for the handler (the listing shows only the team's).
        if endpoint != Endpoint::List {
            self.authorize(&principal, &name).await?;
        }
        match endpoint {
            Endpoint::List => self.list(&query, &principal).await,
            Endpoint::Get => self.get(&name, now).await,
            Endpoint::Apply => {
                let environment = spec_body(request, &name)?;
                self.authorize_spec(&principal, &environment).await?;
                self.apply(environment, &query, caller, now).await
            }
            Endpoint::Plan => {
                let environment = spec_body(request, &name)?;
                self.authorize_spec(&principal, &environment).await?;
                self.plan(environment, &query).await
            }
            Endpoint::Delete => self.delete(&name, caller, now).await,
            Endpoint::History => self.history(&name, &query).await,
            Endpoint::Rollback => self.rollback(&name, caller, now).await,
            Endpoint::ExtendTtl => {
                let by = extension_body(request)?;
                self.extend_ttl(&name, by, caller, now).await
            }
            Endpoint::Sync => {
                // API Gateway's request id names the run; a request without one (a test) the
                // clock does.
                let id = request
                    .request_context_ref()
                    .and_then(|c| match c {
                        lambda_http::request::RequestContext::ApiGatewayV2(c) => {
                            c.request_id.clone()
                        }
                        _ => None,
                    })
                    .unwrap_or_else(|| now.to_string());
                self.sync_now(&name, caller, &id, now).await
            }
            Endpoint::Cancel => self.cancel(&name, caller, now).await,
            Endpoint::Sleep => self.sleep_or_wake(&name, true, caller, now).await,
            Endpoint::Wake => self.sleep_or_wake(&name, false, caller, now).await,
            Endpoint::Preview => {
                let body = previews::preview_body(request)?;
                self.preview(&name, body, &principal, now).await
            }
        }
    }

    /// A history event of a request that started no operation.
    async fn record(
        &self,
        name: &str,
        kind: &str,
        message: String,
        caller: &str,
        now: u64,
    ) -> Result<(), ApiError> {
        let event = Event {
            at: now,
            kind: kind.to_owned(),
            message,
            actor: caller.to_owned(),
            execution: None,
        };
        Ok(self.store().append_event(name, &event).await?)
    }

    /// An environment that must exist for the request, and whether this same request's
    /// operation already runs (answered as such). `trigger` makes the request's trigger from
    /// the stored generation and the status version.
    pub(crate) async fn existing(
        &self,
        name: &str,
        trigger: fn(u64, u64) -> Trigger<'static>,
        now: u64,
    ) -> Result<Existing, ApiError> {
        // One read: the spec, the status and the lease.
        let read = self.store().read(name, now).await?;
        let stored = read
            .spec
            .ok_or_else(|| ApiError::EnvironmentNotFound(name.to_owned()))?;
        let status = read.status;
        let trigger = trigger(stored.generation, status.as_ref().map_or(0, |s| s.version));
        match self.running_with(name, read.lease, &trigger, true)? {
            Some(response) => Ok(Existing::Running(response)),
            None => Ok(Existing::Idle(Box::new(Found {
                stored,
                status,
                trigger,
            }))),
        }
    }

    /// Starts the operation `found`'s trigger asks for, in `scope`, with `message` in the
    /// history; answered 202.
    pub(crate) async fn start(
        &self,
        name: &str,
        found: &Found,
        scope: Scope,
        message: String,
        caller: &str,
        now: u64,
    ) -> Result<Response<Body>, ApiError> {
        let launch = Launch {
            environment: name,
            trigger: found.trigger,
            scope,
            recreate: Vec::new(),
            message,
        };
        let started = self.operations.start(&launch, caller, now).await?;
        Ok(accepted(
            name,
            found.trigger.operation(),
            found.stored.generation,
            &started,
            Some(scope),
        ))
    }

    /// While an operation holds the lease: the same request again (the execution this one
    /// would start is already running) is answered with it; anything else is refused.
    pub(crate) async fn running(
        &self,
        name: &str,
        trigger: &Trigger<'_>,
        unchanged: bool,
        now: u64,
    ) -> Result<Option<Response<Body>>, ApiError> {
        let lease = self.store().lease(name, now).await?;
        self.running_with(name, lease, trigger, unchanged)
    }

    /// [`Self::running`] with the lease already read (`None`: free).
    pub(crate) fn running_with(
        &self,
        name: &str,
        lease: Option<Lease>,
        trigger: &Trigger<'_>,
        unchanged: bool,
    ) -> Result<Option<Response<Body>>, ApiError> {
        let Some(lease) = lease else {
            return Ok(None);
        };
        if !(unchanged && trigger.started(name, &lease.holder)) {
            return Err(ApiError::OperationInProgress {
                environment: name.to_owned(),
                execution: lease.holder,
                expires_at: lease.expires_at,
            });
        }
        let generation = match *trigger {
            Trigger::Apply { generation, .. }
            | Trigger::Delete { generation, .. }
            | Trigger::Rollback { generation, .. }
            | Trigger::Repair { generation, .. }
            | Trigger::Rollout { generation, .. }
            | Trigger::Sleep { generation, .. }
            | Trigger::Wake { generation, .. } => generation,
            Trigger::Expiry { .. } => 0,
        };
        // Found running: its ARN is not at hand (the status URL tells how it goes).
        let started = Started {
            execution: lease.holder,
            arn: String::new(),
        };
        Ok(Some(accepted(
            name,
            trigger.operation(),
            generation,
            &started,
            None,
        )))
    }
}

/// An environment a request acts on: idle, or already running this request's operation.
pub(crate) enum Existing {
    Idle(Box<Found>),
    Running(Response<Body>),
}

/// An idle environment a request acts on: its spec and status, and the request's trigger.
pub(crate) struct Found {
    pub(crate) stored: StoredSpec,
    pub(crate) status: Option<Versioned<EnvironmentStatus>>,
    pub(crate) trigger: Trigger<'static>,
}

/// What a refusal calls the environment's state when it is not Ready (`None` when it is).
pub(crate) fn not_ready(status: Option<&Versioned<EnvironmentStatus>>) -> Option<String> {
    let state = status.map(|s| s.value.state);
    (state != Some(EnvironmentState::Ready))
        .then(|| state.map_or("never run".to_owned(), |s| format!("{s:?}")))
}
