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
