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
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};
use strata_component::clients::in_region;
use strata_component::{ComponentError, ComponentHandler, Progress, Step};
use strata_core::drift::{FieldDrift, Observed};
use strata_core::spec::DatabaseEngine;
use strata_core::status::ComponentPhase;
use strata_core::{Component, Environment};
use strata_kubernetes::{ClusterAccess, apply, classify_kube, delete, get, namespaced};

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
        aws_sdk_secretsmanager::Client::new(&in_region(&self.aws, region))
    }

    /// A secret's value: the whole string, or one key of its JSON with `arn#key`.
    async fn secret_value(
        &self,
        reference: &str,
        default_region: &str,
        field: &str,
    ) -> Result<String, ComponentError> {
        strata_secret_values::value(|r| self.secrets(r), reference, default_region, field).await
    }

    /// Every manifest of this step, in the order they are applied (namespace first).
    async fn manifests(&self, step: &Step<'_>) -> Result<Vec<Value>, ComponentError> {
        let env = step.environment;
        let ns = namespace_name(env);
        let mut manifests = vec![namespace(ns), ingress_class(ns)];
        if let Some(db) = &env.spec.database {
            let database = step.outputs_of(Component::Config, Component::Database)?;
            let output = |key: &str| {
                database.get(key).ok_or_else(|| {
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

/// Every leaf of `manifest` Strata sets (labels, data, spec; not apiVersion, kind or the
/// name), by path: what server-side apply as `strata` manages.
fn managed_leaves(manifest: &Value) -> Vec<(String, &Value)> {
    fn walk<'a>(value: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    let path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(value, path, out);
                }
            }
            leaf => out.push((path, leaf)),
        }
    }
    let mut out = Vec::new();
    walk(manifest, String::new(), &mut out);
    // By path: the same order whether or not serde_json keeps insertion order.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.retain(|(path, _)| {
        !matches!(
            path.as_str(),
            "apiVersion" | "kind" | "metadata.name" | "metadata.namespace"
        )
    });
    out
}

/// The value at a dotted `path` (keys may hold dots only at the last step, as label keys
/// do: `metadata.labels.app.kubernetes.io/managed-by`).
fn at<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = object;
    let mut rest = path;
    loop {
        if let Some(found) = current.get(rest) {
            return Some(found);
        }
        let (head, tail) = rest.split_once('.')?;
        current = current.get(head)?;
        rest = tail;
    }
}

/// The fields of the live object that differ from the manifest. A Secret's values are never
/// shown, only that they differ.
fn compare(manifest: &Value, live: &Value) -> Vec<FieldDrift> {
    let kind = manifest["kind"].as_str().unwrap_or_default();
    let name = match manifest["metadata"]["namespace"].as_str() {
        Some(ns) => format!(
            "{kind} {ns}/{}",
            manifest["metadata"]["name"].as_str().unwrap_or_default()
        ),
        None => format!(
            "{kind} {}",
            manifest["metadata"]["name"].as_str().unwrap_or_default()
        ),
    };
    let shown = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    managed_leaves(manifest)
        .into_iter()
        .filter_map(|(path, expected)| {
            let observed = at(live, &path);
            if observed == Some(expected) {
                return None;
            }
            let (expected, observed) = if kind == "Secret" && path.starts_with("data.") {
                let observed = if observed.is_some() {
                    "another value"
                } else {
                    "absent"
                };
                ("the value from its source".to_owned(), observed.to_owned())
            } else {
                (shown(expected), observed.map_or("absent".to_owned(), shown))
            };
            Some(FieldDrift::new(
                format!("{name}/{path}"),
                expected,
                observed,
            ))
        })
        .collect()
}

/// The live object a manifest describes, as JSON, or `None` when it is gone.
async fn live(client: &kube::Client, manifest: &Value) -> Result<Option<Value>, ComponentError> {
    let (group, version) = match manifest["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .split_once('/')
    {
        Some((group, version)) => (group, version),
        None => ("", manifest["apiVersion"].as_str().unwrap_or_default()),
    };
    let kind = manifest["kind"].as_str().unwrap_or_default();
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    let name = manifest["metadata"]["name"].as_str().unwrap_or_default();
    let api: Api<DynamicObject> = match manifest["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let found = api
        .get_opt(name)
        .await
        .map_err(|e| classify_kube(&format!("get {kind} {name}"), e))?;
    Ok(found.map(|object| serde_json::to_value(object).unwrap_or_default()))
}

impl ComponentHandler for Config {
    fn component(&self) -> Component {
        Component::Config
    }

    /// Every object `apply` writes: present, and each field Strata sets (labels, data, the
    /// IngressClass's controller) as the spec and the other components' outputs make it.
    async fn observe(&self, step: &Step<'_>) -> Result<Observed, ComponentError> {
        let env = step.environment;
        let client = ClusterAccess(self.aws.clone())
            .connect(&env.spec.region, &env.cluster_name())
            .await?
            .ok_or(ComponentError::DependencyNotReady {
                component: Component::Config,
                dependency: Component::Cluster,
            })?;
        let (mut missing, mut fields) = (Vec::new(), Vec::new());
        for manifest in self.manifests(step).await? {
            match live(&client, &manifest).await? {
                Some(object) => fields.extend(compare(&manifest, &object)),
                None => missing.push(format!(
                    "{} {}",
                    manifest["kind"].as_str().unwrap_or_default(),
                    manifest["metadata"]["name"].as_str().unwrap_or_default()
                )),
            }
        }
        Ok(Observed::from_findings(missing, fields))
    }

    async fn apply(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let env = step.environment;
        let cluster = env.cluster_name();
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
            .connect(&env.spec.region, &env.cluster_name())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_fields_strata_sets_are_compared_and_secret_values_never_shown() {
        let manifest = storage_config_map(
            "staging",
            &BTreeMap::from([("assets".into(), "strata-staging-assets".into())]),
        );
        // The live object: server-set metadata and a label someone else added do not count.
        let mut live = manifest.clone();
        live["metadata"]["resourceVersion"] = json!("9");
        live["metadata"]["labels"]["team"] = json!("shop");
        assert_eq!(compare(&manifest, &live), []);

        live["data"]["BUCKET_ASSETS"] = json!("someone-elses-bucket");
        live["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("app.kubernetes.io/managed-by");
        let found = compare(&manifest, &live);
        assert_eq!(
            found,
            [
                FieldDrift::new(
                    "ConfigMap staging/storage/data.BUCKET_ASSETS",
                    "strata-staging-assets",
                    "someone-elses-bucket"
                ),
                FieldDrift::new(
                    "ConfigMap staging/storage/metadata.labels.app.kubernetes.io/managed-by",
                    "strata",
                    "absent"
                ),
            ]
        );

        let secret = service_env_secret(
            "staging",
            "api",
            &BTreeMap::from([("API_KEY".into(), "s3cret-value".into())]),
        );
        let mut live = secret.clone();
        live["data"]["API_KEY"] = json!(strata_kubernetes::base64(b"changed-by-hand"));
        let found = compare(&secret, &live);
        assert_eq!(
            found,
            [FieldDrift::new(
                "Secret staging/api-env/data.API_KEY",
                "the value from its source",
                "another value"
            )]
        );
        let shown = serde_json::to_string(&found).unwrap();
        for value in ["s3cret", "changed-by-hand", "czNjcmV0"] {
            assert!(!shown.contains(value), "{shown}");
        }
    }

    #[test]
    fn a_cluster_wide_object_is_named_without_a_namespace() {
        let manifest = ingress_class("staging");
        let mut live = manifest.clone();
        live["spec"]["controller"] = json!("example.com/other");
        assert_eq!(
            compare(&manifest, &live),
            [FieldDrift::new(
                "IngressClass alb/spec.controller",
                "ingress.k8s.aws/alb",
                "example.com/other"
            )]
        );
    }
}
