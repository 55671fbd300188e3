//! The one home of Strata's test fixtures (the model is kube-rs controller-rs's
//! `src/fixtures.rs`): the example specs under `examples/`, loaded the same way by every
//! crate's tests instead of by a hand-written path in each.
//!
//! Used only as a dev-dependency (and by strata-component's `testing` feature, which only
//! the handler crates' dev-dependencies turn on): never linked into a shipped binary.

pub mod examples;

pub use examples::staging;
