//! The provisioned layers' sections: network, cluster, database, storage and dns.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// The VPC's IPv4 CIDR, `/16` to `/24`.
    pub cidr: String,
    /// Availability zones to spread subnets over (2 to 6: EKS needs at least two).
    #[serde(default = "default_az_count")]
    pub az_count: u8,
    #[serde(default)]
    pub nat_gateways: NatGateways,
}

fn default_az_count() -> u8 {
    2
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum NatGateways {
    None,
    #[default]
    Single,
    PerAz,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// Kubernetes `MAJOR.MINOR`, e.g. `"1.31"`.
    pub version: String,
    pub node_group: NodeGroupSpec,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct NodeGroupSpec {
    pub instance_types: Vec<String>,
    pub min_size: u32,
    pub max_size: u32,
    pub desired_size: u32,
    #[serde(default = "default_disk_gib")]
    pub disk_gib: u32,
}

fn default_disk_gib() -> u32 {
    20
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSpec {
    pub engine: DatabaseEngine,
    pub engine_version: String,
    pub instance_class: String,
    #[serde(rename = "storageGiB")]
    pub storage_gib: u32,
    #[serde(default)]
    pub multi_az: bool,
    #[serde(default = "default_backup_retention_days")]
    pub backup_retention_days: u8,
    #[serde(default)]
    pub on_delete: DatabaseOnDelete,
    /// Restore from a snapshot when the database is made (created, or recreated):
    /// `latest` (this environment's newest final snapshot) or the id of a final snapshot
    /// this control plane recorded for it ([`crate::snapshots`]). Absent: the newest
    /// recorded one if there is one, else a new, empty database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_from: Option<String>,
}

fn default_backup_retention_days() -> u8 {
    7
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum DatabaseEngine {
    Postgres,
    Mysql,
}

/// What happens to the database when the environment is deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum DatabaseOnDelete {
    /// Take a final snapshot, then delete the instance.
    #[default]
    Snapshot,
    /// Leave the instance running (deletion protection stays on).
    Retain,
    /// Delete without a snapshot: the data is gone.
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    pub buckets: Vec<BucketSpec>,
    #[serde(default)]
    pub on_delete: StorageOnDelete,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BucketSpec {
    /// Short name; the bucket is `strata-<environment>-<name>`.
    pub name: String,
    #[serde(default = "default_true")]
    pub versioning: bool,
}

fn default_true() -> bool {
    true
}

/// What happens to the buckets when the environment is deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum StorageOnDelete {
    /// Keep the buckets and their objects (untagged from the environment's lifecycle).
    #[default]
    Retain,
    /// Empty every object version, then delete the buckets.
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DnsSpec {
    /// The Route 53 hosted zone's domain, e.g. `example.com`.
    pub zone: String,
    /// The record's name, inside the zone, e.g. `staging.example.com`.
    pub name: String,
}
