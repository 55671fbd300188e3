//! Environment state in one DynamoDB table, behind [`Store`]: the narrow store traits combined.
//!
//! Key design (see ARCHITECTURE.md): partition `pk = ENV#<name>`, sort key `sk`:
//!
//! | sk                              | holds                                   |
//! |---------------------------------|-----------------------------------------|
//! | `SPEC`                          | the spec, its generation; `gsi1pk/gsi1sk` list it |
//! | `STATUS`                        | environment status (without components) |
//! | `STATUS#COMPONENT#<component>`  | one component's status                  |
//! | `LOCK`                          | the lease: holder, expiresAt            |
//! | `EVENT#<at:020>#<random>`       | one history event                       |
//! | `SYNC`                          | the sync schedule: due time, TTL origin; `gsi2pk/gsi2sk` |
//!
//! Every item but the lock and the append-only events carries a `version`; every write is
//! conditional on the version read (optimistic concurrency). Listing queries the `byKind`
//! index (`gsi1pk = Environment`, `gsi1sk = <name>`), never scans. One query with
//! `begins_with(sk, "STATUS")` reads a whole status. Sync finds what is due by querying the
//! `byDue` index (`gsi2pk = Due`, `gsi2sk = <dueAt:020>#<name>`), never by a scan.

mod codec;
mod dynamodb;
mod error;
mod keys;
#[cfg(any(test, feature = "testing"))]
mod memory;
mod records;
mod traits;

pub use dynamodb::DynamoStore;
pub use error::{Result, StoreError};
pub use keys::{DUE_INDEX, LIST_INDEX, is_history_cursor};
/// The in-memory store, for tests only: the feature `testing` (a dev-dependency's).
#[cfg(any(test, feature = "testing"))]
pub use memory::MemoryStore;
pub use records::{
    DueSync, EnvironmentRead, EnvironmentSummary, Lease, Page, SpecWrites, StoredSpec, SyncRecord,
    SyncView, Versioned,
};
pub use traits::{
    ApplyStore, HistoryStore, ImageIndexStore, LeaseStore, SpecStore, StatusStore, Store,
    StoreFuture, SyncStore, ViewStore, ensure_scheduled,
};

/// Every store trait, for calling the store's methods on a concrete store
/// (`DynamoStore`, or the tests' `MemoryStore`): `use strata_store::prelude::*;`.
pub mod prelude {
    pub use crate::traits::{
        ApplyStore, HistoryStore, ImageIndexStore, LeaseStore, SpecStore, StatusStore, Store,
        SyncStore, ViewStore,
    };
}

#[cfg(test)]
mod tests;
