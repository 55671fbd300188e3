//! Drift: the live cluster and node group read back and compared with the spec (version,
//! scaling, instance types, Strata's tags).

use aws_sdk_eks::Client;
use std::collections::HashMap;
use strata_component::clients::Regional;

use strata_component::{ComponentError, Step};
use strata_core::drift::{FieldDrift, Observed};

use crate::Cluster;
use crate::resources::{describe_cluster, describe_nodegroup, eks_tags, nodegroup_name};

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

impl<C: Regional<Client>> Cluster<C> {
    /// The cluster's version and tags, the node group's scaling, instance types and version.
    pub(crate) async fn observe_step(&self, step: &Step<'_>) -> Result<Observed, ComponentError> {
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
}
