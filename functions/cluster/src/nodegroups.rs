//! The managed node group: created, scaled in place and upgraded to the cluster's version;
//! a replaced group (other instance types or disk size) deleted once its successor is up.

use aws_sdk_eks::Client;
use aws_sdk_eks::types::{NodegroupScalingConfig, NodegroupStatus};
use strata_component::ComponentError;
use strata_component::aws::{classify, code};
use strata_component::clients::Regional;
use strata_core::spec::ClusterSpec;
use strata_core::tags::Owner;

use crate::Cluster;
use crate::apply::Subnets;
use crate::resources::{
    check_owned, describe_nodegroup, eks_tags, list_nodegroups, nodegroup_name, rejected,
};

impl<C: Regional<Client>> Cluster<C> {
    /// Drives the node group towards the spec; `Ok(true)` once it is active and matching.
    pub(crate) async fn converge_nodegroup(
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
    pub(crate) async fn delete_nodegroups(
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
