//! The `Environment` document: a Kubernetes-style spec in YAML or JSON.
//!
//! Parsing is strict and reports every problem at once: unknown fields anywhere, then (when
//! the shape is right) every rule in [`crate::validate`], each error naming its field path.

mod app;
mod environment;
mod errors;
mod layers;
mod parse;
mod settings;

pub use app::{AppSpec, EnvVar, ServiceSpec, Strategy};
pub use environment::{Environment, EnvironmentSpec, Metadata};
pub use errors::{FieldError, SpecError};
pub use layers::{
    BucketSpec, ClusterSpec, DatabaseEngine, DatabaseOnDelete, DatabaseSpec, DnsSpec, NatGateways,
    NetworkSpec, NodeGroupSpec, StorageOnDelete, StorageSpec,
};
pub use parse::{MAX_DOCUMENT_BYTES, path_key};
pub use settings::{
    BudgetSpec, DEFAULT_SYNC_EVERY_SECONDS, DriftPolicy, ImagePolicy, PreviewDatabase, PreviewSpec,
    ScheduleSpec, Share, SyncSpec,
};
