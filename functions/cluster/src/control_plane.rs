//! The EKS cluster itself: created with API authentication in the network's subnets, and
//! the access entry that gives Strata's Kubernetes steps cluster admin.

use aws_sdk_eks::Client;
use aws_sdk_eks::types::{
    AccessScope, AccessScopeType, AuthenticationMode, CreateAccessConfigRequest, VpcConfigRequest,
};
use strata_component::ComponentError;
use strata_component::aws::{classify, code};
use strata_component::clients::Regional;
use strata_core::spec::ClusterSpec;
use strata_core::tags::Owner;

use crate::Cluster;
use crate::apply::Subnets;
use crate::resources::eks_tags;

pub(crate) const ADMIN_POLICY: &str =
    "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";

impl<C: Regional<Client>> Cluster<C> {
    pub(crate) async fn create_cluster(
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
    pub(crate) async fn ensure_access(
        &self,
        client: &Client,
        cluster: &str,
    ) -> Result<(), ComponentError> {
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
}
