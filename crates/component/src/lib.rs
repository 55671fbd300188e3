//! One step of a component's `apply` or `destroy`, the contract every component handler
//! follows. A step never waits on AWS: it does what can be done now and answers
//! `{done, phase, outputs}`; the state machine waits `pollSeconds` and calls again until
//! `done`. [`run`] wraps a [`ComponentHandler`] with what every component needs: input
//! checks, the operation's deadline, dependency checks, and recording the outcome (or the
//! error) as the component's status.

use std::collections::BTreeMap;
use std::future::Future;

use serde::{Deserialize, Serialize};
use strata_core::drift::Observed;
use strata_core::status::ComponentPhase;
use strata_core::tags::Owner;
use strata_core::{Awaited, Component, ComponentStatus, Environment, OperationContext};
use strata_store::StoreError;

pub mod aws;
pub mod clients;
pub mod lambda;
mod run;
#[cfg(feature = "testing")]
pub mod testing;

pub use run::{handle, observe, run};

/// The errors a component handler reports to Step Functions. The names are the `errorType`s
/// the state machines' `Retry` and `Catch` match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComponentError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("environment {0} has no stored spec")]
    EnvironmentNotFound(String),
    #[error("{component} needs {dependency} to be ready first")]
    DependencyNotReady {
        component: Component,
        dependency: Component,
    },
    #[error("{component} cannot go while {dependent} still exists")]
    DependentsRemain {
        component: Component,
        dependent: Component,
    },
    #[error("{0}")]
    ResourceNotOwned(String),
    #[error("the operation passed its deadline of {0}s")]
    DeadlineExceeded(u64),
    /// Worth retrying: throttling, 5xx, a timeout, after the SDK's own retries.
    #[error("{0}")]
    AwsTransient(String),
    /// AWS refused the request; retrying the same request will not help.
    #[error("{0}")]
    AwsRejected(String),
    /// The cluster's API server was unreachable, throttled, or failed (429, 5xx).
    #[error("{0}")]
    KubernetesTransient(String),
    /// The cluster's API server refused the request (4xx other than 429).
    #[error("{0}")]
    KubernetesRejected(String),
    /// A service's image version could not be chosen from its registry.
    #[error("{0}")]
    ImageNotFound(String),
    /// A service's migration Job failed; the version already serving keeps serving.
    #[error("{0}")]
    MigrationFailed(String),
    /// A custom component's own function failed, or answered outside the contract.
    #[error("{0}")]
    FunctionFailed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ComponentError {
    /// Every error type a component function can report (strata-runtime's list, which the
    /// generated ASL matches).
    pub const NAMES: &[&str] = strata_runtime::errors::component::NAMES;

    /// The errors a state machine retries with backoff; everything else fails the step.
    pub const RETRYABLE: &[&str] = strata_runtime::errors::component::RETRYABLE;

    pub fn name(&self) -> &'static str {
        match self {
            ComponentError::InvalidInput(_) => "InvalidInput",
            ComponentError::EnvironmentNotFound(_) => "EnvironmentNotFound",
            ComponentError::DependencyNotReady { .. } => "DependencyNotReady",
            ComponentError::DependentsRemain { .. } => "DependentsRemain",
            ComponentError::ResourceNotOwned(_) => "ResourceNotOwned",
            ComponentError::DeadlineExceeded(_) => "DeadlineExceeded",
            ComponentError::AwsTransient(_) => "AwsTransient",
            ComponentError::AwsRejected(_) => "AwsRejected",
            ComponentError::KubernetesTransient(_) => "KubernetesTransient",
            ComponentError::KubernetesRejected(_) => "KubernetesRejected",
            ComponentError::ImageNotFound(_) => "ImageNotFound",
            ComponentError::MigrationFailed(_) => "MigrationFailed",
            ComponentError::FunctionFailed(_) => "FunctionFailed",
            ComponentError::Store(e) => e.name(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Apply,
    Destroy,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Request {
    action: Action,
    context: OperationContext,
}

/// What one step achieved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Progress {
    pub done: bool,
    pub phase: Option<ComponentPhase>,
    pub resource_ids: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
    /// Resource ids recorded before that name nothing any more (a NAT gateway a sleep
    /// removed): taken out of the status, where ids otherwise accumulate.
    pub gone_ids: Vec<String>,
    /// What AWS is still doing that this step waits on: its typical duration sets how long
    /// the state machine waits before the next step ([`strata_core::waits`]).
    pub awaiting: Option<Awaited>,
}

impl Progress {
    pub fn finished(phase: ComponentPhase) -> Self {
        Self {
            done: true,
            phase: Some(phase),
            ..Self::default()
        }
    }

    pub fn waiting(phase: ComponentPhase) -> Self {
        Self {
            done: false,
            phase: Some(phase),
            ..Self::default()
        }
    }

    /// Not done, waiting on `on`.
    pub fn awaiting(mut self, on: Awaited) -> Self {
        self.done = false;
        self.awaiting = Some(on);
        self
    }

    /// With the outputs that have a value (AWS leaves some fields out until it knows them).
    pub fn with_outputs<'a>(
        mut self,
        outputs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Self {
        for (key, value) in outputs {
            if let Some(value) = value {
                self.outputs.insert(key.to_owned(), value.to_owned());
            }
        }
        self
    }
}

/// The answer the state machine loops on. It is the same few bytes whatever the spec holds:
/// the component's outputs stay in its status (the next steps read them from there), so no
/// number of services, buckets or stack outputs can take a state's data past Step Functions'
/// 256 KiB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepResult {
    pub done: bool,
    pub phase: ComponentPhase,
    /// How long the state machine waits before the next step (its `Wait` reads it).
    pub wait_seconds: u64,
}

/// Everything a handler may read for one step.
pub struct Step<'a> {
    pub environment: &'a Environment,
    pub context: &'a OperationContext,
    /// This component's status from the previous step or operation.
    pub previous: Option<&'a ComponentStatus>,
    /// The statuses of the components this one depends on (for their outputs).
    pub dependencies: &'a BTreeMap<Component, ComponentStatus>,
    /// Whose resources this step may touch: see [`strata_core::tags`].
    pub owner: &'a Owner,
}

impl<'a> Step<'a> {
    /// What `dependency` recorded, for `component`'s step to read; none recorded yet: the
    /// step waits for it (`DependencyNotReady`).
    pub fn outputs_of(
        &self,
        component: Component,
        dependency: Component,
    ) -> Result<DependencyOutputs<'a>, ComponentError> {
        match self.dependencies.get(&dependency) {
            Some(status) => Ok(DependencyOutputs {
                component,
                dependency,
                outputs: &status.outputs,
            }),
            None => Err(ComponentError::DependencyNotReady {
                component,
                dependency,
            }),
        }
    }
}

/// A dependency's recorded outputs, as a step reads them ([`Step::outputs_of`]).
pub struct DependencyOutputs<'a> {
    component: Component,
    dependency: Component,
    outputs: &'a BTreeMap<String, String>,
}

impl<'a> DependencyOutputs<'a> {
    /// `key`, which the dependency records once Ready; absent: the step waits for it
    /// (`DependencyNotReady`).
    pub fn required(&self, key: &str) -> Result<&'a str, ComponentError> {
        self.get(key).ok_or(ComponentError::DependencyNotReady {
            component: self.component,
            dependency: self.dependency,
        })
    }

    /// `key`, when recorded.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.outputs.get(key).map(String::as_str)
    }
}

/// What [`handler_from_steps!`] names through `$crate`: the handler crates need not name
/// strata-core themselves.
#[doc(hidden)]
pub mod macro_support {
    pub use strata_core::Component;
    pub use strata_core::drift::Observed;
}

/// Implements [`ComponentHandler`] for a handler whose steps are its own methods
/// `apply_step`, `observe_step` and `destroy_step`, each written in a module of its own (a
/// trait's impl cannot be split across modules, so this one only hands each step on):
///
/// ```ignore
/// strata_component::handler_from_steps!(
///     Component::Database,
///     impl<C: Regional<Client>> for Database<C>
/// );
/// ```
#[macro_export]
macro_rules! handler_from_steps {
    ($component:expr, impl<$($param:ident: $bound:path),+> for $handler:ty) => {
        impl<$($param: $bound),+> $crate::ComponentHandler for $handler {
            fn component(&self) -> $crate::macro_support::Component {
                $component
            }

            async fn apply(
                &self,
                step: &$crate::Step<'_>,
            ) -> ::std::result::Result<$crate::Progress, $crate::ComponentError> {
                self.apply_step(step).await
            }

            async fn observe(
                &self,
                step: &$crate::Step<'_>,
            ) -> ::std::result::Result<$crate::macro_support::Observed, $crate::ComponentError>
            {
                self.observe_step(step).await
            }

            async fn destroy(
                &self,
                step: &$crate::Step<'_>,
            ) -> ::std::result::Result<$crate::Progress, $crate::ComponentError> {
                self.destroy_step(step).await
            }
        }
    };
}

/// One component's `apply` and `destroy`. Both must be idempotent: a step may run again
/// after a crash, a retry, or a poll, and must converge.
pub trait ComponentHandler: Send + Sync {
    /// The component it runs: fixed for Strata's own, the request's for a custom one.
    fn component(&self) -> Component;

    fn apply(
        &self,
        step: &Step<'_>,
    ) -> impl Future<Output = Result<Progress, ComponentError>> + Send;

    /// Called by `down`, and by `up` when the spec no longer has this component.
    fn destroy(
        &self,
        step: &Step<'_>,
    ) -> impl Future<Output = Result<Progress, ComponentError>> + Send;

    /// Compares the live resources with the spec and the recorded status (sync's drift
    /// check); reads only. A component without a check says so rather than claim it is in
    /// sync.
    fn observe(
        &self,
        _step: &Step<'_>,
    ) -> impl Future<Output = Result<Observed, ComponentError>> + Send {
        let reason = format!("{} has no drift check yet", self.component().name());
        async { Ok(Observed::Unchecked { reason }) }
    }
}
