//! The floor of a function that talks to AWS and to Kubernetes: `hello_sdk` plus, per
//! invocation, a kube client (TLS through rustls, as the app and config functions make
//! theirs) and one Deployment read on the cluster the event names (`{"endpoint": url}`).

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_from_env().await;
    let eks = &aws_sdk_eks::Client::new(&config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let listed = eks.list_clusters().send().await?;
        let endpoint = event.payload["endpoint"]
            .as_str()
            .unwrap_or("https://127.0.0.1:1");
        let mut kube = kube::Config::new(endpoint.parse()?);
        kube.auth_info.token = Some("token".to_owned().into());
        let client = kube::Client::try_from(kube)?;
        let found = Api::<Deployment>::namespaced(client, "default")
            .get_opt("hello")
            .await?;
        Ok::<Value, Error>(json!({ "clusters": listed.clusters().len(), "found": found.is_some() }))
    }))
    .await
}
