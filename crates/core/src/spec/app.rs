//! The app's services: image, version constraint, variables, migration and rollout strategy.

use serde::{Deserialize, Serialize};

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
