//! The destroy path: the node groups first (waited for until gone), then the cluster.

use aws_sdk_eks::Client;
use aws_sdk_eks::types::ClusterStatus;
use strata_component::aws::{classify, code};
use strata_component::clients::Regional;
use strata_component::{ComponentError, Progress, Step};
use strata_core::Awaited;
use strata_core::status::ComponentPhase;

use crate::Cluster;
use crate::resources::{check_owned, describe_cluster};

impl<C: Regional<Client>> Cluster<C> {
    /// One step of `destroy`.
    pub(crate) async fn destroy_step(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
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
