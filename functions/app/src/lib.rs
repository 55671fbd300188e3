//! The app component: each service of the spec as a Deployment and a Service in the
//! environment's namespace, written by server-side apply as `strata`.
//!
//! - The image tag is the newest in the service's repository that satisfies its `version`
//!   constraint: ECR or any OCI registry (`strata-registry`, the same listing sync uses).
//! - A service with `migrate` runs it as a Job with the new image before the new version
//!   serves; a failed Job stops the rollout (`MigrationFailed`, with the Job's reason) and
//!   the version already serving keeps serving.
//! - `rolling`: one Deployment `<service>`, the Deployment's own rolling update.
//! - `blueGreen`: Deployments `<service>-blue` and `<service>-green`; the new version comes
//!   up in the colour not serving, and once it is available the Service's selector switches
//!   to it. The old colour stays scaled, so [`App::rollback`] is instant, until the next
//!   deploy replaces it.
//! - The public service is a `LoadBalancer`; its hostname and zone are the outputs the dns
//!   component points the environment's name at.
//!
//! Private services get the database Secret; every service gets the bucket names.
//! `destroy` deletes the public Services first (so their load balancers are released while
//! the VPC still stands), then the other Services, the Deployments and the Jobs, and waits
//! until no pod of the environment remains.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use strata_component::aws::classify;
use strata_component::{ComponentError, ComponentHandler, Progress, Step};
use strata_core::custom::read_output;
use strata_core::drift::{FieldDrift, Observed};
use strata_core::spec::{ServiceSpec, Strategy};
use strata_core::status::ComponentPhase;
use strata_core::versions::newest_satisfying;
use strata_core::{Awaited, Component, Environment, Scope};
use strata_kubernetes::{ClusterAccess, apply, classify_kube, delete, get, namespaced};
use strata_registry::{Registries, RegistryError, TagSource};

/// The label every workload of a service carries; Services select on it.
pub const SERVICE_LABEL: &str = "app.kubernetes.io/name";
/// The colour of a blue-green Deployment; the Service selects the serving one.
pub const COLOR_LABEL: &str = "strata.dev/color";
pub const ENVIRONMENT_LABEL: &str = "strata.dev/environment";
/// The port the public load balancer listens on.
pub const PUBLIC_PORT: u16 = 80;

const COLORS: [&str; 2] = ["blue", "green"];

fn other_color(color: &str) -> &'static str {
    if color == COLORS[0] {
        COLORS[1]
    } else {
        COLORS[0]
    }
}

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

/// Where one service's rollout stands.
enum Rollout {
    /// Not serving yet; on what AWS is still doing, if that is the wait.
    Waiting(Option<Awaited>),
    Serving {
        color: Option<String>,
        previous: Option<String>,
    },
}

fn image_of(deployment: &Deployment) -> Option<&str> {
    deployment
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .first()?
        .image
        .as_deref()
}

/// Whether every replica of the Deployment's current spec is available.
fn available(deployment: &Deployment) -> bool {
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let generation = deployment.metadata.generation.unwrap_or(0);
    deployment.status.as_ref().is_some_and(|s| {
        s.observed_generation.unwrap_or(0) >= generation
            && s.updated_replicas.unwrap_or(0) >= wanted
            && s.available_replicas.unwrap_or(0) >= wanted
    })
}

fn job_condition<'a>(
    job: &'a Job,
    kind: &str,
) -> Option<&'a k8s_openapi::api::batch::v1::JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind && c.status == "True")
}

fn load_balancer_hostname(service: &Service) -> Option<String> {
    service
        .status
        .as_ref()?
        .load_balancer
        .as_ref()?
        .ingress
        .as_ref()?
        .first()?
        .hostname
        .clone()
}

/// The app handler: EKS for the cluster, the image's registry for its tags, ELBv2 for the
/// load balancer's zone.
pub struct App {
    aws: aws_config::SdkConfig,
    registries: Registries,
}

impl App {
    pub fn new(aws: aws_config::SdkConfig) -> Self {
        Self {
            registries: Registries::new(aws.clone()),
            aws,
        }
    }

    fn regional(&self, region: &str) -> aws_config::SdkConfig {
        self.aws
            .to_builder()
            .region(aws_config::Region::new(region.to_owned()))
            .build()
    }

    async fn connect(&self, env: &Environment) -> Result<Option<kube::Client>, ComponentError> {
        ClusterAccess(self.aws.clone())
            .connect(&env.spec.region, &env.cluster_name())
            .await
    }

    /// The tag service `index` runs: the newest in its repository within its constraint.
    async fn resolve_tag(
        &self,
        index: usize,
        service: &ServiceSpec,
    ) -> Result<String, ComponentError> {
        let field = format!("spec.app.services[{index}]");
        let tags = self
            .registries
            .tags(&service.image)
            .await
            .map_err(|e| match e {
                RegistryError::NotFound(m) | RegistryError::Rejected(m) => {
                    ComponentError::ImageNotFound(format!("{field}.image: {m}"))
                }
                RegistryError::Unavailable(m) => ComponentError::AwsTransient(m),
            })?;
        newest_satisfying(&service.version, tags.iter().map(String::as_str))
            .map(str::to_owned)
            .ok_or_else(|| {
                ComponentError::ImageNotFound(format!(
                    "{field}.version: no tag of {} satisfies {} (tags: {})",
                    service.image,
                    service.version,
                    if tags.is_empty() {
                        "none".into()
                    } else {
                        tags.join(", ")
                    }
                ))
            })
    }

    /// The migration gate: `true` once the Job for `tag` has succeeded.
    async fn migrated(
        &self,
        client: &kube::Client,
        env: &Environment,
        service: &ServiceSpec,
        tag: &str,
        wiring: Wiring,
        serving: Option<&str>,
    ) -> Result<bool, ComponentError> {
        let Some(manifest) = migration_job(env.name(), service, tag, wiring) else {
            return Ok(true);
        };
        let jobs = namespaced::<Job>(client, env.name());
        let name = migration_name(service, tag);
        let job = match get(&jobs, &name).await? {
            Some(job) => job,
            // A Job's template cannot change: it is created once per version.
            None => apply(&jobs, &name, &manifest).await?,
        };
        if let Some(failed) = job_condition(&job, "Failed") {
            return Err(ComponentError::MigrationFailed(format!(
                "migration {name} of service {} to {tag} failed: {}: {}; {} keeps serving",
                service.name,
                failed.reason.as_deref().unwrap_or("Failed"),
                failed.message.as_deref().unwrap_or("no message"),
                serving.unwrap_or("nothing"),
            )));
        }
        Ok(job_condition(&job, "Complete").is_some())
    }

    /// One step of one service's rollout towards `tag`.
    async fn roll_out(
        &self,
        client: &kube::Client,
        env: &Environment,
        service: &ServiceSpec,
        tag: &str,
        wiring: Wiring,
    ) -> Result<Rollout, ComponentError> {
        let ns = env.name();
        let deployments = namespaced::<Deployment>(client, ns);
        let services = namespaced::<Service>(client, ns);
        let image = format!("{}:{tag}", service.image);
        let live_service = get(&services, &service.name).await?;
        let (color, previous) = match service.strategy {
            Strategy::Rolling => (None, None),
            Strategy::BlueGreen => {
                let active = live_service.as_ref().and_then(|s| {
                    s.spec
                        .as_ref()?
                        .selector
                        .as_ref()?
                        .get(COLOR_LABEL)
                        .cloned()
                });
                let active_image = match &active {
                    Some(color) => get(&deployments, &deployment_name(service, Some(color)))
                        .await?
                        .and_then(|d| image_of(&d).map(str::to_owned)),
                    None => None,
                };
                match active {
                    Some(active) if active_image.as_deref() == Some(image.as_str()) => {
                        (Some(active.clone()), Some(other_color(&active).to_owned()))
                    }
                    Some(active) => (Some(other_color(&active).to_owned()), Some(active)),
                    None => (Some(COLORS[0].to_owned()), None),
                }
            }
        };
        let name = deployment_name(service, color.as_deref());
        let live = get(&deployments, &name).await?;
        // The previous colour's Deployment: what serves until the switch (read once; this
        // step never writes it).
        let previous_deployment = match &previous {
            Some(p) => get(&deployments, &deployment_name(service, Some(p))).await?,
            None => None,
        };
        let serving_image = match service.strategy {
            Strategy::Rolling => live.as_ref().and_then(image_of).map(str::to_owned),
            Strategy::BlueGreen => previous_deployment
                .as_ref()
                .and_then(image_of)
                .map(str::to_owned),
        };
        let live_image = live.as_ref().and_then(image_of);
        if live_image != Some(image.as_str())
            && !self
                .migrated(client, env, service, tag, wiring, serving_image.as_deref())
                .await?
        {
            return Ok(Rollout::Waiting(None));
        }
        let applied = apply(
            &deployments,
            &name,
            &deployment(ns, service, color.as_deref(), tag, wiring),
        )
        .await?;
        // Read back: availability is what the controller reports, not what was written.
        let current = get(&deployments, &name).await?.unwrap_or(applied);
        if !available(&current) {
            return Ok(Rollout::Waiting(None));
        }
        let live_service = apply(
            &services,
            &service.name,
            &self::service(ns, service, color.as_deref()),
        )
        .await?;
        if service.public && load_balancer_hostname(&live_service).is_none() {
            return Ok(Rollout::Waiting(Some(Awaited::LoadBalancerCreate)));
        }
        // The previous colour counts only if it exists.
        let previous = previous.filter(|_| previous_deployment.is_some());
        Ok(Rollout::Serving { color, previous })
    }

    /// The zone of the load balancer behind `hostname`, for a Route 53 alias.
    async fn load_balancer_zone(
        &self,
        region: &str,
        hostname: &str,
    ) -> Result<Option<String>, ComponentError> {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&self.regional(region));
        let mut pages = elb.describe_load_balancers().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("DescribeLoadBalancers", e))?;
            if let Some(lb) = page.load_balancers().iter().find(|lb| {
                lb.dns_name()
                    .is_some_and(|d| d.eq_ignore_ascii_case(hostname))
            }) {
                return Ok(lb.canonical_hosted_zone_id().map(str::to_owned));
            }
        }
        Ok(None)
    }

    /// Switches every blue-green service back to its previous colour, which is still
    /// scaled, as the live Services say it; answers the colour each now serves from.
    pub async fn rollback(
        &self,
        env: &Environment,
    ) -> Result<BTreeMap<String, String>, ComponentError> {
        let client = self.cluster(env).await?;
        let services = namespaced::<Service>(&client, env.name());
        let mut targets = BTreeMap::new();
        for service in blue_green(env) {
            let active = get(&services, &service.name)
                .await?
                .and_then(|s| s.spec?.selector?.get(COLOR_LABEL).cloned())
                .ok_or_else(|| {
                    ComponentError::InvalidInput(format!("service {} is not serving", service.name))
                })?;
            targets.insert(service.name.clone(), other_color(&active).to_owned());
        }
        self.switch_to(&client, env, &targets).await?;
        Ok(targets)
    }

    /// Points each named blue-green service at the given colour. Every target must be
    /// available before any Service changes: all switch, or none. Switching to the colour
    /// already serving changes nothing, so a retried step converges.
    async fn switch_to(
        &self,
        client: &kube::Client,
        env: &Environment,
        targets: &BTreeMap<String, String>,
    ) -> Result<(), ComponentError> {
        let ns = env.name();
        let deployments = namespaced::<Deployment>(client, ns);
        let services = namespaced::<Service>(client, ns);
        let mut switches = Vec::new();
        for service in blue_green(env) {
            let Some(target) = targets.get(&service.name) else {
                continue;
            };
            let ready = get(&deployments, &deployment_name(service, Some(target)))
                .await?
                .is_some_and(|d| available(&d));
            if !ready {
                return Err(ComponentError::InvalidInput(format!(
                    "service {} has no available previous colour ({target}) to roll back to",
                    service.name
                )));
            }
            switches.push((service, target.as_str()));
        }
        for (service, target) in switches {
            apply(
                &services,
                &service.name,
                &self::service(ns, service, Some(target)),
            )
            .await?;
        }
        Ok(())
    }

    async fn cluster(&self, env: &Environment) -> Result<kube::Client, ComponentError> {
        self.connect(env)
            .await?
            .ok_or(ComponentError::DependencyNotReady {
                component: Component::App,
                dependency: Component::Cluster,
            })
    }

    /// The `rollback` scope's step: every blue-green service back to the colour the last
    /// step recorded as previous (not the live one's other: a retried step must not switch
    /// forward again). The outputs are the recorded ones with colours and versions swapped.
    async fn roll_back(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let env = step.environment;
        let client = self.cluster(env).await?;
        let recorded = step.previous.map(|p| p.outputs.clone()).unwrap_or_default();
        let key = |service: &ServiceSpec, what: &str| format!("service.{}.{what}", service.name);
        let mut targets = BTreeMap::new();
        for service in blue_green(env) {
            let target = recorded
                .get(&key(service, "previousColor"))
                .ok_or_else(|| {
                    ComponentError::InvalidInput(format!(
                        "service {} has no previous colour to roll back to (one deploy so far)",
                        service.name
                    ))
                })?;
            targets.insert(service.name.clone(), target.clone());
        }
        if targets.is_empty() {
            return Err(ComponentError::InvalidInput(
                "no service is blueGreen: there is nothing to roll back to".into(),
            ));
        }
        self.switch_to(&client, env, &targets).await?;
        let deployments = namespaced::<Deployment>(&client, env.name());
        let mut progress = Progress::finished(ComponentPhase::Ready);
        progress.outputs = recorded;
        for service in blue_green(env) {
            let target = &targets[&service.name];
            let serving = get(&deployments, &deployment_name(service, Some(target))).await?;
            let image = serving.as_ref().and_then(image_of);
            if let Some(tag) = image.and_then(|i| i.rsplit_once(':')).map(|(_, t)| t) {
                progress
                    .outputs
                    .insert(key(service, "version"), tag.to_owned());
            }
            progress
                .outputs
                .insert(key(service, "color"), target.clone());
            progress.outputs.insert(
                key(service, "previousColor"),
                other_color(target).to_owned(),
            );
        }
        Ok(progress)
    }
}

/// The service with each variable that reads another component's output set to its value,
/// from the statuses of the components the app depends on.
pub fn with_outputs(
    index: usize,
    service: &ServiceSpec,
    statuses: &BTreeMap<Component, strata_core::ComponentStatus>,
) -> Result<ServiceSpec, ComponentError> {
    let mut service = service.clone();
    for (j, var) in service.env.iter_mut().enumerate() {
        let Some(reference) = var.from_output.take() else {
            continue;
        };
        let value = read_output(&reference, statuses).map_err(|why| {
            ComponentError::InvalidInput(format!(
                "spec.app.services[{index}].env[{j}].fromOutput: {why}"
            ))
        })?;
        var.value = Some(value);
    }
    Ok(service)
}

fn blue_green(env: &Environment) -> impl Iterator<Item = &ServiceSpec> {
    env.spec
        .app
        .services
        .iter()
        .filter(|s| s.strategy == Strategy::BlueGreen)
}

impl ComponentHandler for App {
    fn component(&self) -> Component {
        Component::App
    }

    /// Each service's serving Deployment: present, its replicas, and its image at the
    /// version the last step recorded.
    async fn observe(&self, step: &Step<'_>) -> Result<Observed, ComponentError> {
        let env = step.environment;
        let client = self.cluster(env).await?;
        let recorded = step.previous.map(|p| p.outputs.clone()).unwrap_or_default();
        let deployments = namespaced::<Deployment>(&client, env.name());
        let (mut missing, mut fields) = (Vec::new(), Vec::new());
        for service in &env.spec.app.services {
            let key = |what: &str| format!("service.{}.{what}", service.name);
            let color = match service.strategy {
                Strategy::BlueGreen => recorded.get(&key("color")).map(String::as_str),
                Strategy::Rolling => None,
            };
            let name = deployment_name(service, color);
            let Some(deployment) = get(&deployments, &name).await? else {
                missing.push(format!("Deployment {}/{name}", env.name()));
                continue;
            };
            let path = |field: &str| format!("Deployment {}/{name}/{field}", env.name());
            let replicas = deployment.spec.as_ref().and_then(|s| s.replicas);
            if replicas != Some(service.replicas as i32) {
                fields.push(FieldDrift::new(
                    path("spec.replicas"),
                    service.replicas,
                    replicas.map_or("unset".to_owned(), |r| r.to_string()),
                ));
            }
            if let Some(version) = recorded.get(&key("version")) {
                let expected = format!("{}:{version}", service.image);
                let observed = image_of(&deployment).unwrap_or("none");
                if observed != expected {
                    fields.push(FieldDrift::new(
                        path("spec.template.spec.containers[0].image"),
                        expected,
                        observed,
                    ));
                }
            }
        }
        Ok(Observed::from_findings(missing, fields))
    }

    async fn apply(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        if step.context.scope == Scope::Rollback {
            return self.roll_back(step).await;
        }
        let env = step.environment;
        let client = self.cluster(env).await?;
        let wiring = Wiring {
            database: env.spec.database.is_some(),
            storage: env.spec.storage.is_some(),
        };
        let mut progress = Progress::finished(ComponentPhase::Ready);
        progress
            .outputs
            .insert("namespace".into(), env.name().to_owned());
        for (index, service) in env.spec.app.services.iter().enumerate() {
            let service = &with_outputs(index, service, step.dependencies)?;
            let tag = self.resolve_tag(index, service).await?;
            let key = |what: &str| format!("service.{}.{what}", service.name);
            progress.outputs.insert(key("version"), tag.clone());
            match self.roll_out(&client, env, service, &tag, wiring).await? {
                Rollout::Waiting(on) => {
                    progress.done = false;
                    progress.phase = Some(ComponentPhase::Updating);
                    progress.awaiting = progress.awaiting.or(on);
                }
                Rollout::Serving { color, previous } => {
                    if let Some(color) = color {
                        progress.outputs.insert(key("color"), color);
                    }
                    if let Some(previous) = previous {
                        progress.outputs.insert(key("previousColor"), previous);
                    }
                }
            }
        }
        if !progress.done {
            return Ok(progress);
        }
        if let Some(public) = env.spec.app.services.iter().find(|s| s.public) {
            let services = namespaced::<Service>(&client, env.name());
            let hostname = get(&services, &public.name)
                .await?
                .as_ref()
                .and_then(load_balancer_hostname);
            if let Some(hostname) = hostname {
                if let Some(zone) = self.load_balancer_zone(&env.spec.region, &hostname).await? {
                    progress.outputs.insert("loadBalancerZoneId".into(), zone);
                }
                progress
                    .outputs
                    .insert("ingressUrl".into(), format!("http://{hostname}"));
                progress
                    .outputs
                    .insert("loadBalancerHostname".into(), hostname);
            }
        }
        Ok(progress)
    }

    async fn destroy(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let env = step.environment;
        let Some(client) = self.connect(env).await? else {
            return Ok(Progress::finished(ComponentPhase::Deleted));
        };
        let ns = env.name();
        let selector = ListParams::default().labels(&format!("{ENVIRONMENT_LABEL}={ns}"));
        let services = namespaced::<Service>(&client, ns);
        let listed = services
            .list(&selector)
            .await
            .map_err(|e| classify_kube("list Services", e))?;
        // Public Services first: their load balancers must go while the VPC still stands.
        let (public, private): (Vec<_>, Vec<_>) = listed.items.iter().partition(|s| {
            s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
        });
        for service in public.iter().chain(private.iter()) {
            let name = service.metadata.name.as_deref().unwrap_or_default();
            delete(&services, name).await?;
        }
        if !public.is_empty() {
            // The load balancer controller's finalizer holds the Service until its load
            // balancer is gone; the next poll checks.
            return Ok(Progress::waiting(ComponentPhase::Deleting));
        }
        delete_all::<Deployment>(&client, ns, &selector).await?;
        delete_all::<Job>(&client, ns, &selector).await?;
        let pods = namespaced::<Pod>(&client, ns)
            .list(&selector)
            .await
            .map_err(|e| classify_kube("list Pods", e))?;
        if pods.items.is_empty() {
            Ok(Progress::finished(ComponentPhase::Deleted))
        } else {
            Ok(Progress::waiting(ComponentPhase::Deleting))
        }
    }
}

async fn delete_all<K>(
    client: &kube::Client,
    ns: &str,
    selector: &ListParams,
) -> Result<(), ComponentError>
where
    K: strata_kubernetes::Object + kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
{
    let api: Api<K> = namespaced(client, ns);
    let listed = api
        .list(selector)
        .await
        .map_err(|e| classify_kube(&format!("list {}", K::kind(&())), e))?;
    for item in listed.items {
        if let Some(name) = item.meta().name.as_deref() {
            delete(&api, name).await?;
        }
    }
    Ok(())
}
