//! One step of a service's rollout: the tag it is to run, the migration gate, then the
//! Deployment (in the colour not serving, when blue-green) and the switch of its Service.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use strata_component::ComponentError;
use strata_core::spec::{ServiceSpec, Strategy};
use strata_core::versions::newest_satisfying;
use strata_core::{Awaited, Environment};
use strata_kubernetes::{apply, get, namespaced};
use strata_registry::{RegistryError, TagSource};

use crate::App;
use crate::colors::{COLORS, other_color};
use crate::live::{available, image_of, job_condition, load_balancer_hostname};
use crate::manifests::{
    COLOR_LABEL, Wiring, deployment, deployment_name, migration_job, migration_name, service,
};

/// One service's rollout towards `tag`: the cluster it runs on, its environment, and what
/// its workloads are wired to.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) client: &'a kube::Client,
    pub(crate) env: &'a Environment,
    pub(crate) service: &'a ServiceSpec,
    pub(crate) tag: &'a str,
    pub(crate) wiring: Wiring,
}

/// Where one service's rollout stands.
pub(crate) enum Rollout {
    /// Not serving yet; on what AWS is still doing, if that is the wait.
    Waiting(Option<Awaited>),
    Serving {
        color: Option<String>,
        previous: Option<String>,
    },
}

impl App {
    /// The tag service `index` runs: the newest in its repository within its constraint.
    pub(crate) async fn resolve_tag(
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

    /// The migration gate: `true` once the Job for the target's tag has succeeded.
    async fn migrated(
        &self,
        target: Target<'_>,
        serving: Option<&str>,
    ) -> Result<bool, ComponentError> {
        let (service, tag) = (target.service, target.tag);
        let ns = target.env.name();
        let Some(manifest) = migration_job(ns, service, tag, target.wiring) else {
            return Ok(true);
        };
        let jobs = namespaced::<Job>(target.client, ns);
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

    /// One step of one service's rollout towards its tag.
    pub(crate) async fn roll_out(&self, target: Target<'_>) -> Result<Rollout, ComponentError> {
        let Target {
            client,
            env,
            service,
            tag,
            wiring,
        } = target;
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
            && !self.migrated(target, serving_image.as_deref()).await?
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
}
