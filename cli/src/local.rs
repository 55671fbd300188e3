//! `strata local up`: the main job on the local stack. The spec goes through the API
//! function's URL (cargo-lambda serves it) exactly as it would through API Gateway; the
//! state machine it starts runs in moto with the real Lambda binaries.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sfn::types::HistoryEventType;
use hyper::Method;
use strata_contract::{EnvironmentView, HistoryPage};
use strata_core::spec::{DriftPolicy, ImagePolicy};
use strata_core::{Component, EnvironmentStatus};
use strata_localstack::{LocalStack, Options};

use crate::client::ApiClient;
use crate::commands::{self, Started};
use crate::{exit, show};

/// Long enough for the slowest local `up` many times over; the local stack polls each second.
const TIMEOUT: Duration = Duration::from_secs(1800);

pub async fn up(file: &Path, then_sync: bool, then_down: bool) -> u8 {
    let spec = match commands::load(file) {
        Ok(spec) => spec,
        Err(code) => return code,
    };
    eprintln!("starting the local stack (moto, router, cargo lambda watch)...");
    let stack = match LocalStack::start(Options::default()).await {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("the local stack did not start: {e}");
            return exit::ERROR;
        }
    };
    eprintln!(
        "local stack at {} (logs: {})",
        stack.endpoint(),
        stack.logs().display()
    );
    match stack.stand_in_for(&spec.environment).await {
        Ok(made) => {
            for what in made {
                eprintln!("stand-in: {what} (on AWS it exists before Strata runs)");
            }
        }
        Err(e) => {
            eprintln!(
                "the local stack could not stand in for the spec's images, secrets or zone: {e}"
            );
            return exit::ERROR;
        }
    }
    let Some(url) = stack.function_url("ApiFunction") else {
        eprintln!("the template has no ApiFunction");
        return exit::ERROR;
    };
    let config = stack.sdk_config();
    let client = match ApiClient::new(Some(url), &config) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ERROR;
        }
    };
    println!("API (the api function's URL): {}", client.endpoint());
    let sfn = aws_sdk_sfn::Client::new(&config);
    let name = spec.environment.name().to_owned();

    println!("\n$ strata apply -f {} --wait", file.display());
    let mut code = match commands::put_spec(&client, &spec, &[]).await {
        Ok(started) => run(&client, &sfn, &started, "Ready").await,
        Err(e) => {
            eprintln!("error: {e}");
            exit::ERROR
        }
    };
    if code == exit::OK && then_sync {
        let demo = SyncDemo {
            stack: &stack,
            client: &client,
            sfn: &sfn,
            env: &spec.environment,
        };
        code = demo.run().await;
    }
    if code != exit::OK || !then_down {
        return code;
    }
    println!("\n$ strata delete {name} --wait");
    match commands::request_delete(&client, &name).await {
        Ok(started) => run(&client, &sfn, &started, "Deleted").await,
        Err(e) => {
            eprintln!("error: {e}");
            exit::ERROR
        }
    }
}

/// The scheduled sync's work, shown on the local stack: a pushed image rolled out, drift
/// made behind Strata's back found and repaired.
struct SyncDemo<'a> {
    stack: &'a LocalStack,
    client: &'a ApiClient,
    sfn: &'a aws_sdk_sfn::Client,
    env: &'a strata_core::Environment,
}

impl SyncDemo<'_> {
    async fn run(&self) -> u8 {
        match self.image_pushed().await {
            Ok(exit::OK) => {}
            Ok(code) => return code,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::ERROR;
            }
        }
        match self.drift_repaired().await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                exit::ERROR
            }
        }
    }

    fn name(&self) -> &str {
        self.env.name()
    }

    async fn status(&self) -> Result<EnvironmentStatus, String> {
        let view: EnvironmentView = self
            .client
            .send(Method::GET, &format!("/environments/{}", self.name()), None)
            .await
            .and_then(|a| a.parse())
            .map_err(|e| e.to_string())?;
        view.status
            .ok_or_else(|| format!("{} has no status yet", self.name()))
    }

    /// One output of a component, as the status recorded it.
    fn output<'a>(
        status: &'a EnvironmentStatus,
        component: Component,
        key: &str,
    ) -> Option<&'a str> {
        status
            .components
            .get(&component)
            .and_then(|c| c.outputs.get(key))
            .map(String::as_str)
    }

    /// CI pushes the next patch of the first ECR service; EventBridge delivers the push to
    /// the sync function, which rolls it out under `sync.images: deploy`.
    async fn image_pushed(&self) -> Result<u8, String> {
        let Some(service) = self
            .env
            .spec
            .app
            .services
            .iter()
            .find(|s| s.ecr_repository().is_some())
        else {
            println!("\n(no service image in ECR: no push to show)");
            return Ok(exit::OK);
        };
        let (_, region, repository) = service.ecr_repository().unwrap_or_default();
        let status = self.status().await?;
        let serving = Self::output(
            &status,
            Component::App,
            &format!("service.{}.version", service.name),
        )
        .and_then(|v| semver::Version::parse(v).ok())
        .ok_or_else(|| format!("the app's status names no version of {}", service.name))?;
        let next = semver::Version::new(serving.major, serving.minor, serving.patch + 1);
        println!(
            "\n$ # CI pushes {repository}:{next}; EventBridge delivers the ECR push to the sync function"
        );
        self.stack
            .push_image(region, repository, &next.to_string())
            .await
            .map_err(|e| e.to_string())?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let delivered = self
            .stack
            .deliver_ecr_push(region, repository, &next.to_string(), &show::utc(now))
            .await
            .map_err(|e| e.to_string())?;
        for (function, report) in &delivered {
            println!("{function}: {report}");
        }
        // The sync's own event names the rollout it started (the rollout's events may
        // already be newer).
        let history: HistoryPage = self
            .client
            .send(
                Method::GET,
                &format!("/environments/{}/history?limit=5", self.name()),
                None,
            )
            .await
            .and_then(|a| a.parse())
            .map_err(|e| e.to_string())?;
        let Some(rollout) = history
            .items
            .iter()
            .filter_map(|item| item.execution.as_deref())
            .find(|e| e.starts_with("images-"))
        else {
            return Ok(match self.env.spec.sync.images {
                ImagePolicy::Deploy => {
                    eprintln!("error: the push of {repository}:{next} started no rollout");
                    exit::FAILED
                }
                ImagePolicy::Report => {
                    println!("(sync.images: report: the update is recorded, not rolled out)");
                    exit::OK
                }
            });
        };
        println!("\n$ strata watch {}", self.name());
        Ok(run(self.client, self.sfn, &self.started(rollout), "Ready").await)
    }

    /// Drift behind Strata's back: the node group scaled and a Deployment's replicas
    /// changed; `strata sync` reports each by its path and, under `sync.drift: repair`, the
    /// `up` it starts puts them back; the next sync finds nothing.
    async fn drift_repaired(&self) -> Result<u8, String> {
        let status = self.status().await?;
        let region = &self.env.spec.region;
        let ids = status
            .components
            .get(&Component::Cluster)
            .map(|c| &c.resource_ids);
        let id = |key: &str| ids.and_then(|ids| ids.get(key)).map(String::as_str);
        let (Some(cluster), Some(nodegroup)) = (id("clusterName"), id("nodegroupName")) else {
            println!("\n(no cluster: no drift to show)");
            return Ok(exit::OK);
        };
        let desired = self.env.spec.cluster.node_group.desired_size;
        let mut made = vec![format!(
            "node group {nodegroup} scaled from {desired} to {} nodes",
            desired + 1
        )];
        self.stack
            .scale_node_group(region, cluster, nodegroup, desired + 1)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(service) = self.env.spec.app.services.first() {
            let color = Self::output(
                &status,
                Component::App,
                &format!("service.{}.color", service.name),
            );
            let deployment = match color {
                Some(color) => format!("{}-{color}", service.name),
                None => service.name.clone(),
            };
            let replicas = service.replicas + 3;
            self.stack
                .scale_deployment(region, cluster, self.name(), &deployment, replicas)
                .await
                .map_err(|e| e.to_string())?;
            made.push(format!(
                "Deployment {}/{deployment} scaled from {} to {replicas} replicas",
                self.name(),
                service.replicas
            ));
        }
        println!("\n$ # behind Strata's back: {}", made.join("; "));
        println!("\n$ strata sync {} --wait", self.name());
        let started = commands::request_sync(self.client, self.name())
            .await
            .map_err(|e| e.to_string())?;
        let code = match started.execution {
            Some(repair) => run(self.client, self.sfn, &self.started(&repair), "Ready").await,
            None => {
                return Ok(match self.env.spec.sync.drift {
                    DriftPolicy::Repair => {
                        eprintln!("error: the sync started no repair of the drift made");
                        exit::FAILED
                    }
                    DriftPolicy::Report => {
                        println!("(sync.drift: report: the drift is recorded, not repaired)");
                        exit::OK
                    }
                });
            }
        };
        if code != exit::OK {
            return Ok(code);
        }
        println!("\n$ strata sync {}", self.name());
        let again = commands::request_sync(self.client, self.name())
            .await
            .map_err(|e| e.to_string())?;
        Ok(match again.execution {
            None => exit::OK,
            Some(_) => exit::FAILED,
        })
    }

    fn started(&self, execution: &str) -> Started {
        let arn = self
            .stack
            .state_machine_arn("EnvironmentUpStateMachine")
            .map(|up| {
                format!(
                    "{}:{execution}",
                    up.replacen(":stateMachine:", ":execution:", 1)
                )
            });
        Started {
            name: self.name().to_owned(),
            execution: Some(execution.to_owned()),
            execution_arn: arn,
        }
    }
}

/// Follows what was started, prints its figures and the environment, and answers whether it
/// reached `expected`.
async fn run(
    client: &ApiClient,
    sfn: &aws_sdk_sfn::Client,
    started: &Started,
    expected: &str,
) -> u8 {
    let followed = match commands::follow(
        client,
        &started.name,
        started.execution.clone(),
        TIMEOUT,
        Duration::from_millis(500),
    )
    .await
    {
        Ok(followed) => followed,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ERROR;
        }
    };
    if let Some(arn) = &started.execution_arn {
        match figures(sfn, arn).await {
            Ok((states, invocations)) => println!(
                "  {states} states entered, {invocations} Lambda invocations, {:.1} s wall time",
                followed.seconds
            ),
            Err(e) => eprintln!("  (no figures: {e})"),
        }
    }
    println!("\n$ strata get {}", started.name);
    match client
        .send(
            Method::GET,
            &format!("/environments/{}", started.name),
            None,
        )
        .await
    {
        Ok(answer) => match answer.parse::<EnvironmentView>() {
            Ok(view) => show::environment(&view),
            Err(e) => eprintln!("error: {e}"),
        },
        Err(e) => eprintln!("error: {e}"),
    }
    println!("\n$ strata history {}", started.name);
    match client
        .send(
            Method::GET,
            &format!("/environments/{}/history?limit=12", started.name),
            None,
        )
        .await
    {
        Ok(answer) => match answer.parse::<HistoryPage>() {
            Ok(page) => show::history(&page.items),
            Err(e) => eprintln!("error: {e}"),
        },
        Err(e) => eprintln!("error: {e}"),
    }
    match commands::ended_code(&followed) {
        exit::OK if followed.state.as_deref() == Some(expected) => exit::OK,
        exit::OK => exit::FAILED,
        code => code,
    }
}

/// States entered and Lambda invocations of one execution (the README's figures).
async fn figures(sfn: &aws_sdk_sfn::Client, arn: &str) -> Result<(usize, usize), String> {
    let history = sfn
        .get_execution_history()
        .execution_arn(arn)
        .send()
        .await
        .map_err(|e| aws_sdk_sfn::error::DisplayErrorContext(&e).to_string())?;
    let states = history
        .events
        .iter()
        .filter(|e| e.state_entered_event_details().is_some())
        .count();
    let invocations = history
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.r#type,
                HistoryEventType::LambdaFunctionScheduled | HistoryEventType::TaskScheduled
            )
        })
        .count();
    Ok((states, invocations))
}
