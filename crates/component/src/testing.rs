//! Fixtures for the handler crates' tests (feature `testing`): the context of an operation
//! on the example spec every handler is tested against (`strata_testkit::staging`, which
//! the handler crates take as a dev-dependency of their own), and a scripted AWS client for
//! any region ([`Fixed`]).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_smithy_types::retry::RetryConfig;
use strata_core::drift::Observed;
use strata_core::status::{ComponentPhase, Incarnation};
use strata_core::tags::Owner;
use strata_core::{Component, ComponentStatus, Environment, OperationContext, OperationKind};

use crate::clients::{Global, Regional};
use crate::{ComponentError, ComponentHandler, Progress, Step};

/// An operation on `staging` (polling at once, a ten-minute deadline).
pub fn context(operation: OperationKind, generation: u64, started_at: u64) -> OperationContext {
    let execution = format!("{}-staging-{generation}", operation.name());
    OperationContext {
        deadline_seconds: 600,
        ..OperationContext::new("staging", operation, execution, generation, started_at)
    }
}

/// One client, scripted with aws-smithy-mocks, handed out for every region: what a
/// handler's tests give it where the deployed function has [`crate::clients::FromConfig`].
pub struct Fixed<C>(pub C);

impl<C: Clone + Send + Sync> Regional<C> for Fixed<C> {
    fn client(&self, _region: &str) -> C {
        self.0.clone()
    }
}

impl<C: Clone + Send + Sync> Global<C> for Fixed<C> {
    fn client(&self) -> C {
        self.0.clone()
    }
}

/// The SDK's standard retries made quick: three attempts a millisecond apart, so a test of
/// throttling retries without waiting.
pub fn quick_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
}

/// Asserts where a step got: `done` or not, in `phase`.
#[track_caller]
pub fn assert_progress(progress: &Progress, done: bool, phase: ComponentPhase) {
    assert_eq!((progress.done, progress.phase), (done, Some(phase)));
}

/// The control plane the handlers' tests run under.
pub const CONTROL_PLANE: &str =
    "arn:aws:cloudformation:us-east-1:123456789012:stack/strata/00000000-test";

/// The current incarnation of `environment` under [`CONTROL_PLANE`].
pub fn owner(environment: &str) -> Owner {
    owner_with(
        environment,
        CONTROL_PLANE,
        &format!("{environment}-incarnation-1"),
    )
}

/// An owner under any control plane and incarnation id: another stack's, a reused name's.
pub fn owner_with(environment: &str, control_plane: &str, id: &str) -> Owner {
    Owner::new(
        environment,
        Some(&Incarnation {
            control_plane: control_plane.into(),
            id: id.into(),
            since: 1,
        }),
    )
}

/// One step of `handler`, built as [`crate::run`] builds it: `destroy` or `apply`, by the
/// environment's current [`owner`].
pub async fn step<H: ComponentHandler>(
    handler: &H,
    environment: &Environment,
    context: &OperationContext,
    previous: Option<&ComponentStatus>,
    dependencies: &BTreeMap<Component, ComponentStatus>,
    destroy: bool,
) -> Result<Progress, ComponentError> {
    let owner = owner(environment.name());
    let step = Step {
        environment,
        context,
        previous,
        dependencies,
        owner: &owner,
    };
    if destroy {
        handler.destroy(&step).await
    } else {
        handler.apply(&step).await
    }
}

/// `handler`'s drift check on `environment`, by its current [`owner`], with no previous
/// status.
pub async fn observe<H: ComponentHandler>(
    handler: &H,
    environment: &Environment,
    context: &OperationContext,
    dependencies: &BTreeMap<Component, ComponentStatus>,
) -> Result<Observed, ComponentError> {
    let owner = owner(environment.name());
    let step = Step {
        environment,
        context,
        previous: None,
        dependencies,
        owner: &owner,
    };
    handler.observe(&step).await
}
