//! The control plane's two outward capabilities, each behind a narrow trait with an
//! in-memory fake: [`Flows`] starts the state machines (API, sync), [`Notifier`] puts
//! Strata's events on the stack's bus (lifecycle, sync).

pub mod flows;
pub mod notify;

pub use flows::{FlowError, Flows, MemoryFlows, SfnFlows, execution_arn};
pub use notify::{EventBus, MemoryNotifier, Notifier};
