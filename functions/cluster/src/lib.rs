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

use std::collections::HashMap;

use aws_sdk_eks::Client;
use aws_sdk_eks::types::{
    AccessScope, AccessScopeType, AuthenticationMode, Cluster as EksCluster, ClusterStatus,
    CreateAccessConfigRequest, Nodegroup, NodegroupScalingConfig, NodegroupStatus,
    VpcConfigRequest,
};
use strata_component::aws::{classify, code};
use strata_component::{ComponentError, ComponentHandler, Progress, Step};
use strata_core::drift::{FieldDrift, Observed};
use strata_core::spec::ClusterSpec;
use strata_core::status::ComponentPhase;
use strata_core::tags::Owner;
use strata_core::{Awaited, Component};

/// Makes an EKS client for a region (environments live in the region their spec names).
pub trait ClientFor: Send + Sync {
    fn client(&self, region: &str) -> Client;
}

/// Builds regional clients from one loaded SDK config.
pub struct RegionalClients(pub aws_config::SdkConfig);

impl ClientFor for RegionalClients {
    fn client(&self, region: &str) -> Client {
        let config = aws_sdk_eks::config::Builder::from(&self.0)
            .region(aws_sdk_eks::config::Region::new(region.to_owned()))
            .build();
        Client::from_conf(config)
    }
}

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

pub struct Cluster<C: ClientFor> {
    pub clients: C,
    pub roles: Roles,
}

/// The node group's name: it changes exactly when the group must be replaced (instance
/// types or disk size), so the replacement can stand beside the old group.
pub fn nodegroup_name(environment: &str, spec: &ClusterSpec) -> String {
    let shape = format!(
        "{}|{}",
        spec.node_group.instance_types.join(","),
        spec.node_group.disk_gib
    );
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let hash = shape.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("strata-{environment}-{:08x}", hash >> 32)
}

const ADMIN_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";

fn eks_tags(environment: &Owner) -> HashMap<String, String> {
    environment
        .tags(Component::Cluster)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// `Ok` when `found` (a resource's tags) says `what` is the environment's cluster's.
fn check_owned(
    what: &str,
    found: Option<&HashMap<String, String>>,
    environment: &Owner,
) -> Result<(), ComponentError> {
    let found = found.ok_or_else(|| not_owned(what, environment, "it has no tags"))?;
    environment
        .check(
            found.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            Component::Cluster,
        )
        .map_err(|why| not_owned(what, environment, &why))
}

/// Each tag Strata set that is gone or changed on `what`.
fn drifted_tags(
    what: &str,
    expected: &HashMap<String, String>,
    found: Option<&HashMap<String, String>>,
    fields: &mut Vec<FieldDrift>,
) {
    let mut keys: Vec<&String> = expected.keys().collect();
    keys.sort();
    for key in keys {
        let observed = found.and_then(|f| f.get(key));
        if observed != Some(&expected[key]) {
            fields.push(FieldDrift::new(
                format!("{what}/tags.{key}"),
                &expected[key],
                observed.map_or("absent", String::as_str),
            ));
        }
    }
}

fn not_owned(what: &str, environment: &Owner, why: &str) -> ComponentError {
    ComponentError::ResourceNotOwned(format!(
        "{what} is not environment {environment}'s cluster: {why}; Strata leaves it alone"
    ))
}

fn rejected(message: String) -> ComponentError {
    ComponentError::AwsRejected(message)
}

async fn describe_cluster(
    client: &Client,
    name: &str,
) -> Result<Option<EksCluster>, ComponentError> {
    match client.describe_cluster().name(name).send().await {
        Ok(out) => Ok(out.cluster),
        Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(classify(&format!("DescribeCluster {name}"), e)),
    }
}

async fn describe_nodegroup(
    client: &Client,
    cluster: &str,
    name: &str,
) -> Result<Option<Nodegroup>, ComponentError> {
    match client
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.nodegroup),
        Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(classify(&format!("DescribeNodegroup {name}"), e)),
    }
}

async fn list_nodegroups(client: &Client, cluster: &str) -> Result<Vec<String>, ComponentError> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_nodegroups()
            .cluster_name(cluster)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| classify(&format!("ListNodegroups {cluster}"), e))?;
        names.extend(page.nodegroups.unwrap_or_default());
        token = page.next_token;
        if token.is_none() {
            return Ok(names);
        }
    }
}

/// `major.minor` as numbers, for comparing Kubernetes versions.
fn minor_version(version: &str) -> Option<(u32, u32)> {
    let (major, minor) = version.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The network's subnets: the cluster's ENIs go in all of them, nodes in the private ones.
struct Subnets {
    public: Vec<String>,
    private: Vec<String>,
}

fn network_outputs(step: &Step<'_>) -> Result<Subnets, ComponentError> {
    let missing = || ComponentError::DependencyNotReady {
        component: Component::Cluster,
        dependency: Component::Network,
    };
    let outputs = &step
        .dependencies
        .get(&Component::Network)
        .ok_or_else(missing)?
        .outputs;
    let list = |key: &str| {
        outputs
            .get(key)
            .map(|v| v.split(',').map(str::to_owned).collect())
            .ok_or_else(missing)
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
fn request_token(name: &str, context: &strata_core::OperationContext) -> String {
    format!("{name}-{}", context.started_at)
}

impl<C: ClientFor> Cluster<C> {
    async fn create_cluster(
        &self,
        client: &Client,
        environment: &Owner,
        spec: &ClusterSpec,
        subnets: &Subnets,
        token: &str,
    ) -> Result<(), ComponentError> {
        let name = strata_core::cluster_name(&environment.environment);
        let vpc = VpcConfigRequest::builder()
            .set_subnet_ids(Some(
                subnets
                    .private
                    .iter()
                    .chain(&subnets.public)
                    .cloned()
                    .collect(),
            ))
            .endpoint_private_access(true)
            .endpoint_public_access(true)
            .build();
        client
            .create_cluster()
            .name(&name)
            .version(&spec.version)
            .role_arn(&self.roles.cluster)
            .resources_vpc_config(vpc)
            .access_config(
                CreateAccessConfigRequest::builder()
                    .authentication_mode(AuthenticationMode::Api)
                    .bootstrap_cluster_creator_admin_permissions(false)
                    .build(),
            )
            .set_tags(Some(eks_tags(environment)))
            .client_request_token(token)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&format!("CreateCluster {name}"), e))
    }

    /// The access entry that lets Strata's Kubernetes steps in, with cluster admin.
    async fn ensure_access(&self, client: &Client, cluster: &str) -> Result<(), ComponentError> {
        let principal = &self.roles.access_principal;
        match client
            .describe_access_entry()
            .cluster_name(cluster)
            .principal_arn(principal)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if code(&e) == Some("ResourceNotFoundException") => {
                match client
                    .create_access_entry()
                    .cluster_name(cluster)
                    .principal_arn(principal)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if code(&e) == Some("ResourceInUseException") => {}
                    Err(e) => return Err(classify(&format!("CreateAccessEntry {cluster}"), e)),
                }
            }
            Err(e) => return Err(classify(&format!("DescribeAccessEntry {cluster}"), e)),
        }
        // Associating the same policy again is a no-op on EKS.
        client
            .associate_access_policy()
            .cluster_name(cluster)
            .principal_arn(principal)
            .policy_arn(ADMIN_POLICY)
            .access_scope(
                AccessScope::builder()
                    .r#type(AccessScopeType::Cluster)
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&format!("AssociateAccessPolicy {cluster}"), e))
    }

    /// Drives the node group towards the spec; `Ok(true)` once it is active and matching.
    async fn converge_nodegroup(
        &self,
        client: &Client,
        environment: &Owner,
        spec: &ClusterSpec,
        cluster_version: &str,
        subnets: &Subnets,
        token: &str,
    ) -> Result<bool, ComponentError> {
        let cluster = strata_core::cluster_name(&environment.environment);
        let name = nodegroup_name(&environment.environment, spec);
        let ng = &spec.node_group;
        let size = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        let scaling = NodegroupScalingConfig::builder()
            .min_size(size(ng.min_size))
            .max_size(size(ng.max_size))
            .desired_size(size(ng.desired_size))
            .build();
        let Some(group) = describe_nodegroup(client, &cluster, &name).await? else {
            client
                .create_nodegroup()
                .cluster_name(&cluster)
                .nodegroup_name(&name)
                // The cluster's version: the node group follows the control plane.
                .version(cluster_version)
                .scaling_config(scaling)
                .set_instance_types(Some(ng.instance_types.clone()))
                .disk_size(size(ng.disk_gib))
                .set_subnets(Some(subnets.private.clone()))
                .node_role(&self.roles.node)
                .set_tags(Some(eks_tags(environment)))
                .client_request_token(token)
                .send()
                .await
                .map_err(|e| classify(&format!("CreateNodegroup {name}"), e))?;
            return Ok(false);
        };
        check_owned(&format!("node group {name}"), group.tags(), environment)?;
        match group.status() {
            Some(NodegroupStatus::Active) => {}
            Some(NodegroupStatus::Creating | NodegroupStatus::Updating) => return Ok(false),
            Some(NodegroupStatus::Deleting) => return Ok(false),
            other => {
                let issues: Vec<String> = group
                    .health()
                    .map(|h| {
                        h.issues()
                            .iter()
                            .map(|i| {
                                format!(
                                    "{}: {}",
                                    i.code().map_or("?", |c| c.as_str()),
                                    i.message().unwrap_or_default()
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                return Err(rejected(format!(
                    "node group {name} is {}: {}",
                    other.map_or("in an unknown state", |s| s.as_str()),
                    issues.join("; ")
                )));
            }
        }
        let current = group.scaling_config();
        let matches = current.is_some_and(|c| {
            (c.min_size(), c.max_size(), c.desired_size())
                == (
                    Some(size(ng.min_size)),
                    Some(size(ng.max_size)),
                    Some(size(ng.desired_size)),
                )
        });
        if !matches {
            client
                .update_nodegroup_config()
                .cluster_name(&cluster)
                .nodegroup_name(&name)
                .scaling_config(scaling)
                .send()
                .await
                .map_err(|e| classify(&format!("UpdateNodegroupConfig {name}"), e))?;
            return Ok(false);
        }
        if group.version().is_some_and(|v| v != cluster_version) {
            client
                .update_nodegroup_version()
                .cluster_name(&cluster)
                .nodegroup_name(&name)
                .send()
                .await
                .map_err(|e| classify(&format!("UpdateNodegroupVersion {name}"), e))?;
            return Ok(false);
        }
        Ok(true)
    }

    /// Deletes every node group of the cluster except `keep`; `Ok(true)` once none remain.
    async fn delete_nodegroups(
        &self,
        client: &Client,
        environment: &Owner,
        keep: Option<&str>,
    ) -> Result<bool, ComponentError> {
        let cluster = strata_core::cluster_name(&environment.environment);
        let mut gone = true;
        for name in list_nodegroups(client, &cluster).await? {
            if Some(name.as_str()) == keep {
                continue;
            }
            let Some(group) = describe_nodegroup(client, &cluster, &name).await? else {
                continue;
            };
            check_owned(&format!("node group {name}"), group.tags(), environment)?;
            gone = false;
            if group.status() == Some(&NodegroupStatus::Deleting) {
                continue;
            }
            match client
                .delete_nodegroup()
                .cluster_name(&cluster)
                .nodegroup_name(&name)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if code(&e) == Some("ResourceNotFoundException") => {}
                // Busy (e.g. still updating): the next poll tries again.
                Err(e) if code(&e) == Some("ResourceInUseException") => {}
                Err(e) => return Err(classify(&format!("DeleteNodegroup {name}"), e)),
            }
        }
        Ok(gone)
    }
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
    for (key, value) in [
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
    ] {
        if let Some(value) = value {
            progress.outputs.insert(key.to_owned(), value.to_owned());
        }
    }
    progress
}

impl<C: ClientFor> ComponentHandler for Cluster<C> {
    fn component(&self) -> Component {
        Component::Cluster
    }

    async fn apply(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
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

    /// The cluster's version and tags, the node group's scaling, instance types and version.
    async fn observe(&self, step: &Step<'_>) -> Result<Observed, ComponentError> {
        let env = step.environment;
        let spec = &env.spec.cluster;
        let client = self.clients.client(&env.spec.region);
        let name = strata_core::cluster_name(env.name());
        let Some(cluster) = describe_cluster(&client, &name).await? else {
            return Ok(Observed::Missing {
                resources: vec![format!("EKS cluster {name}")],
            });
        };
        let mut fields = Vec::new();
        let running = cluster.version().unwrap_or_default();
        if running != spec.version {
            fields.push(FieldDrift::new(
                format!("cluster {name}/version"),
                &spec.version,
                running,
            ));
        }
        drifted_tags(
            &format!("cluster {name}"),
            &eks_tags(step.owner),
            cluster.tags(),
            &mut fields,
        );
        let nodegroup = nodegroup_name(env.name(), spec);
        let Some(group) = describe_nodegroup(&client, &name, &nodegroup).await? else {
            return Ok(Observed::Missing {
                resources: vec![format!("EKS node group {nodegroup}")],
            });
        };
        let at = |field: &str| format!("nodegroup {nodegroup}/{field}");
        let scaling = group.scaling_config();
        let wanted = &spec.node_group;
        for (field, expected, observed) in [
            (
                "minSize",
                wanted.min_size,
                scaling.and_then(|s| s.min_size()),
            ),
            (
                "maxSize",
                wanted.max_size,
                scaling.and_then(|s| s.max_size()),
            ),
            (
                "desiredSize",
                wanted.desired_size,
                scaling.and_then(|s| s.desired_size()),
            ),
        ] {
            let observed = observed.map_or("unset".to_owned(), |n| n.to_string());
            if observed != expected.to_string() {
                fields.push(FieldDrift::new(
                    at(&format!("scalingConfig.{field}")),
                    expected,
                    observed,
                ));
            }
        }
        if group.instance_types() != wanted.instance_types.as_slice() {
            fields.push(FieldDrift::new(
                at("instanceTypes"),
                wanted.instance_types.join(","),
                group.instance_types().join(","),
            ));
        }
        drifted_tags(
            &format!("nodegroup {nodegroup}"),
            &eks_tags(step.owner),
            group.tags(),
            &mut fields,
        );
        Ok(Observed::from_findings(Vec::new(), fields))
    }

    async fn destroy(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let env = step.environment;
        let client = self.clients.client(&env.spec.region);
        let name = strata_core::cluster_name(env.name());
        let Some(cluster) = describe_cluster(&client, &name).await? else {
            return Ok(Progress::finished(ComponentPhase::Deleted));
        };
        check_owned(&format!("EKS cluster {name}"), cluster.tags(), step.owner)?;
        let mut waiting = Progress::waiting(ComponentPhase::Deleting);
        waiting
            .resource_ids
            .insert("clusterName".into(), name.clone());
        if !self.delete_nodegroups(&client, step.owner, None).await? {
            return Ok(waiting.awaiting(Awaited::NodeGroupDelete));
        }
        let waiting = waiting.awaiting(Awaited::ClusterDelete);
        if cluster.status() == Some(&ClusterStatus::Deleting) {
            return Ok(waiting);
        }
        match client.delete_cluster().name(&name).send().await {
            Ok(_) => {}
            Err(e) if code(&e) == Some("ResourceNotFoundException") => {}
            // A node group still on its way out, or an update finishing: poll again.
            Err(e) if code(&e) == Some("ResourceInUseException") => {}
            Err(e) => return Err(classify(&format!("DeleteCluster {name}"), e)),
        }
        Ok(waiting)
    }
}

#[cfg(test)]
mod tests;
