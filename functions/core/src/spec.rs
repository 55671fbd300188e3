//! The `Environment` document: a Kubernetes-style spec in YAML or JSON.
//!
//! Parsing is strict and reports every problem at once: unknown fields anywhere, then (when
//! the shape is right) every rule in [`crate::validate`], each error naming its field path.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::graph::Component;

/// Documents larger than this are refused before parsing (a spec is a few KiB).
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: EnvironmentSpec,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSpec {
    pub region: String,
    pub network: NetworkSpec,
    pub cluster: ClusterSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,
    pub app: AppSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsSpec>,
    /// The environment's own components ([`crate::custom`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<crate::custom::CustomComponentSpec>,
    /// Run after every `up` that converged ([`crate::post_deploy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_deploy: Option<crate::post_deploy::PostDeploySpec>,
    #[serde(default)]
    pub sync: SyncSpec,
    /// Lifetime of an ephemeral environment (`72h`, `7d`); absent means it lives until deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// A monthly ceiling: an apply whose estimate ([`crate::cost`]) is above it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetSpec>,
    /// When the environment sleeps and wakes ([`crate::schedule`]), driven by the sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSpec>,
    /// Set on a preview made from a base environment ([`crate::preview`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<PreviewSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PreviewSpec {
    /// The environment this preview was made from.
    pub base: String,
    /// What it shares with its base.
    #[serde(default)]
    pub share: Share,
    /// Its own database: restored from a snapshot of the base's taken for it, or empty.
    #[serde(default)]
    pub database: PreviewDatabase,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Share {
    /// The base's network and cluster: the preview is a namespace on it (no EKS cost).
    #[default]
    Cluster,
    /// Nothing: a full copy of the base's layers.
    None,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum PreviewDatabase {
    /// Restored from a snapshot of the base's database taken when the preview is made.
    #[default]
    Snapshot,
    /// A new, empty database.
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// When to sleep: a five-field cron expression, such as `0 20 * * 1-5`.
    pub sleep: String,
    /// When to wake, such as `0 7 * * 1-5`.
    pub wake: String,
    /// The IANA time zone both are read in, such as `Europe/Berlin`.
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BudgetSpec {
    /// Whole US dollars a month, at the shipped price table's list prices.
    #[serde(rename = "monthlyUSD")]
    pub monthly_usd: u32,
}

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
pub struct AppSpec {
    pub services: Vec<ServiceSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    pub name: String,
    /// Image repository without a tag; the tag is chosen by `version`.
    pub image: String,
    /// Semver constraint the image tag must satisfy (`^1.4`, `~2.0.3`, `=1.2.3`).
    pub version: String,
    pub port: u16,
    #[serde(default = "default_replicas")]
    pub replicas: u32,
    /// The public service gets a `LoadBalancer` and the DNS name.
    #[serde(default)]
    pub public: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Command run as a Job before this service rolls out; it must succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrate: Option<Vec<String>>,
    #[serde(default)]
    pub strategy: Strategy,
}

impl ServiceSpec {
    /// (registry id, region, repository) when the image lives in ECR.
    pub fn ecr_repository(&self) -> Option<(&str, &str, &str)> {
        let (host, repository) = self.image.split_once('/')?;
        let (account, rest) = host.split_once(".dkr.ecr.")?;
        let region = rest.strip_suffix(".amazonaws.com")?;
        Some((account, region, repository))
    }
}

fn default_replicas() -> u32 {
    2
}

/// An environment variable: a plain value, or a reference to a secret. Secret values never
/// appear in a spec, so they never reach DynamoDB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A Secrets Manager ARN (optionally `arn#jsonKey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_arn: Option<String>,
    /// Another component's output, `components.<component>.outputs.<key>` (a custom
    /// component's queue URL, say): that component must be ready before the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_output: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Strategy {
    #[default]
    Rolling,
    BlueGreen,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SyncSpec {
    #[serde(default = "default_sync_every")]
    pub every: String,
    #[serde(default)]
    pub drift: DriftPolicy,
    #[serde(default)]
    pub images: ImagePolicy,
}

impl Default for SyncSpec {
    fn default() -> Self {
        Self {
            every: default_sync_every(),
            drift: DriftPolicy::default(),
            images: ImagePolicy::default(),
        }
    }
}

fn default_sync_every() -> String {
    "15m".to_owned()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum DriftPolicy {
    #[default]
    Report,
    Repair,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum ImagePolicy {
    #[default]
    Report,
    Deploy,
}

/// One problem with a document, at a field path such as `spec.database.storageGiB` or
/// `spec.app.services[1].port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The text is not a YAML/JSON document at all (or is too large to be one).
    #[error("not a valid document: {0}")]
    Syntax(String),
    /// The document parsed, and these fields are wrong. Never empty.
    #[error("{}", display_lines(.0))]
    Invalid(Vec<FieldError>),
}

fn display_lines(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl SpecError {
    /// Every field error; a syntax error is reported at the document root.
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            SpecError::Syntax(message) => vec![FieldError::new("(document)", message.clone())],
            SpecError::Invalid(errors) => errors.clone(),
        }
    }
}

impl Environment {
    /// Parses and validates a YAML or JSON document (JSON is YAML).
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(SpecError::Syntax(format!(
                "document is {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
                text.len()
            )));
        }
        // The YAML scanner reads a whole flow collection before its own depth limit applies,
        // which takes seconds for 100k nested brackets: refuse those before parsing.
        if flow_depth(text) > MAX_FLOW_DEPTH {
            return Err(SpecError::Syntax(format!(
                "brackets nest deeper than {MAX_FLOW_DEPTH} levels"
            )));
        }
        // Parse to a generic tree first: the YAML parser bounds nesting depth and alias
        // expansion, so hostile documents fail here, fast.
        let tree: serde_json::Value =
            serde_yaml_ng::from_str(text).map_err(|e| SpecError::Syntax(e.to_string()))?;
        Self::from_value(tree)
    }

    /// Validates an already-parsed JSON value (for example an API request body).
    pub fn from_value(tree: serde_json::Value) -> Result<Self, SpecError> {
        if !tree.is_object() {
            return Err(SpecError::Invalid(vec![FieldError::new(
                "(document)",
                "must be a mapping with apiVersion, kind, metadata and spec",
            )]));
        }
        // serde stops at the first type error. To report them all at once, each offending
        // value is replaced by one of the expected type (or taken out) and the rest parsed
        // again, until nothing is wrong but what that itself caused.
        let mut tree = tree;
        let mut errors: Vec<FieldError> = Vec::new();
        let mut fixed: Vec<String> = Vec::new();
        for _ in 0..MAX_TYPE_ERRORS {
            let mut unknown = Vec::new();
            let mut on_unknown = |path: serde_ignored::Path<'_>| unknown.push(render_path(&path));
            let parsed = serde_path_to_error::deserialize::<_, Environment>(
                serde_ignored::Deserializer::new(tree.clone(), &mut on_unknown),
            );
            for path in unknown {
                if !errors.iter().any(|e| e.path == path) {
                    errors.push(FieldError::new(path, "unknown field"));
                }
            }
            let e = match parsed {
                Ok(environment) => {
                    // Rules are checked on the document as written, not on what is left.
                    if fixed.is_empty() {
                        errors.extend(crate::validate::validate(&environment));
                    }
                    return if errors.is_empty() {
                        Ok(environment)
                    } else {
                        Err(SpecError::Invalid(errors))
                    };
                }
                Err(e) => e,
            };
            let path = match e.path().to_string() {
                p if p == "." => "(document)".to_owned(),
                p => p,
            };
            let message = e.inner().to_string();
            // A field missing because an earlier error took it out is no news.
            let caused = fixed.iter().any(|r| {
                message.strip_prefix("missing field `").is_some_and(|m| {
                    let field = m.trim_end_matches('`');
                    *r == if path == "(document)" {
                        field.to_owned()
                    } else {
                        format!("{path}.{field}")
                    }
                })
            });
            if caused {
                break;
            }
            if fixed.contains(&path) {
                break;
            }
            let stand_in = stand_in_for(&message);
            errors.push(FieldError::new(path.clone(), message));
            if !replace(&mut tree, e.path(), stand_in) {
                break;
            }
            fixed.push(path);
        }
        Err(SpecError::Invalid(errors))
    }

    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The image repositories its services run, each once.
    pub fn images(&self) -> Vec<&str> {
        let mut images: Vec<&str> = self
            .spec
            .app
            .services
            .iter()
            .map(|s| s.image.as_str())
            .collect();
        images.sort_unstable();
        images.dedup();
        images
    }

    /// Whether the spec has this component (database, storage and dns are optional).
    pub fn includes(&self, component: Component) -> bool {
        match component {
            Component::Database => self.spec.database.is_some(),
            Component::Storage => self.spec.storage.is_some(),
            Component::Dns => self.spec.dns.is_some(),
            // A preview sharing its base's cluster runs on the base's network and cluster.
            Component::Network | Component::Cluster => self.shared_from().is_none(),
            Component::Config | Component::App => true,
            Component::Custom(name) => self.spec.components.iter().any(|c| c.name == name.as_str()),
        }
    }

    /// The base whose network and cluster this environment runs on (a preview with
    /// `share: cluster`).
    pub fn shared_from(&self) -> Option<&str> {
        self.spec
            .preview
            .as_ref()
            .filter(|p| p.share == Share::Cluster)
            .map(|p| p.base.as_str())
    }

    /// The EKS cluster this environment's Kubernetes objects live on.
    pub fn cluster_name(&self) -> String {
        crate::cluster_name(self.shared_from().unwrap_or(self.name()))
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("an Environment always serialises")
    }
}

/// Deeper than any spec needs (a spec nests about six levels).
const MAX_FLOW_DEPTH: usize = 64;

/// The deepest nesting of `[`/`{` outside quoted strings.
fn flow_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut quote) = (0usize, 0usize, None);
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Renders serde_ignored's path as `a.b[0].c`, the same form serde_path_to_error uses.
/// A map key as a field path shows it: as it is, or quoted when a path could not show it
/// (empty, or with a dot or a space in it).
pub fn path_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if plain {
        key.to_owned()
    } else {
        serde_json::Value::String(key.to_owned()).to_string()
    }
}

/// How many type errors one document reports at most.
const MAX_TYPE_ERRORS: usize = 32;
/// A value of the type a serde error says it expected, to parse on past it (never
/// validated: a document with a type error is refused whatever else it holds).
fn stand_in_for(message: &str) -> Option<serde_json::Value> {
    let expected = message.split("expected ").nth(1)?;
    let number = ["u8", "u16", "u32", "u64", "i32", "i64", "f64"]
        .iter()
        .any(|t| expected.starts_with(t));
    if number {
        Some(serde_json::json!(0))
    } else if expected.starts_with("a string") || expected.starts_with("string") {
        Some(serde_json::json!(""))
    } else if expected.starts_with("a boolean") {
        Some(serde_json::json!(false))
    } else if expected.starts_with("a sequence") {
        Some(serde_json::json!([]))
    } else {
        None
    }
}

/// Puts `with` (or, without one, nothing) at `path` in `tree`; false when it cannot.
fn replace(
    tree: &mut serde_json::Value,
    path: &serde_path_to_error::Path,
    with: Option<serde_json::Value>,
) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut node = tree;
    for segment in parents {
        node = match (segment, node) {
            (Segment::Map { key }, serde_json::Value::Object(map)) => match map.get_mut(key) {
                Some(next) => next,
                None => return false,
            },
            (Segment::Seq { index }, serde_json::Value::Array(items)) => {
                match items.get_mut(*index) {
                    Some(next) => next,
                    None => return false,
                }
            }
            _ => return false,
        };
    }
    match (last, node, with) {
        (Segment::Map { key }, serde_json::Value::Object(map), Some(value)) => {
            map.insert(key.clone(), value).is_some()
        }
        (Segment::Map { key }, serde_json::Value::Object(map), None) => map.remove(key).is_some(),
        (Segment::Seq { index }, serde_json::Value::Array(items), Some(value))
            if *index < items.len() =>
        {
            items[*index] = value;
            true
        }
        // An element cannot go without shifting its siblings' paths.
        _ => false,
    }
}

fn render_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", render_path(parent)),
        Path::Map { parent, key } => {
            let parent = render_path(parent);
            let key = path_key(key);
            if parent.is_empty() {
                key
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => render_path(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_depth_counts_brackets_outside_quotes() {
        assert_eq!(flow_depth("a: [1, {b: [2]}]"), 3);
        assert_eq!(flow_depth("a: \"[[[[\"\nb: '{{{{'\nc: [x]"), 1);
        let deep = "[".repeat(MAX_FLOW_DEPTH + 1);
        assert!(
            matches!(Environment::parse(&deep), Err(SpecError::Syntax(m)) if m.contains("nest deeper"))
        );
    }
}
