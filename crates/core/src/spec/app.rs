//! The app's services: image, version constraint, variables, migration and rollout strategy.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppSpec {
    /// The services (1 to 25); at most one is public.
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = crate::MAX_SERVICES))
    )]
    pub services: Vec<ServiceSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// A DNS label of at most 30 characters, unique in the environment.
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 30)))]
    pub name: String,
    /// Image repository without a tag; the tag is chosen by `version`.
    pub image: String,
    /// Semver constraint the image tag must satisfy (`^1.4`, `~2.0.3`, `=1.2.3`).
    pub version: String,
    /// The port the container listens on.
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub port: u16,
    /// Pods to run (0 to 100).
    #[serde(default = "default_replicas")]
    #[cfg_attr(feature = "schema", schemars(range(max = 100)))]
    pub replicas: u32,
    /// The public service gets a `LoadBalancer` and the DNS name.
    #[serde(default)]
    pub public: bool,
    /// Environment variables (at most 50).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(length(max = crate::MAX_ENV_VARS)))]
    pub env: Vec<EnvVar>,
    /// Command run as a Job before this service rolls out; it must succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrate: Option<Vec<String>>,
    /// How a new version replaces the old.
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

/// An environment variable: exactly one of `value`, `secretArn` and `fromOutput`. Secret
/// values never appear in a spec, so they never reach DynamoDB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// A C identifier such as `LOG_LEVEL`, unique in the service.
    #[cfg_attr(feature = "schema", schemars(pattern(r"^[A-Za-z_][A-Za-z0-9_]*$")))]
    pub name: String,
    /// A plain value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A Secrets Manager ARN (optionally `arn#jsonKey`); for a team's environment, a secret
    /// under `<SecretNamePrefix><team>/`.
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
    /// Pods replaced a few at a time.
    #[default]
    Rolling,
    /// A second Deployment made ready, then the Service switched to it.
    BlueGreen,
}
