//! The manifests of a service: its Deployment (per colour when blue-green), its Service and
//! its migration Job, as JSON for server-side apply. Pure: no cluster is read here.

use serde_json::{Value, json};
use strata_core::spec::{ServiceSpec, Strategy};

/// The label every workload of a service carries; Services select on it.
pub const SERVICE_LABEL: &str = "app.kubernetes.io/name";
/// The colour of a blue-green Deployment; the Service selects the serving one.
pub const COLOR_LABEL: &str = "strata.dev/color";
pub const ENVIRONMENT_LABEL: &str = "strata.dev/environment";
/// The port the public load balancer listens on.
pub const PUBLIC_PORT: u16 = 80;

/// What a service's workloads see of the rest of the environment.
#[derive(Debug, Clone, Copy)]
pub struct Wiring {
    pub database: bool,
    pub storage: bool,
}

fn labels(environment: &str, service: &str, color: Option<&str>, tag: Option<&str>) -> Value {
    let mut labels = json!({
        "app.kubernetes.io/managed-by": "strata",
        ENVIRONMENT_LABEL: environment,
        SERVICE_LABEL: service,
    });
    if let Some(color) = color {
        labels[COLOR_LABEL] = json!(color);
    }
    if let Some(tag) = tag {
        labels["app.kubernetes.io/version"] = json!(tag);
    }
    labels
}

/// The container of a service (or of its migration), with its variables.
fn container(
    service: &ServiceSpec,
    tag: &str,
    wiring: Wiring,
    command: Option<&[String]>,
) -> Value {
    let env: Vec<Value> = service
        .env
        .iter()
        .map(|var| match &var.value {
            Some(value) => json!({"name": var.name, "value": value}),
            None => json!({"name": var.name, "valueFrom": {"secretKeyRef": {
                "name": format!("{}-env", service.name), "key": var.name,
            }}}),
        })
        .collect();
    let mut env_from = Vec::new();
    if wiring.storage {
        env_from.push(json!({"configMapRef": {"name": "storage"}}));
    }
    // The public tier never sees the database's credentials.
    if wiring.database && !service.public {
        env_from.push(json!({"secretRef": {"name": "database"}}));
    }
    let mut container = json!({
        "name": service.name,
        "image": format!("{}:{tag}", service.image),
        "env": env,
        "envFrom": env_from,
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "512Mi"},
        },
    });
    match command {
        Some(command) => container["command"] = json!(command),
        None => {
            container["ports"] = json!([{"name": "http", "containerPort": service.port}]);
            // The spec names no health path: an open port is the signal.
            container["readinessProbe"] =
                json!({"tcpSocket": {"port": "http"}, "periodSeconds": 5});
            container["livenessProbe"] = json!({
                "tcpSocket": {"port": "http"}, "initialDelaySeconds": 15, "periodSeconds": 10,
            });
        }
    }
    container
}

/// The Deployment `name` of a service, at `tag`, in `color` when blue-green.
pub fn deployment(
    environment: &str,
    service: &ServiceSpec,
    color: Option<&str>,
    tag: &str,
    wiring: Wiring,
) -> Value {
    let name = deployment_name(service, color);
    let selector = labels(environment, &service.name, color, None);
    let strategy = match service.strategy {
        Strategy::Rolling => {
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
        }
        // The colour's own pods are replaced in one go: nothing routes to them yet.
        Strategy::BlueGreen => json!({"type": "Recreate"}),
    };
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": environment, "labels": labels(environment, &service.name, color, Some(tag))},
        "spec": {
            "replicas": service.replicas,
            "selector": {"matchLabels": selector},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": labels(environment, &service.name, color, Some(tag))},
                "spec": {
                    "serviceAccountName": service.name,
                    "containers": [container(service, tag, wiring, None)],
                },
            },
        },
    })
}

pub fn deployment_name(service: &ServiceSpec, color: Option<&str>) -> String {
    match color {
        Some(color) => format!("{}-{color}", service.name),
        None => service.name.clone(),
    }
}

/// The Service of a service: a `LoadBalancer` on port 80 when public.
pub fn service(environment: &str, service: &ServiceSpec, color: Option<&str>) -> Value {
    let mut selector = json!({SERVICE_LABEL: service.name});
    if let Some(color) = color {
        selector[COLOR_LABEL] = json!(color);
    }
    let mut manifest = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": service.name, "namespace": environment, "labels": labels(environment, &service.name, None, None)},
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": service.port, "targetPort": "http", "protocol": "TCP"}],
        },
    });
    if service.public {
        manifest["metadata"]["annotations"] = json!({
            "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
        });
        manifest["spec"]["type"] = json!("LoadBalancer");
        manifest["spec"]["ports"][0]["port"] = json!(PUBLIC_PORT);
    }
    manifest
}

/// `<service>-migrate-<tag>`, as a Kubernetes name.
pub fn migration_name(service: &ServiceSpec, tag: &str) -> String {
    let tag: String = tag
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = format!("{}-migrate-{tag}", service.name);
    name.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

/// The Job that runs a service's `migrate` command with the image about to serve.
pub fn migration_job(
    environment: &str,
    service: &ServiceSpec,
    tag: &str,
    wiring: Wiring,
) -> Option<Value> {
    let command = service.migrate.as_deref()?;
    let mut migrate = container(service, tag, wiring, Some(command));
    migrate["name"] = json!("migrate");
    Some(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": migration_name(service, tag), "namespace": environment, "labels": labels(environment, &service.name, None, Some(tag))},
        "spec": {
            "backoffLimit": 1,
            "activeDeadlineSeconds": 1800,
            "template": {
                "metadata": {"labels": labels(environment, &service.name, None, Some(tag))},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": service.name,
                    "containers": [migrate],
                },
            },
        },
    }))
}
