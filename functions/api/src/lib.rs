//! The HTTP API (API Gateway HTTP API, payload v2, IAM auth): how people and the CLI drive
//! Strata. Mutations store the spec and start a state machine under a deterministic name,
//! answering 202 at once; the state machine does the work and `GET` shows how it goes.
//!
//! Every route is in [`ROUTES`], which `openapi.yaml` and the template's events must match
//! (a test checks both). Bad input is a 4xx naming the field; nothing is written before all
//! checks pass.

use std::collections::BTreeSet;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use strata_contract::{
    Accepted, CancelView, EnvironmentList, EnvironmentListItem, EnvironmentView, ErrorBody,
    ErrorCode, ErrorDetail, FieldProblem, HistoryPage, InFlight, NothingToDo, PlanCost, PlanView,
    SyncRequested, TtlExtended,
};
use strata_core::{
    Component, ComponentPhase, Environment, EnvironmentState, EnvironmentStatus, Event, FieldError,
    OperationKind, Plan, Scope, SecretSources, check_environment_name, cost, parse_duration, plan,
};
use strata_store::{Store, StoreError, StoredSpec, Versioned};

pub use change_sets::{ChangeSets, LambdaChangeSets, NoChangeSets};
pub use strata_control::SyncRequest;
pub use strata_control::{
    FlowError, Flows, LambdaSyncRequests, MemoryFlows, MemorySyncRequests, Operations, SfnFlows,
    SyncRequests,
};
use strata_control::{Launch, Run, StartError, Started, Trigger};

mod change_sets;
mod previews;
mod sleep;

/// How long an apply waits for a twin request that reserved the lease to store the spec:
/// between its two writes, a few milliseconds (3 s at most, well inside API Gateway's 30).
const TWIN_WAITS: u32 = 30;
const TWIN_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// What a route does; its name is the OpenAPI `operationId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    List,
    Get,
    Apply,
    Plan,
    Delete,
    History,
    Rollback,
    ExtendTtl,
    Sync,
    Cancel,
    Sleep,
    Wake,
    Preview,
}

impl Endpoint {
    pub fn operation_id(self) -> &'static str {
        match self {
            Endpoint::List => "listEnvironments",
            Endpoint::Get => "getEnvironment",
            Endpoint::Apply => "applyEnvironment",
            Endpoint::Plan => "planEnvironment",
            Endpoint::Delete => "deleteEnvironment",
            Endpoint::History => "getHistory",
            Endpoint::Rollback => "rollbackEnvironment",
            Endpoint::ExtendTtl => "extendTtl",
            Endpoint::Sync => "syncEnvironment",
            Endpoint::Cancel => "cancelOperation",
            Endpoint::Sleep => "sleepEnvironment",
            Endpoint::Wake => "wakeEnvironment",
            Endpoint::Preview => "createPreview",
        }
    }
}

pub struct Route {
    pub method: Method,
    /// `{name}` matches one path segment: the environment's name.
    pub path: &'static str,
    pub endpoint: Endpoint,
}

/// Every route the API serves.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        path: "/environments",
        endpoint: Endpoint::List,
    },
    Route {
        method: Method::GET,
        path: "/environments/{name}",
        endpoint: Endpoint::Get,
    },
    Route {
        method: Method::PUT,
        path: "/environments/{name}",
        endpoint: Endpoint::Apply,
    },
    Route {
        method: Method::DELETE,
        path: "/environments/{name}",
        endpoint: Endpoint::Delete,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/plan",
        endpoint: Endpoint::Plan,
    },
    Route {
        method: Method::GET,
        path: "/environments/{name}/history",
        endpoint: Endpoint::History,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/rollback",
        endpoint: Endpoint::Rollback,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/ttl",
        endpoint: Endpoint::ExtendTtl,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/sync",
        endpoint: Endpoint::Sync,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/cancel",
        endpoint: Endpoint::Cancel,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/sleep",
        endpoint: Endpoint::Sleep,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/wake",
        endpoint: Endpoint::Wake,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/previews",
        endpoint: Endpoint::Preview,
    },
];

/// Page sizes for listings.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 100;

/// Who called on the local stack, whose function URL carries no IAM identity.
const LOCAL_CALLER: &str = "local (the local stack: no IAM)";

/// Whose requests the API takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callers {
    /// Deployed: only requests API Gateway's IAM authorizer identified (any other is refused,
    /// should one ever reach the function).
    Iam,
    /// The local stack: requests without an identity are the local user's.
    LocalStack,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("the request is invalid: {}", lines(.0))]
    Invalid(Vec<FieldError>),
    #[error("no route for {method} {path}")]
    NoRoute { method: String, path: String },
    #[error("environment {0} does not exist")]
    EnvironmentNotFound(String),
    #[error("{method} is not allowed on {path}; allowed: {allow}")]
    MethodNotAllowed {
        method: String,
        path: String,
        allow: String,
    },
    #[error(
        "environment {environment} is locked by the running operation {execution} (lease until {expires_at}); wait for it to end"
    )]
    OperationInProgress {
        environment: String,
        execution: String,
        expires_at: u64,
    },
    #[error("{message}")]
    RecreateRefused { message: String, plan: Box<Plan> },
    #[error(transparent)]
    BudgetExceeded(#[from] strata_core::cost::BudgetError),
    #[error("the stored spec changed while this request ran; read it again and retry")]
    SpecChanged,
    #[error("{0}")]
    RollbackRefused(String),
    #[error("{0}")]
    SleepRefused(String),
    #[error("{0}")]
    PreviewsDepend(String),
    #[error("the body is {size} bytes; the limit is {limit}")]
    PayloadTooLarge { size: usize, limit: usize },
    #[error("content type {0:?} is not accepted; send application/json or application/yaml")]
    UnsupportedMediaType(String),
    #[error(
        "the request carries no IAM identity; the API takes only SigV4-signed requests (the strata CLI signs with your AWS credentials)"
    )]
    NoIdentity,
    #[error("{0}; retry later")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

fn lines(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::NoRoute { .. } | ApiError::EnvironmentNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::OperationInProgress { .. }
            | ApiError::RecreateRefused { .. }
            | ApiError::BudgetExceeded(_)
            | ApiError::SpecChanged
            | ApiError::RollbackRefused(_)
            | ApiError::SleepRefused(_)
            | ApiError::PreviewsDepend(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NoIdentity => StatusCode::FORBIDDEN,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients match on (the CLI does).
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Invalid(_) => ErrorCode::InvalidRequest,
            ApiError::NoRoute { .. } => ErrorCode::NoSuchRoute,
            ApiError::EnvironmentNotFound(_) => ErrorCode::EnvironmentNotFound,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ApiError::OperationInProgress { .. } => ErrorCode::OperationInProgress,
            ApiError::RecreateRefused { .. } => ErrorCode::RecreateRefused,
            ApiError::BudgetExceeded(_) => ErrorCode::BudgetExceeded,
            ApiError::SpecChanged => ErrorCode::SpecChanged,
            ApiError::RollbackRefused(_) => ErrorCode::RollbackRefused,
            ApiError::SleepRefused(_) => ErrorCode::SleepRefused,
            ApiError::PreviewsDepend(_) => ErrorCode::PreviewsDepend,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::NoIdentity => ErrorCode::NoIdentity,
            ApiError::Unavailable(_) => ErrorCode::ServiceUnavailable,
            ApiError::Internal(_) => ErrorCode::InternalError,
        }
    }

    fn body(&self) -> ErrorBody {
        let mut error = ErrorDetail {
            code: self.code(),
            message: self.to_string(),
            fields: Vec::new(),
            execution: None,
            plan: None,
        };
        match self {
            ApiError::Invalid(fields) => {
                error.fields = fields
                    .iter()
                    .map(|f| FieldProblem {
                        path: f.path.clone(),
                        message: f.message.clone(),
                    })
                    .collect();
            }
            ApiError::OperationInProgress { execution, .. } => {
                error.execution = Some(execution.clone());
            }
            ApiError::RecreateRefused { plan, .. } => error.plan = Some((**plan).clone()),
            ApiError::BudgetExceeded(refused) => {
                error.fields = vec![FieldProblem {
                    path: strata_core::cost::BudgetError::PATH.to_owned(),
                    message: refused.to_string(),
                }];
            }
            _ => {}
        }
        ErrorBody { error }
    }

    fn into_response(self) -> Response<Body> {
        let mut response = respond(self.status(), &self.body());
        if let ApiError::MethodNotAllowed { allow, .. } = &self {
            if let Ok(value) = HeaderValue::from_str(allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::StaleVersion { .. } => ApiError::SpecChanged,
            StoreError::Aws(_) => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Held {
                environment,
                holder,
                expires_at,
            } => ApiError::OperationInProgress {
                environment,
                execution: holder,
                expires_at,
            },
            StartError::Store(e) => e.into(),
            StartError::Flows(e) => e.into(),
        }
    }
}

/// A contract body as JSON with `status`.
fn respond(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let text = serde_json::to_string(body).expect("the contract's bodies serialise");
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The route for `method` and `path`, with the environment name it names.
pub fn route(method: &Method, path: &str) -> Result<(Endpoint, Option<String>), ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut allowed = Vec::new();
    for route in ROUTES {
        let pattern: Vec<&str> = route.path.trim_start_matches('/').split('/').collect();
        if pattern.len() != segments.len() {
            continue;
        }
        let mut name = None;
        let matches = pattern.iter().zip(&segments).all(|(p, s)| {
            if *p == "{name}" {
                name = Some((*s).to_owned());
                !s.is_empty()
            } else {
                p == s
            }
        });
        if !matches {
            continue;
        }
        if route.method == *method {
            return Ok((route.endpoint, name));
        }
        allowed.push(route.method.as_str());
    }
    if allowed.is_empty() {
        Err(ApiError::NoRoute {
            method: method.to_string(),
            path: path.to_owned(),
        })
    } else {
        Err(ApiError::MethodNotAllowed {
            method: method.to_string(),
            path: path.to_owned(),
            allow: allowed.join(", "),
        })
    }
}

/// The API over a store and the state machines ([`Operations`] starts every operation),
/// and the sync function, to which `POST …/sync` hands its work.
pub struct Api<S, F, Q, C = NoChangeSets> {
    operations: Operations<S, F>,
    syncs: Q,
    secrets: SecretSources,
    callers: Callers,
    /// What a plan shows of a standing stack's change.
    change_sets: C,
}

/// The deployed function's API: the state table, the state machines, the sync function and
/// the custom function, each from the function's environment.
pub type Deployed = Api<strata_store::DynamoStore, SfnFlows, LambdaSyncRequests, LambdaChangeSets>;

/// [`Deployed`], from the SDK's configuration and the function's environment.
pub fn deployed(config: &aws_config::SdkConfig) -> Result<Deployed, lambda_http::Error> {
    let flows = SfnFlows::from_env(aws_sdk_sfn::Client::new(config))?;
    let store = strata_component::lambda::store(config)?;
    let operations = Operations::new(store, flows).with_poll_seconds_from_env();
    let lambda = aws_sdk_lambda::Client::new(config);
    let syncs = LambdaSyncRequests::from_env(lambda.clone())?;
    Ok(Api::from_env(operations, syncs)?.with_change_sets(LambdaChangeSets::from_env(lambda)?))
}

/// The secrets specs may name, from the function's environment (the template sets both from
/// the stack's account and its `SecretNamePrefix` parameter).
fn secret_sources_from_env() -> Result<SecretSources, String> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    Ok(SecretSources {
        account: var("SECRET_ACCOUNT_ID")?,
        name_prefix: var("SECRET_NAME_PREFIX")?,
    })
}

/// The query parameters a request may carry, checked once.
#[derive(Debug, Default)]
struct Query {
    limit: Option<u32>,
    cursor: Option<String>,
    allow_recreate: BTreeSet<Component>,
}

impl<S: Store, F: Flows, Q: SyncRequests> Api<S, F, Q> {
    /// The API starting operations through `operations`, handing syncs to `syncs`, and
    /// accepting specs whose secrets `secrets` allows; its plans make no change sets.
    pub fn new(operations: Operations<S, F>, syncs: Q, secrets: SecretSources) -> Self {
        Self {
            operations,
            syncs,
            secrets,
            callers: Callers::Iam,
            change_sets: NoChangeSets,
        }
    }

    /// Its plans preview standing stacks' changes through `change_sets`.
    pub fn with_change_sets<C: ChangeSets>(self, change_sets: C) -> Api<S, F, Q, C> {
        Api {
            operations: self.operations,
            syncs: self.syncs,
            secrets: self.secrets,
            callers: self.callers,
            change_sets,
        }
    }

    /// The API as the function's environment configures it: the secrets specs may name, and
    /// whether it runs on the local stack (`STRATA_LOCAL_STACK=true`, set only there).
    pub fn from_env(operations: Operations<S, F>, syncs: Q) -> Result<Self, String> {
        let local = std::env::var("STRATA_LOCAL_STACK").is_ok_and(|v| v == "true");
        let callers = if local {
            Callers::LocalStack
        } else {
            Callers::Iam
        };
        Ok(Self::new(operations, syncs, secret_sources_from_env()?).with_callers(callers))
    }
}

impl<S: Store, F: Flows, Q: SyncRequests, C: ChangeSets> Api<S, F, Q, C> {
    pub fn with_callers(mut self, callers: Callers) -> Self {
        self.callers = callers;
        self
    }

    /// Who called, for the history: the IAM identity API Gateway's authorizer put in the
    /// request context, or the local user on the local stack; nobody otherwise.
    fn caller(&self, request: &Request) -> Result<String, ApiError> {
        let identity = request
            .request_context_ref()
            .and_then(|c| c.authorizer())
            .and_then(|a| a.iam.as_ref())
            .and_then(|iam| iam.user_arn.clone());
        match (identity, self.callers) {
            (Some(arn), _) => Ok(arn),
            (None, Callers::LocalStack) => Ok(LOCAL_CALLER.to_owned()),
            (None, Callers::Iam) => Err(ApiError::NoIdentity),
        }
    }

    /// A spec from the body, refused with every field error if it names a secret the
    /// operator does not allow.
    fn allowed_spec(&self, request: &Request, name: &str) -> Result<Environment, ApiError> {
        let environment = spec_body(request, name)?;
        let refused = self.secrets.check(&environment);
        if refused.is_empty() {
            Ok(environment)
        } else {
            Err(ApiError::Invalid(refused))
        }
    }

    pub fn store(&self) -> &S {
        self.operations.store()
    }

    pub fn flows(&self) -> &F {
        self.operations.flows()
    }

    pub fn syncs(&self) -> &Q {
        &self.syncs
    }

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
        let caller = self.caller(request)?;
        let caller = caller.as_str();
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
        match endpoint {
            Endpoint::List => self.list(&query).await,
            Endpoint::Get => self.get(&name, now).await,
            Endpoint::Apply => {
                let environment = self.allowed_spec(request, &name)?;
                self.apply(environment, &query, caller, now).await
            }
            Endpoint::Plan => {
                let environment = self.allowed_spec(request, &name)?;
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
                self.preview(&name, body, caller, now).await
            }
        }
    }

    async fn list(&self, query: &Query) -> Result<Response<Body>, ApiError> {
        let page = self
            .store()
            .list(
                query.limit.unwrap_or(DEFAULT_LIMIT),
                query.cursor.as_deref(),
            )
            .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for summary in page.items {
            let status = self.store().get_status(&summary.name).await?;
            items.push(EnvironmentListItem {
                name: summary.name,
                generation: summary.generation,
                updated_at: summary.updated_at,
                state: status.as_ref().map(|s| s.value.state),
                message: status.map(|s| s.value.message),
            });
        }
        Ok(respond(
            StatusCode::OK,
            &EnvironmentList {
                items,
                next: page.next,
            },
        ))
    }

    async fn get(&self, name: &str, now: u64) -> Result<Response<Body>, ApiError> {
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

    async fn apply(
        &self,
        environment: Environment,
        query: &Query,
        caller: &str,
        now: u64,
    ) -> Result<Response<Body>, ApiError> {
        let name = environment.name().to_owned();
        let stored = self.store().get_spec(&name).await?;
        let status = self.store().get_status(&name).await?;
        let standing = standing(stored.as_ref(), status.as_ref());
        let planned = plan(standing.as_ref(), &environment);
        self.check_dependents(&name, &planned).await?;
        if let Err(refused) = planned.check_allowed(&query.allow_recreate) {
            let allow = planned
                .data_losing()
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(",");
            return Err(ApiError::RecreateRefused {
                message: format!(
                    "{refused}: apply again with --allow-recreate {allow} (the API's ?allowRecreate={})",
                    planned
                        .data_losing()
                        .iter()
                        .map(|c| c.name())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                plan: Box::new(planned),
            });
        }
        cost::check_budget(&environment, &cost::estimate(&environment))?;
        self.check_restore(&environment, &planned).await?;
        let unchanged = stored
            .as_ref()
            .is_some_and(|s| s.environment == environment);
        let generation = match &stored {
            Some(s) if unchanged => s.generation,
            Some(s) => s.generation + 1,
            None => 1,
        };
        let trigger = Trigger::Apply {
            generation,
            status_version: status.as_ref().map_or(0, |s| s.version),
        };
        let running = match self.running(&name, &trigger, unchanged, now).await {
            // Read before another request with this very spec stored it and started: that
            // operation is this request's too.
            Err(held @ ApiError::OperationInProgress { .. }) if !unchanged => {
                self.twin(&name, &environment, &trigger, held, now).await?
            }
            other => other?,
        };
        if let Some(response) = running {
            return Ok(response);
        }
        if unchanged && converged(status.as_ref().map(|s| &s.value), generation) {
            return Ok(respond(
                StatusCode::OK,
                &NothingToDo {
                    environment: name,
                    generation,
                    state: EnvironmentState::Ready,
                    message: format!("already Ready at generation {generation}; nothing to do"),
                },
            ));
        }
        // The deploy fast path: only the application layer changes and the layers below
        // stand Ready, so only app and dns run.
        let scope = if !unchanged
            && planned.touches_only_app()
            && below_ready(status.as_ref().map(|s| &s.value), &environment)
        {
            Scope::Application
        } else {
            Scope::All
        };
        let recreate = if scope == Scope::All {
            planned.recreated()
        } else {
            Vec::new()
        };
        let launch = Launch {
            environment: &name,
            trigger,
            scope,
            recreate,
            message: format!(
                "apply of generation {generation} requested ({}{})",
                summary(&planned),
                if scope == Scope::Application {
                    "; application layer only"
                } else {
                    ""
                }
            ),
        };
        let execution = launch.execution();
        // The lease before the spec: a spec never lands under an operation that started
        // after this request read the lease (a scheduled TTL delete, another apply).
        self.operations.reserve(&name, &execution, now).await?;
        match self
            .store()
            .put_spec(&environment, stored.as_ref(), now)
            .await
        {
            Ok(_) => {}
            // Another request wrote the spec since this one read it. Both computed this
            // generation, so both reserved under one execution name: the lease is the
            // other's as much as ours and stays. The same spec is the same operation;
            // another one is refused.
            Err(StoreError::StaleVersion { .. }) => {
                let now_stored = self.store().get_spec(&name).await?;
                match now_stored {
                    Some(s) if s.environment == environment => {}
                    Some(s) if s.generation == generation => return Err(ApiError::SpecChanged),
                    _ => {
                        self.operations.unreserve(&name, &execution).await;
                        return Err(ApiError::SpecChanged);
                    }
                }
            }
            Err(e) => {
                self.operations.unreserve(&name, &execution).await;
                return Err(e.into());
            }
        }
        let every = parse_duration(&environment.spec.sync.every).unwrap_or(900);
        strata_store::ensure_scheduled(self.store(), &name, now, every).await?;
        // An ECR push syncs the environments using its repository: keep that index true.
        let images = environment.images();
        let dropped: Vec<&str> = stored
            .as_ref()
            .map(|s| s.environment.images())
            .unwrap_or_default()
            .into_iter()
            .filter(|image| !images.contains(image))
            .collect();
        self.store().index_images(&name, &images, &dropped).await?;
        let started = self.operations.launch(&launch, caller, now).await?;
        Ok(accepted(
            &name,
            OperationKind::Up,
            generation,
            &started,
            Some(scope),
        ))
    }

    /// `spec.database.restoreFrom` names a snapshot recorded for this environment (or
    /// `latest` with one recorded), when the plan makes the database; else 400 naming it.
    async fn check_restore(
        &self,
        environment: &Environment,
        planned: &Plan,
    ) -> Result<(), ApiError> {
        let Some(from) = environment
            .spec
            .database
            .as_ref()
            .and_then(|d| d.restore_from.as_deref())
        else {
            return Ok(());
        };
        match planned.action(Component::Database) {
            strata_core::Action::Create => {}
            // A recreate's teardown takes a final snapshot first: that is `latest` then.
            strata_core::Action::Recreate if from != strata_core::snapshots::LATEST => {}
            _ => return Ok(()),
        }
        let record = self
            .store()
            .get_component(environment.name(), Component::Database)
            .await?;
        strata_core::snapshots::chosen(from, record.as_ref().map(|r| &r.value))
            .map(|_| ())
            .map_err(|why| {
                ApiError::Invalid(vec![FieldError::new(strata_core::snapshots::FIELD, why)])
            })
    }

    async fn plan(
        &self,
        environment: Environment,
        query: &Query,
    ) -> Result<Response<Body>, ApiError> {
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
                .is_some_and(|s| {
                    !matches!(s.phase, ComponentPhase::Deleted | ComponentPhase::Pending)
                });
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

    async fn delete(&self, name: &str, caller: &str, now: u64) -> Result<Response<Body>, ApiError> {
        let (stored, status) = match self
            .existing(
                name,
                |generation, status_version| Trigger::Delete {
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
        if status
            .as_ref()
            .is_some_and(|s| s.value.state == EnvironmentState::Deleted)
        {
            return Ok(respond(
                StatusCode::OK,
                &NothingToDo {
                    environment: name.to_owned(),
                    generation: stored.generation,
                    state: EnvironmentState::Deleted,
                    message: "already Deleted; nothing to do".to_owned(),
                },
            ));
        }
        let dependents = self.dependents(name).await?;
        if !dependents.is_empty() {
            return Err(ApiError::PreviewsDepend(format!(
                "previews run on environment {name}'s cluster: {}; delete them first",
                dependents.join(", ")
            )));
        }
        let launch = Launch {
            environment: name,
            trigger: Trigger::Delete {
                generation: stored.generation,
                status_version: status.map_or(0, |s| s.version),
            },
            scope: Scope::All,
            recreate: Vec::new(),
            message: format!("delete requested (generation {})", stored.generation),
        };
        let started = self.operations.start(&launch, caller, now).await?;
        Ok(accepted(
            name,
            OperationKind::Down,
            stored.generation,
            &started,
            Some(Scope::All),
        ))
    }

    /// Switches every blue-green service back to its previous colour (still scaled): the
    /// `up` state machine in the `rollback` scope, so the lease, the history and the status
    /// work as for any operation. Refused unless the environment is Ready and every
    /// blue-green service has a previous colour recorded.
    async fn rollback(
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

    /// Pushes an environment's TTL expiry back by `by` seconds; its warnings start over.
    async fn extend_ttl(
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
        let Some(ttl) = stored
            .environment
            .spec
            .ttl
            .as_deref()
            .and_then(parse_duration)
        else {
            return Err(ApiError::Invalid(vec![FieldError::new(
                "spec.ttl",
                format!("environment {name} has no TTL to extend"),
            )]));
        };
        let every = parse_duration(&stored.environment.spec.sync.every).unwrap_or(900);
        strata_store::ensure_scheduled(self.store(), name, now, every).await?;
        let current = self
            .store()
            .get_sync(name)
            .await?
            .ok_or_else(|| ApiError::Internal(format!("{name}: schedule vanished")))?;
        let mut record = current.value;
        record.ttl_extension += by;
        record.warned_lead = None;
        let expires_at = record.created_at + ttl + record.ttl_extension;
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

    /// Hands one environment's sync (due or not, live resources read) to the sync function
    /// and answers 202 at once: reading live resources can take longer than API Gateway's
    /// 30 s. The result is the history's `Synced` event whose actor is `sync/<run>`. 409
    /// while an operation holds the lease (the sync would only skip).
    async fn sync_now(
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

    /// Stops the running operation, fences its steps, gives the environment back and
    /// records it Cancelled with what was in flight; a following `up` or `delete` resumes.
    /// 200 either way: what was cancelled, or that nothing runs.
    async fn cancel(&self, name: &str, caller: &str, now: u64) -> Result<Response<Body>, ApiError> {
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

    async fn history(&self, name: &str, query: &Query) -> Result<Response<Body>, ApiError> {
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

    /// The operation of another request with this very spec, which read what this one read
    /// and reserved the lease first: answered as this request's own. The holder may not have
    /// stored the spec yet (it reserves, then stores): while the lease is held under the
    /// execution this request would start and the stored spec is still the older one, wait
    /// a moment for it. Any other spec stored, or another holder: `held` (409).
    async fn twin(
        &self,
        name: &str,
        environment: &Environment,
        trigger: &Trigger<'_>,
        held: ApiError,
        now: u64,
    ) -> Result<Option<Response<Body>>, ApiError> {
        let ApiError::OperationInProgress { execution, .. } = &held else {
            return Err(held);
        };
        let pending = trigger.started(name, execution);
        let Trigger::Apply { generation, .. } = *trigger else {
            return Err(held);
        };
        for _ in 0..TWIN_WAITS {
            match self.store().get_spec(name).await? {
                Some(s) if s.environment == *environment => {
                    let same = Trigger::Apply {
                        generation: s.generation,
                        status_version: 0,
                    };
                    return self.running(name, &same, true, now).await;
                }
                Some(s) if pending && s.generation < generation => {}
                None if pending => {}
                _ => return Err(held),
            }
            tokio::time::sleep(TWIN_WAIT).await;
        }
        Err(held)
    }

    /// An environment that must exist for the request, and whether this same request's
    /// operation already runs (answered as such). `trigger` makes the request's trigger from
    /// the stored generation and the status version.
    async fn existing(
        &self,
        name: &str,
        trigger: fn(u64, u64) -> Trigger<'static>,
        now: u64,
    ) -> Result<Existing, ApiError> {
        let stored = self
            .store()
            .get_spec(name)
            .await?
            .ok_or_else(|| ApiError::EnvironmentNotFound(name.to_owned()))?;
        let status = self.store().get_status(name).await?;
        let request = trigger(stored.generation, status.as_ref().map_or(0, |s| s.version));
        match self.running(name, &request, true, now).await? {
            Some(response) => Ok(Existing::Running(response)),
            None => Ok(Existing::Idle(Box::new((stored, status)))),
        }
    }

    /// While an operation holds the lease: the same request again (the execution this one
    /// would start is already running) is answered with it; anything else is refused.
    async fn running(
        &self,
        name: &str,
        trigger: &Trigger<'_>,
        unchanged: bool,
        now: u64,
    ) -> Result<Option<Response<Body>>, ApiError> {
        let Some(lease) = self.store().lease(name, now).await? else {
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

/// An environment a request acts on: idle (its spec and status), or already running this
/// request's operation.
enum Existing {
    Idle(Box<(StoredSpec, Option<Versioned<EnvironmentStatus>>)>),
    Running(Response<Body>),
}

/// What the environment stands converged to, which a new spec is planned against: the
/// stored spec with each component's recorded section put back (a failed operation leaves
/// the components it never converged at what they were).
fn standing(
    stored: Option<&StoredSpec>,
    status: Option<&Versioned<EnvironmentStatus>>,
) -> Option<Environment> {
    let stored = stored?;
    let sections = status
        .map(|s| {
            s.value
                .components
                .iter()
                .filter_map(|(c, cs)| cs.applied.clone().map(|a| (*c, a)))
                .collect()
        })
        .unwrap_or_default();
    Some(stored.environment.with_applied(&sections))
}

/// Every component of the spec outside the application layer is Ready.
fn below_ready(status: Option<&EnvironmentStatus>, environment: &Environment) -> bool {
    environment
        .components()
        .into_iter()
        .filter(|c| !Scope::Application.includes(*c))
        .all(|c| {
            status
                .and_then(|s| s.components.get(&c))
                .is_some_and(|cs| cs.phase == ComponentPhase::Ready)
        })
}

/// Ready at this generation (the lease, checked before, says nothing runs).
fn converged(status: Option<&EnvironmentStatus>, generation: u64) -> bool {
    status
        .is_some_and(|s| s.state == EnvironmentState::Ready && s.observed_generation == generation)
}

fn accepted(
    name: &str,
    operation: OperationKind,
    generation: u64,
    started: &Started,
    scope: Option<Scope>,
) -> Response<Body> {
    let execution = &started.execution;
    let arn = (!started.arn.is_empty()).then_some(&started.arn);
    let status_url = format!("/environments/{name}");
    let mut response = respond(
        StatusCode::ACCEPTED,
        &Accepted {
            environment: name.to_owned(),
            operation: operation.name().to_owned(),
            generation,
            execution: execution.clone(),
            execution_arn: arn.cloned(),
            scope,
            status_url: status_url.clone(),
        },
    );
    if let Ok(value) = HeaderValue::from_str(&status_url) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// One line: which components the plan changes, and how.
fn summary(plan: &Plan) -> String {
    let changes: Vec<String> = plan
        .components
        .iter()
        .filter(|p| p.action != strata_core::Action::NoOp)
        .map(|p| format!("{} {:?}", p.component.name(), p.action).to_lowercase())
        .collect();
    if changes.is_empty() {
        "no changes".to_owned()
    } else {
        changes.join(", ")
    }
}

fn query(request: &Request, endpoint: Endpoint) -> Result<Query, ApiError> {
    let params = request.query_string_parameters();
    let accepted: &[&str] = match endpoint {
        Endpoint::List | Endpoint::History => &["limit", "cursor"],
        Endpoint::Apply | Endpoint::Plan => &["allowRecreate"],
        Endpoint::Get
        | Endpoint::Delete
        | Endpoint::Rollback
        | Endpoint::ExtendTtl
        | Endpoint::Sync
        | Endpoint::Cancel
        | Endpoint::Sleep
        | Endpoint::Wake
        | Endpoint::Preview => &[],
    };
    let mut errors = Vec::new();
    let mut query = Query::default();
    for (key, _) in params.iter() {
        if !accepted.contains(&key) {
            errors.push(FieldError::new(
                format!("query.{key}"),
                format!(
                    "unknown parameter; this route takes {}",
                    if accepted.is_empty() {
                        "none".to_owned()
                    } else {
                        accepted.join(", ")
                    }
                ),
            ));
        }
    }
    if let Some(limit) = params.first("limit") {
        match limit.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => query.limit = Some(n),
            _ => errors.push(FieldError::new(
                "query.limit",
                format!("must be a whole number from 1 to {MAX_LIMIT}"),
            )),
        }
    }
    query.cursor = params.first("cursor").map(str::to_owned);
    if let Some(cursor) = &query.cursor {
        // Cursors are what a previous page's `next` said: an environment name (list) or an
        // event's key (history). Anything else is the caller's mistake, not a 503.
        let valid = match endpoint {
            Endpoint::History => strata_store::is_history_cursor(cursor),
            _ => check_environment_name(cursor).is_ok(),
        };
        if !valid {
            errors.push(FieldError::new(
                "query.cursor",
                "is not a cursor this listing gave out; pass the previous page's next",
            ));
        }
    }
    for list in params.all("allowRecreate").unwrap_or_default() {
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match Component::from_name(word) {
                Some(c) if c.is_stateful() => {
                    query.allow_recreate.insert(c);
                }
                Some(_) => errors.push(FieldError::new(
                    "query.allowRecreate",
                    format!("{word} holds no data; only database and storage need allowing"),
                )),
                None => errors.push(FieldError::new(
                    "query.allowRecreate",
                    format!("unknown component {word:?}"),
                )),
            }
        }
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(ApiError::Invalid(errors))
    }
}

const SPEC_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
];

/// The request's spec: the right content type, within the size limit, valid, and named
/// as the path names it.
/// An extension is 10 minutes to 30 days at a time.
const EXTENSION_SECONDS: std::ops::RangeInclusive<u64> = 600..=30 * 86_400;

/// The body of a TTL extension: `{"extendBy": "24h"}`.
fn extension_body(request: &Request) -> Result<u64, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
    {
        return Err(ApiError::UnsupportedMediaType(content_type.to_owned()));
    }
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > 1024 {
        return Err(ApiError::PayloadTooLarge {
            size: bytes.len(),
            limit: 1024,
        });
    }
    let invalid =
        |field: &str, message: &str| ApiError::Invalid(vec![FieldError::new(field, message)]);
    let body: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| invalid("(body)", &format!("is not JSON: {e}")))?;
    let object = body.as_object().ok_or_else(|| {
        invalid(
            "(body)",
            "must be an object such as {\"extendBy\": \"24h\"}",
        )
    })?;
    let mut errors: Vec<FieldError> = object
        .keys()
        .filter(|k| *k != "extendBy")
        .map(|k| {
            FieldError::new(
                strata_core::spec::path_key(k),
                "unknown field; the body takes extendBy",
            )
        })
        .collect();
    let by = match object
        .get("extendBy")
        .map(|v| v.as_str().and_then(parse_duration))
    {
        Some(Some(by)) if EXTENSION_SECONDS.contains(&by) => Some(by),
        Some(_) => {
            errors.push(FieldError::new(
                "extendBy",
                "must be a duration between 10m and 30d, such as 24h",
            ));
            None
        }
        None => {
            errors.push(FieldError::new("extendBy", "is required, such as \"24h\""));
            None
        }
    };
    match by {
        Some(by) if errors.is_empty() => Ok(by),
        _ => Err(ApiError::Invalid(errors)),
    }
}

fn spec_body(request: &Request, name: &str) -> Result<Environment, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !SPEC_TYPES.contains(&media.as_str()) {
        return Err(ApiError::UnsupportedMediaType(content_type.to_owned()));
    }
    let bytes: &[u8] = request.body().as_ref();
    let limit = strata_core::spec::MAX_DOCUMENT_BYTES;
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge {
            size: bytes.len(),
            limit,
        });
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::Invalid(vec![FieldError::new("(body)", "is not UTF-8 text")]))?;
    let environment = Environment::parse(text).map_err(|e| ApiError::Invalid(e.field_errors()))?;
    if environment.name() != name {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "metadata.name",
            format!(
                "is {:?}, but the path names {name:?}; they must be the same",
                environment.name()
            ),
        )]));
    }
    Ok(environment)
}
