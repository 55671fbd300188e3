//! The config component: what the application needs in the cluster before it runs, written
//! by server-side apply as the field manager `strata` (a re-apply that changes nothing is a
//! no-op; a field changed behind Strata's back is put back).
//!
//! In the namespace named after the environment:
//! - Secret `database`: `DATABASE_HOST`, `_PORT`, `_USER`, `_PASSWORD`, `_URL`, built from
//!   the RDS endpoint and the RDS-managed master secret. The password is read from Secrets
//!   Manager at apply time and goes only into this Secret: never into a status, a log or an
//!   execution's output.
//! - Secret `<service>-env` for each service's `secretArn` variables, read the same way.
//! - ConfigMap `storage`: `BUCKET_<NAME>` for each bucket.
//! - a ServiceAccount per service.
//!
//! And the cluster-wide IngressClass `alb` of the AWS load balancer controller.
//! `destroy` deletes the IngressClass and the namespace (which takes everything in it) and
//! waits until the namespace is gone.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use k8s_openapi::api::networking::v1::IngressClass;
use kube::Api;
use serde_json::{Value, json};
use strata_component::aws::classify;
use strata_component::{ComponentError, ComponentHandler, Progress, Step};
use strata_core::spec::DatabaseEngine;
use strata_core::status::ComponentPhase;
use strata_core::{Component, Environment};
use strata_kubernetes::{ClusterAccess, apply, delete, get, namespaced};

pub const DATABASE_SECRET: &str = "database";
pub const STORAGE_CONFIG_MAP: &str = "storage";
pub const INGRESS_CLASS: &str = "alb";

/// The labels on everything Strata writes into a cluster.
pub fn labels(environment: &str) -> Value {
    json!({
        "app.kubernetes.io/managed-by": "strata",
        "strata.dev/environment": environment,
    })
}

/// The environment's namespace: its own name.
pub fn namespace_name(env: &Environment) -> &str {
    env.name()
}

pub fn namespace(environment: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": environment, "labels": labels(environment)},
    })
}

fn secret(environment: &str, name: &str, values: &BTreeMap<String, String>) -> Value {
    let data: serde_json::Map<String, Value> = values
        .iter()
        .map(|(k, v)| (k.clone(), json!(strata_kubernetes::base64(v.as_bytes()))))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": environment, "labels": labels(environment)},
        "type": "Opaque",
        "data": data,
    })
}

/// The connection a service gets to the database. `user` and `password` come from the
/// RDS-managed secret.
pub struct DatabaseConnection<'a> {
    pub engine: DatabaseEngine,
    pub host: &'a str,
    pub port: &'a str,
    pub user: &'a str,
    pub password: &'a str,
}

pub fn database_secret(environment: &str, db: &DatabaseConnection<'_>) -> Value {
    let (scheme, database) = match db.engine {
        DatabaseEngine::Postgres => ("postgresql", "postgres"),
        DatabaseEngine::Mysql => ("mysql", "mysql"),
    };
    let encode = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let url = format!(
        "{scheme}://{}:{}@{}:{}/{database}",
        encode(db.user),
        encode(db.password),
        db.host,
        db.port
    );
    let values = [
        ("DATABASE_HOST", db.host),
        ("DATABASE_PORT", db.port),
        ("DATABASE_USER", db.user),
        ("DATABASE_PASSWORD", db.password),
        ("DATABASE_URL", url.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    secret(environment, DATABASE_SECRET, &values)
}

/// The Secret holding a service's `secretArn` variables, by variable name.
pub fn service_env_secret_name(service: &str) -> String {
    format!("{service}-env")
}

pub fn service_env_secret(
    environment: &str,
    service: &str,
    values: &BTreeMap<String, String>,
) -> Value {
    secret(environment, &service_env_secret_name(service), values)
}

/// `BUCKET_<NAME>` → the bucket's real name.
pub fn storage_config_map(environment: &str, buckets: &BTreeMap<String, String>) -> Value {
    let data: serde_json::Map<String, Value> = buckets
        .iter()
        .map(|(short, real)| {
            let key = format!("BUCKET_{}", short.to_uppercase().replace('-', "_"));
            (key, json!(real))
        })
        .collect();
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": STORAGE_CONFIG_MAP, "namespace": environment, "labels": labels(environment)},
        "data": data,
    })
}

pub fn service_account(environment: &str, service: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": service, "namespace": environment, "labels": labels(environment)},
    })
}

pub fn ingress_class(environment: &str) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": {"name": INGRESS_CLASS, "labels": labels(environment)},
        "spec": {"controller": "ingress.k8s.aws/alb"},
    })
}

/// The config handler: EKS for the cluster, Secrets Manager for the values it copies.
pub struct Config {
    pub aws: aws_config::SdkConfig,
}

impl Config {
    fn secrets(&self, region: &str) -> aws_sdk_secretsmanager::Client {
        let config = self
            .aws
            .to_builder()
            .region(aws_config::Region::new(region.to_owned()))
            .build();
        aws_sdk_secretsmanager::Client::new(&config)
    }

    /// A secret's value: the whole string, or one key of its JSON with `arn#key`.
    async fn secret_value(
        &self,
        reference: &str,
        default_region: &str,
        field: &str,
    ) -> Result<String, ComponentError> {
        let (arn, key) = match reference.split_once('#') {
            Some((arn, key)) => (arn, Some(key)),
            None => (reference, None),
        };
        let region = arn
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
            .unwrap_or(default_region);
        let answer = self
            .secrets(region)
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| classify(&format!("GetSecretValue for {field}"), e))?;
        let text = answer.secret_string().ok_or_else(|| {
            ComponentError::InvalidInput(format!("{field}: the secret {arn} holds no string"))
        })?;
        let Some(key) = key else {
            return Ok(text.to_owned());
        };
        let parsed: Value = serde_json::from_str(text).map_err(|_| {
            ComponentError::InvalidInput(format!("{field}: the secret {arn} is not JSON"))
        })?;
        parsed[key].as_str().map(str::to_owned).ok_or_else(|| {
            ComponentError::InvalidInput(format!("{field}: the secret {arn} has no key {key}"))
        })
    }

    /// Every manifest of this step, in the order they are applied (namespace first).
    async fn manifests(&self, step: &Step<'_>) -> Result<Vec<Value>, ComponentError> {
        let env = step.environment;
        let ns = namespace_name(env);
        let mut manifests = vec![namespace(ns), ingress_class(ns)];
        if let Some(db) = &env.spec.database {
            let outputs = &step
                .dependencies
                .get(&Component::Database)
                .ok_or(ComponentError::DependencyNotReady {
                    component: Component::Config,
                    dependency: Component::Database,
                })?
                .outputs;
            let output = |key: &str| {
                outputs.get(key).map(String::as_str).ok_or_else(|| {
                    ComponentError::InvalidInput(format!("the database recorded no {key}"))
                })
            };
            let master = self
                .secret_value(
                    output("masterUserSecretArn")?,
                    &env.spec.region,
                    "the database master secret",
                )
                .await?;
            let master: Value = serde_json::from_str(&master).map_err(|_| {
                ComponentError::InvalidInput("the database master secret is not JSON".into())
            })?;
            let user = master["username"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or(output("masterUsername")?.to_owned());
            let password = master["password"].as_str().ok_or_else(|| {
                ComponentError::InvalidInput("the database master secret has no password".into())
            })?;
            manifests.push(database_secret(
                ns,
                &DatabaseConnection {
                    engine: db.engine,
                    host: output("address")?,
                    port: output("port")?,
                    user: &user,
                    password,
                },
            ));
        }
        if env.spec.storage.is_some() {
            let buckets: BTreeMap<String, String> = step
                .dependencies
                .get(&Component::Storage)
                .map(|s| {
                    s.outputs
                        .iter()
                        .filter_map(|(k, v)| {
                            Some((k.strip_prefix("bucket.")?.to_owned(), v.clone()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            manifests.push(storage_config_map(ns, &buckets));
        }
        for (i, service) in env.spec.app.services.iter().enumerate() {
            manifests.push(service_account(ns, &service.name));
            let mut values = BTreeMap::new();
            for (j, var) in service.env.iter().enumerate() {
                if let Some(reference) = &var.secret_arn {
                    let field = format!("spec.app.services[{i}].env[{j}].secretArn");
                    values.insert(
                        var.name.clone(),
                        self.secret_value(reference, &env.spec.region, &field)
                            .await?,
                    );
                }
            }
            if !values.is_empty() {
                manifests.push(service_env_secret(ns, &service.name, &values));
            }
        }
        Ok(manifests)
    }
}

/// Applies one manifest through the API of its kind.
async fn apply_manifest(client: &kube::Client, manifest: &Value) -> Result<String, ComponentError> {
    let name = manifest["metadata"]["name"].as_str().unwrap_or_default();
    let ns = manifest["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let version = |meta: &kube::api::ObjectMeta| meta.resource_version.clone().unwrap_or_default();
    Ok(match manifest["kind"].as_str().unwrap_or_default() {
        "Namespace" => version(
            &apply(&Api::<Namespace>::all(client.clone()), name, manifest)
                .await?
                .metadata,
        ),
        "IngressClass" => version(
            &apply(&Api::<IngressClass>::all(client.clone()), name, manifest)
                .await?
                .metadata,
        ),
        "Secret" => version(
            &apply(&namespaced::<Secret>(client, ns), name, manifest)
                .await?
                .metadata,
        ),
        "ConfigMap" => version(
            &apply(&namespaced::<ConfigMap>(client, ns), name, manifest)
                .await?
                .metadata,
        ),
        "ServiceAccount" => version(
            &apply(&namespaced::<ServiceAccount>(client, ns), name, manifest)
                .await?
                .metadata,
        ),
        other => {
            return Err(ComponentError::InvalidInput(format!(
                "config writes no {other}"
            )));
        }
    })
}

impl ComponentHandler for Config {
    const COMPONENT: Component = Component::Config;

    async fn apply(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let env = step.environment;
        let cluster = strata_core::cluster_name(env.name());
        let client = ClusterAccess(self.aws.clone())
            .connect(&env.spec.region, &cluster)
            .await?
            .ok_or(ComponentError::DependencyNotReady {
                component: Component::Config,
                dependency: Component::Cluster,
            })?;
        let mut progress = Progress::finished(ComponentPhase::Ready);
        for manifest in self.manifests(step).await? {
            let version = apply_manifest(&client, &manifest).await?;
            let kind = manifest["kind"].as_str().unwrap_or_default();
            let name = manifest["metadata"]["name"].as_str().unwrap_or_default();
            // Names and versions only: a Secret's data never leaves this function.
            progress
                .resource_ids
                .insert(format!("{kind}/{name}"), version);
        }
        progress
            .outputs
            .insert("namespace".into(), namespace_name(env).to_owned());
        progress
            .outputs
            .insert("ingressClass".into(), INGRESS_CLASS.into());
        if env.spec.database.is_some() {
            progress
                .outputs
                .insert("databaseSecret".into(), DATABASE_SECRET.into());
        }
        Ok(progress)
    }

    async fn destroy(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let env = step.environment;
        let Some(client) = ClusterAccess(self.aws.clone())
            .connect(&env.spec.region, &strata_core::cluster_name(env.name()))
            .await?
        else {
            // No cluster, nothing of this component left in it.
            return Ok(Progress::finished(ComponentPhase::Deleted));
        };
        let ns = namespace_name(env);
        delete(&Api::<IngressClass>::all(client.clone()), INGRESS_CLASS).await?;
        let namespaces = Api::<Namespace>::all(client);
        if get(&namespaces, ns).await?.is_none() {
            return Ok(Progress::finished(ComponentPhase::Deleted));
        }
        delete(&namespaces, ns).await?;
        // Namespace deletion finishes asynchronously; the next poll sees it gone.
        Ok(Progress::waiting(ComponentPhase::Deleting))
    }
}
