//! `strata local push|drift|figures`: what happens to an environment outside Strata, done
//! on the running local stack, and the figures of its executions. `scripts/demo` is a
//! script over these and the API's commands.
//!
//! - `push`: CI pushes the next patch of a service's image; EventBridge delivers ECR's push
//!   event to the sync function (the local stack stands in for the rule).
//! - `drift`: a person with console access scales the node group in EKS and a Deployment
//!   through the cluster's API (as `kubectl scale`, under another field manager).
//! - `figures`: states entered, Lambda invocations and wall time of the environment's last
//!   execution, from the local Step Functions history.

use hyper::Method;
use strata_api_types::EnvironmentView;
use strata_core::{Component, EnvironmentStatus};

use crate::client::ApiClient;
use crate::context::LocalContext;
use crate::exit;
use crate::local_control::{self, Control};

/// The running local stack and the API behind it.
struct Attached {
    context: LocalContext,
    client: ApiClient,
}

impl Attached {
    fn new() -> Result<Self, u8> {
        LocalContext::attach().map(|(context, client)| Self { context, client })
    }

    async fn view(&self, name: &str) -> Result<(EnvironmentView, EnvironmentStatus), String> {
        let mut view: EnvironmentView = self
            .client
            .send(Method::GET, &format!("/environments/{name}"), None)
            .await
            .and_then(|a| a.parse())
            .map_err(|e| e.to_string())?;
        let status = view
            .status
            .take()
            .ok_or_else(|| format!("{name} has no status yet: apply it first"))?;
        Ok((view, status))
    }

    async fn control(&self, control: &Control) -> Result<local_control::Done, String> {
        let url = self.context.control.as_deref().ok_or(
            "this local stack has no control port (started by an older strata): restart it",
        )?;
        local_control::send(url, control).await
    }
}

/// One output of a component, as the status recorded it.
fn output<'a>(status: &'a EnvironmentStatus, component: Component, key: &str) -> Option<&'a str> {
    status
        .components
        .get(&component)
        .and_then(|c| c.outputs.get(key))
        .map(String::as_str)
}

fn ended(result: Result<u8, String>) -> u8 {
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        exit::ERROR
    })
}

pub async fn push(name: &str, service: Option<&str>, tag: Option<&str>) -> u8 {
    match Attached::new() {
        Ok(stack) => ended(pushed(&stack, name, service, tag).await),
        Err(code) => code,
    }
}

/// The image of `service` (else the first whose image is in ECR) with `tag` (else the next
/// patch of the version the app serves), pushed and its event delivered.
async fn pushed(
    stack: &Attached,
    name: &str,
    service: Option<&str>,
    tag: Option<&str>,
) -> Result<u8, String> {
    let (view, status) = stack.view(name).await?;
    let services = &view.spec.spec.app.services;
    let chosen = services
        .iter()
        .filter(|s| s.ecr_repository().is_some())
        .find(|s| service.is_none_or(|wanted| s.name == wanted))
        .ok_or_else(|| match service {
            Some(wanted) => format!("{name} has no service {wanted} with its image in ECR"),
            None => format!("{name} has no service with its image in ECR"),
        })?;
    let (registry, region, repository) = chosen.ecr_repository().unwrap_or_default();
    let tag = match tag {
        Some(tag) => tag.to_owned(),
        None => {
            let serving = output(
                &status,
                Component::App,
                &format!("service.{}.version", chosen.name),
            )
            .and_then(|v| semver::Version::parse(v).ok())
            .ok_or_else(|| format!("the app's status names no version of {}", chosen.name))?;
            semver::Version::new(serving.major, serving.minor, serving.patch + 1).to_string()
        }
    };
    let done = stack
        .control(&Control::PushImage {
            registry: registry.to_owned(),
            region: region.to_owned(),
            repository: repository.to_owned(),
            tag: tag.clone(),
        })
        .await?;
    println!("pushed {repository}:{tag}; ECR's push event delivered");
    for (function, result) in &done.delivered {
        println!("  {function}: {result}");
    }
    if done.delivered.is_empty() {
        println!("  (no rule of the template matches it)");
    }
    Ok(exit::OK)
}

pub async fn drift(name: &str, nodes: Option<u32>, replicas: Option<u32>) -> u8 {
    match Attached::new() {
        Ok(stack) => ended(drifted(&stack, name, nodes, replicas).await),
        Err(code) => code,
    }
}

/// The node group scaled to `nodes` (else one more than the spec's), the first service's
/// serving Deployment to `replicas` (else three more than the spec's).
async fn drifted(
    stack: &Attached,
    name: &str,
    nodes: Option<u32>,
    replicas: Option<u32>,
) -> Result<u8, String> {
    let (view, status) = stack.view(name).await?;
    let spec = &view.spec.spec;
    let region = &spec.region;
    let ids = status
        .components
        .get(&Component::Cluster)
        .map(|c| &c.resource_ids);
    let id = |key: &str| ids.and_then(|ids| ids.get(key)).cloned();
    let (Some(cluster), Some(nodegroup)) = (id("clusterName"), id("nodegroupName")) else {
        return Err(format!("{name} has no cluster to drift"));
    };
    let desired = nodes.unwrap_or(spec.cluster.node_group.desired_size + 1);
    stack
        .control(&Control::ScaleNodeGroup {
            region: region.clone(),
            cluster: cluster.clone(),
            nodegroup: nodegroup.clone(),
            desired,
        })
        .await?;
    println!(
        "node group {nodegroup} scaled from {} to {desired} nodes",
        spec.cluster.node_group.desired_size
    );
    if let Some(service) = spec.app.services.first() {
        let color = output(
            &status,
            Component::App,
            &format!("service.{}.color", service.name),
        );
        let deployment = match color {
            Some(color) => format!("{}-{color}", service.name),
            None => service.name.clone(),
        };
        let replicas = replicas.unwrap_or(service.replicas + 3);
        stack
            .control(&Control::ScaleDeployment {
                region: region.clone(),
                cluster,
                namespace: name.to_owned(),
                name: deployment.clone(),
                replicas,
            })
            .await?;
        println!(
            "Deployment {name}/{deployment} scaled from {} to {replicas} replicas",
            service.replicas
        );
    }
    Ok(exit::OK)
}

pub async fn figures(name: &str) -> u8 {
    match Attached::new() {
        Ok(stack) => ended(counted(&stack, name).await),
        Err(code) => code,
    }
}

/// The figures of the execution the status names last.
async fn counted(stack: &Attached, name: &str) -> Result<u8, String> {
    use aws_sdk_sfn::error::DisplayErrorContext;
    let (_, status) = stack.view(name).await?;
    let execution = status
        .operation
        .as_ref()
        .map(|o| o.execution.clone())
        .ok_or_else(|| format!("{name} has run no operation"))?;
    let config = stack.context.aws_config();
    let sfn = aws_sdk_sfn::Client::new(&config);
    let machines = sfn
        .list_state_machines()
        .send()
        .await
        .map_err(|e| DisplayErrorContext(&e).to_string())?;
    for machine in machines.state_machines() {
        let arn = format!(
            "{}:{execution}",
            machine
                .state_machine_arn()
                .replacen(":stateMachine:", ":execution:", 1)
        );
        let Ok(described) = sfn.describe_execution().execution_arn(&arn).send().await else {
            continue;
        };
        let history = sfn
            .get_execution_history()
            .execution_arn(&arn)
            .send()
            .await
            .map_err(|e| DisplayErrorContext(&e).to_string())?;
        let (states, invocations) =
            strata_localstack::bench::states_and_invocations(history.events());
        let seconds = described
            .stop_date()
            .map(|stop| stop.as_secs_f64() - described.start_date().as_secs_f64());
        let wall = seconds.map_or_else(|| "still running".to_owned(), |s| format!("{s:.1} s"));
        println!(
            "{execution} ({}): {states} states entered, {invocations} Lambda invocations, {wall} wall time",
            machine.name()
        );
        return Ok(exit::OK);
    }
    Err(format!("no state machine knows the execution {execution}"))
}
