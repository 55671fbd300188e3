//! How a Strata Lambda reaches its environment's EKS cluster: DescribeCluster for the
//! endpoint and CA, a `k8s-aws-v1.` token minted from the function's own credentials, and a
//! kube client built for the one call. No kubeconfig exists anywhere. Writes are
//! server-side apply with the field manager `strata`, so a re-apply that changes nothing is
//! a no-op and a field changed behind Strata's back is put back.

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::{Client, Config};
use serde::Serialize;
use serde::de::DeserializeOwned;
use strata_component::ComponentError;
use strata_component::aws::classify;
use strata_component::clients::in_region;

pub mod token;

/// The field manager of every object Strata writes.
pub const FIELD_MANAGER: &str = "strata";

/// Reaches clusters through EKS and the function's credentials.
#[derive(Clone)]
pub struct ClusterAccess(pub aws_config::SdkConfig);

impl ClusterAccess {
    /// A client for `cluster` in `region`, or `None` when the cluster does not exist.
    pub async fn connect(
        &self,
        region: &str,
        cluster: &str,
    ) -> Result<Option<Client>, ComponentError> {
        let config = in_region(&self.0, region);
        let eks = aws_sdk_eks::Client::new(&config);
        let described = match eks.describe_cluster().name(cluster).send().await {
            Ok(d) => d,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(classify(&format!("DescribeCluster {cluster}"), e)),
        };
        let found = described.cluster();
        let endpoint = found.and_then(|c| c.endpoint()).ok_or_else(|| {
            ComponentError::KubernetesTransient(format!("cluster {cluster} has no endpoint yet"))
        })?;
        let ca = found
            .and_then(|c| c.certificate_authority())
            .and_then(|c| c.data());
        let provider = config.credentials_provider().ok_or_else(|| {
            ComponentError::InvalidInput("the function has no AWS credentials".into())
        })?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            ComponentError::AwsTransient(format!("credentials for the EKS token: {e}"))
        })?;
        let token = token::token(&credentials, region, cluster, SystemTime::now())
            .map_err(|e| ComponentError::InvalidInput(e.to_string()))?;
        client(endpoint, ca, token).map(Some)
    }
}

/// A kube client for one endpoint. The CA only matters over TLS; it is required there.
pub fn client(endpoint: &str, ca: Option<&str>, token: String) -> Result<Client, ComponentError> {
    let url = endpoint
        .parse()
        .map_err(|e| ComponentError::InvalidInput(format!("cluster endpoint {endpoint}: {e}")))?;
    let mut config = Config::new(url);
    if endpoint.starts_with("https://") {
        let ca = ca.ok_or_else(|| {
            ComponentError::InvalidInput(format!("cluster {endpoint} reports no CA"))
        })?;
        let pem = aws_smithy_types::base64::decode(ca)
            .map_err(|e| ComponentError::InvalidInput(format!("cluster CA: {e}")))?;
        config.root_cert = Some(pem_certificates(&pem)?);
    }
    config.auth_info.token = Some(token.into());
    config.read_timeout = Some(std::time::Duration::from_secs(20));
    Client::try_from(config).map_err(|e| ComponentError::KubernetesTransient(e.to_string()))
}

/// The DER certificates of a PEM bundle.
fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, ComponentError> {
    let text = std::str::from_utf8(pem)
        .map_err(|_| ComponentError::InvalidInput("cluster CA is not PEM".into()))?;
    let mut certificates = Vec::new();
    for block in text.split("-----BEGIN CERTIFICATE-----").skip(1) {
        let body = block
            .split("-----END CERTIFICATE-----")
            .next()
            .unwrap_or_default();
        let compact: String = body.split_whitespace().collect();
        let der = aws_smithy_types::base64::decode(compact)
            .map_err(|e| ComponentError::InvalidInput(format!("cluster CA: {e}")))?;
        certificates.push(der);
    }
    if certificates.is_empty() {
        return Err(ComponentError::InvalidInput(
            "cluster CA holds no certificate".into(),
        ));
    }
    Ok(certificates)
}

/// A kube error as a step's error: worth a retry (unreachable, 429, 5xx) or final.
pub fn classify_kube(what: &str, err: kube::Error) -> ComponentError {
    match err {
        kube::Error::Api(status) => {
            let message = format!(
                "{what}: {} (HTTP {}): {}",
                status.reason, status.code, status.message
            );
            if status.code == 429 || status.code >= 500 {
                ComponentError::KubernetesTransient(message)
            } else {
                ComponentError::KubernetesRejected(message)
            }
        }
        other => ComponentError::KubernetesTransient(format!("{what}: {other}")),
    }
}

fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 404)
}

/// Standard base64, as a Secret's `data` holds its values.
pub fn base64(bytes: &[u8]) -> String {
    aws_smithy_types::base64::encode(bytes)
}

/// What a namespaced or cluster-scoped object needs to be written by name.
pub trait Object:
    kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug
{
}
impl<K> Object for K where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug
{
}

/// The API for `K` in `namespace`.
pub fn namespaced<K>(client: &Client, namespace: &str) -> Api<K>
where
    K: Object + kube::Resource<Scope = NamespaceResourceScope>,
{
    Api::namespaced(client.clone(), namespace)
}

/// Server-side apply of `manifest` (which names the object) as Strata, taking over any
/// field another manager changed.
pub async fn apply<K: Object>(
    api: &Api<K>,
    name: &str,
    manifest: &serde_json::Value,
) -> Result<K, ComponentError> {
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(manifest),
    )
    .await
    .map_err(|e| classify_kube(&format!("apply {} {name}", K::kind(&())), e))
}

/// The object, or `None` when it does not exist.
pub async fn get<K: Object>(api: &Api<K>, name: &str) -> Result<Option<K>, ComponentError> {
    api.get_opt(name)
        .await
        .map_err(|e| classify_kube(&format!("get {} {name}", K::kind(&())), e))
}

/// Deletes the object (its dependents in the background); one already gone is fine.
pub async fn delete<K: Object>(api: &Api<K>, name: &str) -> Result<(), ComponentError> {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(classify_kube(&format!("delete {} {name}", K::kind(&())), e)),
    }
}
