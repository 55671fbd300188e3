//! Starting work in the control plane. [`Operations`] is the one home for starting an
//! operation (its execution's name, the lease, the state machine, the history event), which
//! the API and the sync share; [`Flows`] starts the state machines and [`SyncRequests`] hands
//! a sync to the sync function, each behind a narrow trait with an in-memory fake. The bus
//! notifier is a crate of its own (strata-notify), so the API links no PutEvents and the
//! lifecycle function no Step Functions call: their roles allow neither.

pub mod flows;
pub mod operations;
pub mod sync_requests;

pub use flows::{FlowError, Flows, MemoryFlows, Run, SfnFlows, execution_arn};
pub use operations::{
    Cancelled, Launch, Operations, RESERVATION_SECONDS, StartError, Started, Trigger, operation_of,
};
pub use sync_requests::{LambdaSyncRequests, MemorySyncRequests, SyncRequest, SyncRequests};
