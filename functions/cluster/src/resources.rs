//! The cluster's EKS resources by name and tag: the node group's name, the tags Strata puts
//! on them, the check that a found one is this environment's, and the describes that find
//! them.

use std::collections::HashMap;

use aws_sdk_eks::Client;
use aws_sdk_eks::types::{Cluster as EksCluster, Nodegroup};
use strata_component::ComponentError;
use strata_component::aws::{classify, code};
use strata_core::Component;
use strata_core::spec::ClusterSpec;
use strata_core::tags::Owner;

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

pub(crate) fn eks_tags(environment: &Owner) -> HashMap<String, String> {
    environment
        .tags(Component::Cluster)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// `Ok` when `found` (a resource's tags) says `what` is the environment's cluster's.
pub(crate) fn check_owned(
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

fn not_owned(what: &str, environment: &Owner, why: &str) -> ComponentError {
    ComponentError::ResourceNotOwned(format!(
        "{what} is not environment {environment}'s cluster: {why}; Strata leaves it alone"
    ))
}

pub(crate) fn rejected(message: String) -> ComponentError {
    ComponentError::AwsRejected(message)
}

pub(crate) async fn describe_cluster(
    client: &Client,
    name: &str,
) -> Result<Option<EksCluster>, ComponentError> {
    match client.describe_cluster().name(name).send().await {
        Ok(out) => Ok(out.cluster),
        Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(classify(&format!("DescribeCluster {name}"), e)),
    }
}

pub(crate) async fn describe_nodegroup(
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

pub(crate) async fn list_nodegroups(
    client: &Client,
    cluster: &str,
) -> Result<Vec<String>, ComponentError> {
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
