//! The control plane's two outward capabilities, each behind a narrow trait with an
//! in-memory fake: [`Flows`] starts the state machines (API, sync), [`Notifier`] puts
//! Strata's events on the stack's bus (lifecycle, sync). The notifier is a crate of its own,
//! so the lifecycle function links no Step Functions call (its role allows none).

pub mod flows;

pub use flows::{FlowError, Flows, MemoryFlows, SfnFlows, execution_arn};
pub use strata_notify::{EventBus, MemoryNotifier, Notifier};
