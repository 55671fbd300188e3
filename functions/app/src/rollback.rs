//! Rollback of blue-green services: each Service switched back to the colour that still
//! runs the previous version, all or none.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use strata_component::{ComponentError, Progress, Step};
use strata_core::Environment;
use strata_core::spec::ServiceSpec;
use strata_core::status::ComponentPhase;
use strata_kubernetes::{apply, get, namespaced};

use crate::App;
use crate::colors::{blue_green, other_color};
use crate::live::{available, image_of};
use crate::manifests::{COLOR_LABEL, deployment_name, service};

impl App {
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

    /// The `rollback` scope's step: every blue-green service back to the colour the last
    /// step recorded as previous (not the live one's other: a retried step must not switch
    /// forward again). The outputs are the recorded ones with colours and versions swapped.
    pub(crate) async fn roll_back(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
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
