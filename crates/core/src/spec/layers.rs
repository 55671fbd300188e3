//! The provisioned layers' sections: network, cluster, database, storage and dns.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// The VPC's IPv4 CIDR, `/16` to `/24`, large enough for a public and a private subnet
    /// of at least `/28` in each availability zone. Changing it recreates the network.
    pub cidr: String,
    /// Availability zones to spread subnets over (2 to 6: EKS needs at least two).
    #[serde(default = "default_az_count")]
    #[cfg_attr(feature = "schema", schemars(range(min = 2, max = 6)))]
    pub az_count: u8,
    /// NAT gateways for the private subnets' way out.
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
    /// None: the private subnets reach nothing outside the VPC.
    None,
    /// One, in the first availability zone: cheaper, one zone's outage cuts the way out.
    #[default]
    Single,
    /// One per availability zone.
    PerAz,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// Kubernetes `MAJOR.MINOR`, e.g. `"1.31"` (quoted in YAML, or it is a number).
    #[cfg_attr(feature = "schema", schemars(pattern(r"^1\.[0-9]+$")))]
    pub version: String,
    /// The managed node group the services run on.
    pub node_group: NodeGroupSpec,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct NodeGroupSpec {
    /// EC2 instance types, such as `t3.medium`; the first is priced.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub instance_types: Vec<String>,
    /// Fewest nodes; at most `maxSize`.
    pub min_size: u32,
    /// Most nodes (1 to 450).
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 450)))]
    pub max_size: u32,
    /// Nodes to run, between `minSize` and `maxSize`.
    pub desired_size: u32,
    /// Each node's disk in GiB (20 to 16384).
    #[serde(default = "default_disk_gib")]
    #[cfg_attr(feature = "schema", schemars(range(min = 20, max = 16384)))]
    pub disk_gib: u32,
}

fn default_disk_gib() -> u32 {
    20
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSpec {
    /// The RDS engine.
    pub engine: DatabaseEngine,
    /// The engine's version, such as `16.4`.
    #[cfg_attr(feature = "schema", schemars(pattern(r"^[0-9]+(\.[0-9]+)*$")))]
    pub engine_version: String,
    /// The RDS instance class, such as `db.t4g.micro`.
    #[cfg_attr(feature = "schema", schemars(pattern(r"^db\.")))]
    pub instance_class: String,
    /// Allocated storage in GiB (20 to 65536).
    #[serde(rename = "storageGiB")]
    #[cfg_attr(feature = "schema", schemars(range(min = 20, max = 65536)))]
    pub storage_gib: u32,
    /// A standby in a second availability zone.
    #[serde(default)]
    pub multi_az: bool,
    /// Days of automated backups (0 to 35).
    #[serde(default = "default_backup_retention_days")]
    #[cfg_attr(feature = "schema", schemars(range(max = 35)))]
    pub backup_retention_days: u8,
    /// What a delete of the environment does to the database.
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
    /// PostgreSQL.
    Postgres,
    /// MySQL.
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
    /// The buckets (1 to 25).
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = crate::MAX_BUCKETS))
    )]
    pub buckets: Vec<BucketSpec>,
    /// What a delete of the environment does to the buckets.
    #[serde(default)]
    pub on_delete: StorageOnDelete,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BucketSpec {
    /// Short name, a DNS label; the bucket is `strata-<environment>-<name>` (at most 63
    /// characters in all).
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 63)))]
    pub name: String,
    /// S3 versioning, on by default.
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
