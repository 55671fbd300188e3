//! Starting work in the control plane. [`Operations`] is the one home for starting an
//! operation (its execution's name, the lease, the state machine, the history event), which
//! the API and the sync share; [`Flows`] starts the state machines and [`SyncRequests`] hands
//! a sync to the sync function, each behind a narrow trait with an in-memory fake for tests
//! (`memory.rs`, `MemoryFlows` and `MemorySyncRequests`: the feature `testing`). The bus
//! notifier is a crate of its own (strata-notify), so the API links no PutEvents and the
//! lifecycle function no Step Functions call: their roles allow neither.

pub mod flows;
#[cfg(any(test, feature = "testing"))]
mod memory;
pub mod operations;
pub mod sync_requests;

pub use flows::{FlowError, Flows, Run, SfnFlows, execution_arn};
#[cfg(any(test, feature = "testing"))]
pub use memory::{MemoryFlows, MemorySyncRequests};
pub use operations::{
    Cancelled, Launch, Operations, RESERVATION_SECONDS, StartError, Started, Trigger, operation_of,
};
pub use sync_requests::{LambdaSyncRequests, SyncRequest, SyncRequests};
