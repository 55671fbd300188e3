//! The top of the document: `Environment`, its metadata and its spec's sections, and what
//! the rest of the crate asks of a parsed environment (its name, images, components).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    AppSpec, BudgetSpec, ClusterSpec, DatabaseSpec, DnsSpec, NetworkSpec, PreviewSpec,
    ScheduleSpec, Share, StorageSpec, SyncSpec,
};
use crate::graph::Component;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    /// Always `strata.dev/v1alpha1`.
    #[cfg_attr(feature = "schema", schemars(extend("enum" = [crate::API_VERSION])))]
    pub api_version: String,
    /// Always `Environment`.
    #[cfg_attr(feature = "schema", schemars(extend("enum" = [crate::KIND])))]
    pub kind: String,
    pub metadata: Metadata,
    pub spec: EnvironmentSpec,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The environment's name: lowercase letters, digits and single hyphens, starting with a
    /// letter. It names everything Strata makes for it (`strata-<name>-…`).
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = crate::MAX_ENVIRONMENT_NAME), pattern(r"^[a-z][a-z0-9-]*$"))
    )]
    pub name: String,
    /// Free-form labels (keys 1 to 63 characters, values at most 63). `team` names the team
    /// the environment belongs to: only principals tagged `strata:team` with it (or
    /// `strata:admin`) act on it, and its secrets are under `<SecretNamePrefix><team>/`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSpec {
    /// The AWS region everything is made in, such as `eu-west-1`.
    #[cfg_attr(feature = "schema", schemars(pattern(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")))]
    pub region: String,
    /// The VPC: layer 3.
    pub network: NetworkSpec,
    /// The EKS cluster and its node group: layer 3.
    pub cluster: ClusterSpec,
    /// The RDS database: layer 3. Absent: no database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseSpec>,
    /// The S3 buckets: layer 3. Absent: no buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,
    /// The services that run on the cluster: layer 1.
    pub app: AppSpec,
    /// The Route 53 record that names the public service: layer 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsSpec>,
    /// The environment's own components, a Lambda function or a CloudFormation template
    /// each (at most 25).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(length(max = crate::MAX_CUSTOM_COMPONENTS)))]
    pub components: Vec<crate::custom::CustomComponentSpec>,
    /// A team's function run after every `up` that converged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_deploy: Option<crate::post_deploy::PostDeploySpec>,
    /// How often the sync looks at the environment and what it does about drift and newer
    /// images.
    #[serde(default)]
    pub sync: SyncSpec,
    /// Lifetime of an ephemeral environment from its first apply (`72h`, `7d`; 10m to 90d);
    /// the sync deletes it at expiry. Absent means it lives until deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// A monthly ceiling: an apply whose cost estimate is above it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetSpec>,
    /// When the environment sleeps and wakes, driven by the sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSpec>,
    /// Set on a preview made from a base environment (`strata apply --from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<PreviewSpec>,
}

impl Environment {
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

    /// The generation rule: the generation this spec is stored at over `previous` (the spec
    /// stored before, with its generation). A generation counts content changes: the same
    /// content keeps it, other content is the next one, the first spec stored is 1.
    pub fn next_generation(&self, previous: Option<(&Environment, u64)>) -> u64 {
        match previous {
            Some((stored, generation)) if stored == self => generation,
            Some((_, generation)) => generation + 1,
            None => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generation_goes_up_only_when_the_content_changes() {
        let env = Environment::parse(include_str!("../../../../examples/staging.yaml")).unwrap();
        assert_eq!(env.next_generation(None), 1, "the first spec stored");
        assert_eq!(env.next_generation(Some((&env, 3))), 3, "the same content");
        let mut changed = env.clone();
        changed.spec.network.cidr = "10.99.0.0/16".into();
        assert_eq!(
            changed.next_generation(Some((&env, 3))),
            4,
            "another content"
        );
    }
}
