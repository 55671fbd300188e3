//! `plan(old, new)`: what converging from the stored spec to a new one does to each
//! component, and which recreates it drags along.
//!
//! Which field changes AWS (or Kubernetes) applies in place and which force a recreate:
//!
//! | field                                   | change              | effect   | why |
//! |-----------------------------------------|---------------------|----------|-----|
//! | `spec.region`                           | any                 | replace  | every resource is regional |
//! | `spec.network.cidr`                     | any                 | replace  | a VPC's primary CIDR is fixed |
//! | `spec.network.azCount`                  | any                 | replace  | the subnet layout is re-cut |
//! | `spec.network.natGateways`              | any                 | in place | NAT gateways and routes are added/removed |
//! | `spec.cluster.version`                  | one minor up        | in place | UpdateClusterVersion |
//! | `spec.cluster.version`                  | down, or skip minors| replace  | EKS upgrades one minor at a time, never down |
//! | `spec.cluster.nodeGroup.*Size`          | any                 | in place | UpdateNodegroupConfig |
//! | `spec.cluster.nodeGroup.instanceTypes`, `diskGib` | any       | in place | a new node group replaces the old; the cluster stays |
//! | `spec.database.engine`                  | any                 | replace  | RDS cannot change engine |
//! | `spec.database.engineVersion`           | up                  | in place | ModifyDBInstance (AllowMajorVersionUpgrade) |
//! | `spec.database.engineVersion`           | down                | replace  | RDS cannot downgrade |
//! | `spec.database.engineVersion` with a new engine | any       | replace  | it comes with the engine |
//! | `spec.database.storageGiB`              | up                  | in place | ModifyDBInstance |
//! | `spec.database.storageGiB`              | down                | replace  | RDS storage cannot shrink |
//! | `spec.database.instanceClass`, `multiAz`, `backupRetentionDays`, `onDelete` | any | in place | ModifyDBInstance / policy only |
//! | `spec.storage.buckets[name]`            | added               | in place | CreateBucket |
//! | `spec.storage.buckets[name]`            | removed             | replace  | the bucket and its objects would go |
//! | `spec.storage.buckets[name].versioning`, `onDelete` | any     | in place | PutBucketVersioning / policy only |
//! | `spec.app.services…`                    | any                 | in place | a rollout (Deployment, Job, Service) |
//! | `spec.dns.zone`, `spec.dns.name`        | any                 | replace  | the old record is deleted, a new one made |
//! | `spec.components[name]` kind, `lambda.functionArn` | any      | replace  | another kind or function owns other resources |
//! | `spec.components[name]` template, inputs, `dependsOn` | any   | in place | a stack update (its change set tells replacements) or the function's own update |
//!
//! A component that is recreated drags its whole blast radius (transitive dependents) along.
//! Recreating or deleting a stateful component (database, storage) is refused unless the
//! caller allows it by name.

mod compute;
mod diff;
mod sections;
mod types;

pub use compute::plan;
pub use types::{Action, ComponentPlan, Effect, FieldChange, Plan, PlanError};
