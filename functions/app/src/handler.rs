//! The component handler: the cluster connection, and `observe`, `apply` and `destroy` over
//! every service of the spec.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams};
use strata_component::aws::classify;
use strata_component::clients::in_region;
use strata_component::{ComponentError, ComponentHandler, Progress, Step};
use strata_core::custom::read_output;
use strata_core::drift::{FieldDrift, Observed};
use strata_core::spec::{ServiceSpec, Strategy};
use strata_core::status::ComponentPhase;
use strata_core::{Component, Environment, Scope};
use strata_kubernetes::{ClusterAccess, classify_kube, delete, get, namespaced};

use crate::App;
use crate::live::{image_of, load_balancer_hostname};
use crate::manifests::{ENVIRONMENT_LABEL, Wiring, deployment_name};
use crate::rollout::{Rollout, Target};

impl App {
    async fn connect(&self, env: &Environment) -> Result<Option<kube::Client>, ComponentError> {
        ClusterAccess(self.aws.clone())
            .connect(&env.spec.region, &env.cluster_name())
            .await
    }

    pub(crate) async fn cluster(&self, env: &Environment) -> Result<kube::Client, ComponentError> {
        self.connect(env)
            .await?
            .ok_or(ComponentError::DependencyNotReady {
                component: Component::App,
                dependency: Component::Cluster,
            })
    }

    /// The zone of the load balancer behind `hostname`, for a Route 53 alias.
    async fn load_balancer_zone(
        &self,
        region: &str,
        hostname: &str,
    ) -> Result<Option<String>, ComponentError> {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&in_region(&self.aws, region));
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
            let target = Target {
                client: &client,
                env,
                service,
                tag: &tag,
                wiring,
            };
            match self.roll_out(target).await? {
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
