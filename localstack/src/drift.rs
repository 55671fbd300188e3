//! Drift for the demo and the tests: changes made beside Strata, as a person with console or
//! `kubectl` access would make them.

use crate::{LocalStack, LocalStackError};

impl LocalStack {
    /// Drift for the demo and the tests: the node group's desired size changed in EKS, as a
    /// person with console access would (moto merges a partial scaling config, as EKS does).
    pub async fn scale_node_group(
        &self,
        region: &str,
        cluster: &str,
        nodegroup: &str,
        desired: u32,
    ) -> Result<(), LocalStackError> {
        let request = hyper::Request::post(format!(
            "http://{}/clusters/{cluster}/node-groups/{nodegroup}/update-config",
            self.stand_in.moto
        ))
        .header("content-type", "application/json");
        self.stand_in
            .call(
                request,
                "eks",
                region,
                serde_json::json!({"scalingConfig": {"desiredSize": desired}}).to_string(),
                &format!("node group {cluster}/{nodegroup}"),
            )
            .await?;
        Ok(())
    }

    /// Drift for the demo and the tests: a Deployment's replicas changed through the
    /// cluster's Kubernetes API (a merge patch under another field manager, as
    /// `kubectl scale` sends), reached the way Strata reaches it.
    pub async fn scale_deployment(
        &self,
        region: &str,
        cluster: &str,
        namespace: &str,
        name: &str,
        replicas: u32,
    ) -> Result<(), LocalStackError> {
        let failed = |reason: String| LocalStackError::Provision {
            what: format!("deployment {cluster}/{namespace}/{name}"),
            reason,
        };
        let client = strata_kubernetes::ClusterAccess(self.sdk_config())
            .connect(region, cluster)
            .await
            .map_err(|e| failed(e.to_string()))?
            .ok_or_else(|| failed("no such cluster".into()))?;
        let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
            kube::Api::namespaced(client, namespace);
        deployments
            .patch(
                name,
                &kube::api::PatchParams {
                    field_manager: Some("kubectl".into()),
                    ..Default::default()
                },
                &kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}})),
            )
            .await
            .map_err(|e| failed(e.to_string()))?;
        Ok(())
    }
}
