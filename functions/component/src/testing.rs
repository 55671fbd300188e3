//! Fixtures for the handler crates' tests (feature `testing`): the example spec every
//! handler is tested against, and the context of an operation on it.

use std::collections::BTreeMap;

use strata_core::{Component, ComponentStatus, Environment, OperationContext, OperationKind};

use crate::{ComponentError, ComponentHandler, Progress, Step};

/// `examples/staging.yaml`, parsed.
pub fn staging() -> Environment {
    // The directory cargo runs the test in, not the one it was compiled in: a build cache
    // shared between clones must not send a test to another clone's files.
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let path = format!("{dir}/../../examples/staging.yaml");
    let text = std::fs::read_to_string(path).expect("examples/staging.yaml is readable");
    Environment::parse(&text).expect("examples/staging.yaml is valid")
}

/// An operation on `staging` (polling at once, a ten-minute deadline).
pub fn context(operation: OperationKind, generation: u64, started_at: u64) -> OperationContext {
    OperationContext {
        environment: "staging".into(),
        operation,
        execution: format!("{}-staging-{generation}", operation.name()),
        generation,
        poll_seconds: 0,
        deadline_seconds: 600,
        started_at,
        scope: Default::default(),
        teardown: Default::default(),
    }
}

/// One step of `handler`, built as [`crate::run`] builds it: `destroy` or `apply`.
pub async fn step<H: ComponentHandler>(
    handler: &H,
    environment: &Environment,
    context: &OperationContext,
    previous: Option<&ComponentStatus>,
    dependencies: &BTreeMap<Component, ComponentStatus>,
    destroy: bool,
) -> Result<Progress, ComponentError> {
    let step = Step {
        environment,
        context,
        previous,
        dependencies,
    };
    if destroy {
        handler.destroy(&step).await
    } else {
        handler.apply(&step).await
    }
}
