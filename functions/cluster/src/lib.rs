//! The cluster component: an EKS cluster `strata-<env>` in the network's subnets, with API
//! authentication (access entries, no aws-auth ConfigMap), an access entry with cluster
//! admin for the role Strata's Kubernetes steps run as, and one managed node group in the
//! private subnets.
//!
//! IAM roles are the control plane's, not per environment: the cluster role, the node role
//! and the Kubernetes access role come from the template (`CLUSTER_ROLE_ARN`,
//! `NODE_ROLE_ARN`, `ACCESS_PRINCIPAL_ARN`). A handler that could create roles could grant
//! itself anything; shared roles also spare every `up` IAM's propagation delay.
//!
//! `apply` creates what is absent, waits while EKS works, upgrades the cluster one minor
//! version when the spec says so (then the node group to match), scales the node group in
//! place, and replaces it when the instance types or disk size change (the new group is up
//! before the old one goes). `destroy` deletes the node groups, waits until they are gone,
//! then deletes the cluster. A same-named cluster or node group without this environment's
//! tags is never touched (`ResourceNotOwned`).

use aws_sdk_eks::Client;
use strata_component::clients::{FromConfig, Regional};
use strata_core::Component;

pub use resources::nodegroup_name;

// What the unit tests reach through `use super::*`.
#[cfg(test)]
use crate::{apply::request_token, control_plane::ADMIN_POLICY, resources::eks_tags};
#[cfg(test)]
use aws_sdk_eks::types::{
    AccessScopeType, AuthenticationMode, Cluster as EksCluster, ClusterStatus, Nodegroup,
    NodegroupScalingConfig, NodegroupStatus,
};
#[cfg(test)]
use std::collections::HashMap;
#[cfg(test)]
use strata_core::status::ComponentPhase;

mod apply;
mod control_plane;
mod destroy;
mod nodegroups;
mod observe;
mod resources;

/// The control plane's IAM roles the cluster uses.
#[derive(Debug, Clone)]
pub struct Roles {
    /// Assumed by EKS for the control plane.
    pub cluster: String,
    /// Assumed by the nodes.
    pub node: String,
    /// Given cluster admin through an access entry: the role of Strata's Kubernetes steps.
    pub access_principal: String,
}

impl Roles {
    /// From `CLUSTER_ROLE_ARN`, `NODE_ROLE_ARN` and `ACCESS_PRINCIPAL_ARN`.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        Ok(Self {
            cluster: var("CLUSTER_ROLE_ARN")?,
            node: var("NODE_ROLE_ARN")?,
            access_principal: var("ACCESS_PRINCIPAL_ARN")?,
        })
    }
}

/// The cluster handler; `clients` makes an EKS client for the environment's region.
pub struct Cluster<C> {
    pub clients: C,
    pub roles: Roles,
}

impl Cluster<FromConfig<Client>> {
    /// The deployed handler, its clients made from the function's SDK config.
    pub fn new(config: aws_config::SdkConfig, roles: Roles) -> Self {
        Self {
            clients: FromConfig::new(config, Client::new),
            roles,
        }
    }
}

strata_component::handler_from_steps!(
    Component::Cluster,
    impl<C: Regional<Client>> for Cluster<C>
);

#[cfg(test)]
mod tests;
