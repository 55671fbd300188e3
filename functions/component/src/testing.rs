//! Fixtures for the handler crates' tests (feature `testing`): the example spec every
//! handler is tested against, and the context of an operation on it.

use strata_core::{Environment, OperationContext, OperationKind};

/// `examples/staging.yaml`, parsed.
pub fn staging() -> Environment {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/staging.yaml");
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
    }
}
