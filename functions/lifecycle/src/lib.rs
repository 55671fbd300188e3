//! Begins and finishes an operation (`up`, `down`) on an environment.
//!
//! `begin` validates the execution's input (a console start may send only
//! `{"environment": "staging"}`), loads the stored spec, takes the lease lock for the
//! execution and marks the environment Progressing or Deleting. `finish` records how the
//! operation ended and releases the lock. Both are idempotent: a retried step converges.

mod begin;
mod error;
mod finish;
mod input;
mod publish;
mod request;

pub use begin::{Begin, begin};
pub use error::LifecycleError;
pub use finish::{CaughtError, finish, release, unconverged};
pub use input::{DEFAULT_DEADLINE_SECONDS, DEFAULT_POLL_SECONDS, ExecutionInput};
pub use request::handle;

pub use strata_notify::{EventBus, Notifier};
