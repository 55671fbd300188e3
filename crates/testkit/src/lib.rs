//! The one home of Strata's test fixtures (the model is kube-rs controller-rs's
//! `src/fixtures.rs`): the example specs under `examples/`, loaded the same way by every
//! crate's tests instead of by a hand-written path in each; the `strata` binary run as a
//! user runs it (`cli.rs`); the CloudFormation templates custom components deploy
//! (`templates.rs`); and, behind the feature `local-stack`, the local stack started for a
//! test.
//!
//! Only ever a dev-dependency: never linked into a shipped binary. The default features
//! are light (the example specs and the CLI runner need strata-core and serde alone); the
//! feature `local-stack` brings strata-localstack, strata-store, strata-control and the
//! AWS clients the end-to-end and CLI tests use.

pub mod cli;
pub mod examples;
#[cfg(feature = "local-stack")]
pub mod local_stack;
pub mod templates;

pub use examples::{Staging, example_as, staging};

/// Seconds since the epoch: the clock a test hands to what it drives.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
