//! Answering one request (who called, which route, its query and body, then the endpoint's
//! handler: one module per resource) and what handlers share: the lease check, history events.

use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request, RequestExt, Response};
use strata_control::{Flows, Launch, Started, SyncRequests, Trigger};
use strata_core::{
    EnvironmentState, EnvironmentStatus, Event, FieldError, Scope, check_environment_name,
};
use strata_store::{Lease, Store, StoredSpec, Versioned};

use crate::request::{extension_body, query, spec_body};
use crate::response::accepted;
use crate::{Api, ApiError, ChangeSets, Endpoint, previews, route, sleep};

mod cancel;
mod environments;
mod history;
mod plan;
mod rollback;
mod sync;
mod ttl;

impl<S: Store, F: Flows, Q: SyncRequests, C: ChangeSets> Api<S, F, Q, C> {
    /// Answers one request; every failure is a response with an error body, never a panic.
    /// Every answer names this control plane's contract and release
    /// ([`strata_api_types::contract`]).
    pub async fn handle(&self, request: Request, now: u64) -> Response<Body> {
        let result = match client_contract(&request) {
            Some(refused) => Err(ApiError::ClientTooOld(refused)),
            None => self.dispatch(&request, now).await,
        };
        let mut response = result.unwrap_or_else(|e| {
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
        use strata_api_types::contract::{CONTRACT, CONTRACT_HEADER, VERSION_HEADER};
        let headers = response.headers_mut();
        headers.insert(CONTRACT_HEADER, HeaderValue::from_static(CONTRACT));
        headers.insert(
            VERSION_HEADER,
            HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
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
            Endpoint::Delete => self.operate(&name, Requested::Delete, caller, now).await,
            Endpoint::History => self.history(&name, &query).await,
            Endpoint::Rollback => self.operate(&name, Requested::Rollback, caller, now).await,
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
            Endpoint::Sleep => self.operate(&name, Requested::Sleep, caller, now).await,
            Endpoint::Wake => self.operate(&name, Requested::Wake, caller, now).await,
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

    /// A request for an operation on an environment that must exist: the environment is
    /// read once, the request decides on it idle, and what it decided is started (answered
    /// 202) or answered. This same request's operation already running is answered as such.
    async fn operate(
        &self,
        name: &str,
        requested: Requested,
        caller: &str,
        now: u64,
    ) -> Result<Response<Body>, ApiError> {
        // One read: the spec, the status and the lease.
        let read = self.store().read(name, now).await?;
        let stored = read
            .spec
            .ok_or_else(|| ApiError::EnvironmentNotFound(name.to_owned()))?;
        let status = read.status;
        let trigger =
            requested.trigger(stored.generation, status.as_ref().map_or(0, |s| s.version));
        if let Some(running) = self.running_with(name, read.lease, &trigger, true)? {
            return Ok(running);
        }
        let found = Found {
            stored,
            status,
            trigger,
        };
        let decision = match requested {
            Requested::Delete => self.delete(name, &found).await?,
            Requested::Rollback => rollback::decide(name, &found)?,
            Requested::Sleep => sleep::decide(name, true, &found)?,
            Requested::Wake => sleep::decide(name, false, &found)?,
        };
        let (scope, message) = match decision {
            Decision::Start { scope, message } => (scope, message),
            Decision::Answer(answer) => return Ok(answer),
        };
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
        let generation = trigger.generation().unwrap_or(0);
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

/// The requests for an operation on an existing environment.
#[derive(Debug, Clone, Copy)]
enum Requested {
    Delete,
    Rollback,
    Sleep,
    Wake,
}

impl Requested {
    /// The request's trigger, from the stored generation and the status version.
    #[rustfmt::skip] // A table: one request a row.
    fn trigger(self, generation: u64, status_version: u64) -> Trigger<'static> {
        match self {
            Requested::Delete => Trigger::Delete { generation, status_version },
            Requested::Rollback => Trigger::Rollback { generation, status_version },
            Requested::Sleep => Trigger::Sleep { generation, status_version },
            Requested::Wake => Trigger::Wake { generation, status_version },
        }
    }
}

/// An idle environment a request acts on: its spec and status, and the request's trigger.
pub(crate) struct Found {
    pub(crate) stored: StoredSpec,
    pub(crate) status: Option<Versioned<EnvironmentStatus>>,
    pub(crate) trigger: Trigger<'static>,
}

/// What a request decided on the idle environment it found.
pub(crate) enum Decision {
    /// Start the operation in `scope`, with `message` in the history.
    Start { scope: Scope, message: String },
    /// Answer this, starting nothing (there is nothing to do).
    Answer(Response<Body>),
}

/// What a refusal calls the environment's state when it is not Ready (`None` when it is).
pub(crate) fn not_ready(status: Option<&Versioned<EnvironmentStatus>>) -> Option<String> {
    let state = status.map(|s| s.value.state);
    (state != Some(EnvironmentState::Ready))
        .then(|| state.map_or("never run".to_owned(), |s| format!("{s:?}")))
}

/// Why the request's client is refused: its contract header names a major this release no
/// longer serves. A request without the header (curl, the console) is served.
fn client_contract(request: &Request) -> Option<String> {
    let header = request
        .headers()
        .get(strata_api_types::contract::CONTRACT_HEADER)?;
    let contract = header.to_str().unwrap_or("(not text)");
    strata_api_types::contract::refuse_client(contract)
}
