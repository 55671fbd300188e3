//! The apply path: the cluster created or waited for, upgraded one minor version when the
//! spec says so, then its access entry and node group; the network's subnets it goes in.

use aws_sdk_eks::Client;
use aws_sdk_eks::types::{Cluster as EksCluster, ClusterStatus};
use strata_component::aws::classify;
use strata_component::clients::Regional;
use strata_component::{ComponentError, Progress, Step};
use strata_core::status::ComponentPhase;
use strata_core::{Awaited, Component};

use crate::Cluster;
use crate::resources::{check_owned, describe_cluster, nodegroup_name, rejected};

/// `major.minor` as numbers, for comparing Kubernetes versions.
fn minor_version(version: &str) -> Option<(u32, u32)> {
    let (major, minor) = version.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The network's subnets: the cluster's ENIs go in all of them, nodes in the private ones.
pub(crate) struct Subnets {
    pub(crate) public: Vec<String>,
    pub(crate) private: Vec<String>,
}

fn network_outputs(step: &Step<'_>) -> Result<Subnets, ComponentError> {
    let network = step.outputs_of(Component::Cluster, Component::Network)?;
    let list = |key: &str| {
        network
            .required(key)
            .map(|v| v.split(',').map(str::to_owned).collect())
    };
    Ok(Subnets {
        public: list("publicSubnetIds")?,
        private: list("privateSubnetIds")?,
    })
}

/// The idempotency token of a create: the same for every retry and poll of one operation,
/// another for the next operation. EKS remembers a token for a while after the resource is
/// gone, so a token reused by the `up` after a `down` would answer with the deleted cluster
/// and create nothing.
pub(crate) fn request_token(name: &str, context: &strata_core::OperationContext) -> String {
    format!("{name}-{}", context.started_at)
}

fn ready(cluster: &EksCluster, nodegroup: &str) -> Progress {
    let mut progress = Progress::finished(ComponentPhase::Ready);
    let name = cluster.name().unwrap_or_default();
    progress
        .resource_ids
        .insert("clusterName".into(), name.to_owned());
    progress
        .resource_ids
        .insert("nodegroupName".into(), nodegroup.to_owned());
    progress.with_outputs([
        ("clusterName", cluster.name()),
        ("clusterArn", cluster.arn()),
        ("version", cluster.version()),
        ("endpoint", cluster.endpoint()),
        (
            "oidcIssuer",
            cluster
                .identity()
                .and_then(|i| i.oidc())
                .and_then(|o| o.issuer()),
        ),
        ("nodegroupName", Some(nodegroup)),
    ])
}

impl<C: Regional<Client>> Cluster<C> {
    /// One step of `apply`.
    pub(crate) async fn apply_step(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let env = step.environment;
        let spec = &env.spec.cluster;
        let subnets = network_outputs(step)?;
        let client = self.clients.client(&env.spec.region);
        let name = strata_core::cluster_name(env.name());
        let mut waiting = Progress::waiting(ComponentPhase::Creating);
        waiting
            .resource_ids
            .insert("clusterName".into(), name.clone());

        let Some(cluster) = describe_cluster(&client, &name).await? else {
            let token = request_token(&name, step.context);
            self.create_cluster(&client, step.owner, spec, &subnets, &token)
                .await?;
            return Ok(waiting.awaiting(Awaited::ClusterCreate));
        };
        check_owned(&format!("EKS cluster {name}"), cluster.tags(), step.owner)?;
        match cluster.status() {
            Some(ClusterStatus::Active) => {}
            Some(ClusterStatus::Creating | ClusterStatus::Pending) => {
                return Ok(waiting.awaiting(Awaited::ClusterCreate));
            }
            Some(ClusterStatus::Deleting) => return Ok(waiting.awaiting(Awaited::ClusterDelete)),
            Some(ClusterStatus::Updating) => {
                waiting.phase = Some(ComponentPhase::Updating);
                return Ok(waiting);
            }
            other => {
                return Err(rejected(format!(
                    "EKS cluster {name} is {}",
                    other.map_or("in an unknown state", |s| s.as_str())
                )));
            }
        }
        let running = cluster.version().unwrap_or_default().to_owned();
        if running != spec.version {
            let (have, want) = (minor_version(&running), minor_version(&spec.version));
            if have > want {
                return Err(rejected(format!(
                    "EKS cluster {name} runs {running}; Kubernetes versions never go down (spec says {})",
                    spec.version
                )));
            }
            client
                .update_cluster_version()
                .name(&name)
                .version(&spec.version)
                .send()
                .await
                .map_err(|e| classify(&format!("UpdateClusterVersion {name}"), e))?;
            waiting.phase = Some(ComponentPhase::Updating);
            return Ok(waiting);
        }
        self.ensure_access(&client, &name).await?;
        let nodegroup = nodegroup_name(env.name(), spec);
        waiting
            .resource_ids
            .insert("nodegroupName".into(), nodegroup.clone());
        if !self
            .converge_nodegroup(
                &client,
                step.owner,
                spec,
                &running,
                &subnets,
                &request_token(&nodegroup, step.context),
            )
            .await?
        {
            return Ok(waiting.awaiting(Awaited::NodeGroupCreate));
        }
        // A replaced node group goes only once its successor is active.
        if !self
            .delete_nodegroups(&client, step.owner, Some(&nodegroup))
            .await?
        {
            waiting.phase = Some(ComponentPhase::Updating);
            return Ok(waiting.awaiting(Awaited::NodeGroupDelete));
        }
        Ok(ready(&cluster, &nodegroup))
    }
}
