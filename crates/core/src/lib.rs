//! Strata's domain: what an environment is (the spec), how its components depend on each
//! other (the graph), what a change to it means (the plan) and what it looks like now (the
//! status). No AWS types and no I/O live here, so every rule is testable in memory.

mod applied;
pub mod component_contract;
pub mod cost;
pub mod custom;
pub mod drift;
pub mod events;
pub mod execution;
pub mod graph;
pub mod leak;
pub mod plan;
pub mod post_deploy;
pub mod preview;
pub mod schedule;
pub mod secrets;
pub mod sleep;
pub mod snapshots;
pub mod spec;
pub mod status;
pub mod tags;
pub mod teams;
pub mod ttl;
mod validate;
pub mod versions;
pub mod waits;

pub use validate::{
    MAX_BUCKETS, MAX_CUSTOM_COMPONENTS, MAX_ENV_VARS, MAX_ENVIRONMENT_NAME, MAX_SERVICES,
    check_environment_name, is_dns_label, parse_duration, subnet_cidrs,
};

pub use execution::ExecutionInput;
pub use graph::{Component, CustomName, Graph, Layer};
pub use plan::{Action, ComponentPlan, Effect, FieldChange, Plan, PlanError, plan};
pub use secrets::SecretSources;
pub use spec::{Environment, FieldError, SpecError};
pub use status::{
    ComponentPhase, ComponentStatus, CredentialRef, EnvironmentState, EnvironmentStatus, Event,
    ImageUpdate, InventoryItem, Operation, OperationContext, OperationKind, Scope,
};
pub use teams::{NotYourTeam, Principal};
pub use waits::{Awaited, Clock, Waiting};

/// An error and its sources on one line, by their Display only (a client's own Display
/// often says no more than "client error"; the SDK's Debug form carries raw responses).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The EKS cluster of an environment: the cluster component creates it, the Kubernetes
/// components reach it by this name.
pub fn cluster_name(environment: &str) -> String {
    format!("strata-{environment}")
}

/// The only `apiVersion` this build understands.
pub const API_VERSION: &str = "strata.dev/v1alpha1";
/// The only `kind` of document Strata takes.
pub const KIND: &str = "Environment";
