//! The HTTP API (API Gateway HTTP API, payload v2, IAM auth): how people and the CLI drive
//! Strata. Mutations store the spec and start a state machine under a deterministic name,
//! answering 202 at once; the state machine does the work and `GET` shows how it goes.
//!
//! Every route is in [`ROUTES`], which `openapi.yaml` and the template's events must match
//! (a test checks both). Bad input is a 4xx naming the field; nothing is written before all
//! checks pass.
//!
//! Layout: `routes.rs` says which endpoint a request is, `handlers/` answers each (the apply
//! decision in `apply.rs`), `request.rs` checks what it carries, `error.rs` renders refusals.

use strata_core::SecretSources;
use strata_store::Store;

pub use change_sets::{ChangeSets, LambdaChangeSets, NoChangeSets};
pub use error::ApiError;
pub use principals::{Entity, IamTags, NoTags, PrincipalTags, TagsFuture};
pub use routes::{Endpoint, ROUTES, Route, route};
pub use strata_control::SyncRequest;
pub use strata_control::{
    FlowError, Flows, LambdaSyncRequests, Operations, SfnFlows, SyncRequests,
};

// The crate-wide helpers the resource modules name by `crate::` paths.
pub(crate) use apply::standing;
pub(crate) use request::Query;
pub(crate) use response::respond;

mod apply;
mod change_sets;
mod error;
mod handlers;
mod previews;
mod principals;
mod request;
mod response;
mod routes;
mod sleep;

/// Whose requests the API takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callers {
    /// Deployed: only requests API Gateway's IAM authorizer identified (any other is refused,
    /// should one ever reach the function).
    Iam,
    /// The local stack: requests without an identity are the local user's, an admin.
    LocalStack,
}

/// The API over a store and the state machines ([`Operations`] starts every operation),
/// and the sync function, to which `POST …/sync` hands its work.
pub struct Api<S, F, Q, C = NoChangeSets> {
    operations: Operations<S, F>,
    syncs: Q,
    secrets: SecretSources,
    callers: Callers,
    /// The team and admin tags of the callers' IAM principals.
    principals: std::sync::Arc<dyn PrincipalTags>,
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
    let principals = IamTags::new(aws_sdk_iam::Client::new(config));
    Ok(Api::from_env(operations, syncs)?
        .with_principals(principals)
        .with_change_sets(LambdaChangeSets::from_env(lambda)?))
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

impl<S: Store, F: Flows, Q: SyncRequests> Api<S, F, Q> {
    /// The API starting operations through `operations`, handing syncs to `syncs`, and
    /// accepting specs whose secrets `secrets` allows; its plans make no change sets, and
    /// no caller carries tags until [`Api::with_principals`] says where they are.
    pub fn new(operations: Operations<S, F>, syncs: Q, secrets: SecretSources) -> Self {
        Self {
            operations,
            syncs,
            secrets,
            callers: Callers::Iam,
            principals: std::sync::Arc::new(NoTags),
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
            principals: self.principals,
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

    /// Callers' team and admin tags come from `principals`.
    pub fn with_principals(mut self, principals: impl PrincipalTags + 'static) -> Self {
        self.principals = std::sync::Arc::new(principals);
        self
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
}
