//! The local stack: Strata against an AWS emulator on 127.0.0.1, with no AWS account.
//! Test infrastructure, used by the tests, the CLI and the demo; never part of a Lambda.
//!
//! [`LocalStack::start`] installs the pinned Python tools on first use, starts moto (with
//! state-machine execution on), the [`router`] in this process, and `cargo lambda watch`;
//! waits until each answers; then creates the tables and state machines that
//! `infra/template.yaml` declares. Dropping it stops every process it started.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use tokio::net::TcpListener;

mod api_front;
pub mod chaos;
pub mod cluster_simulator;
pub mod crash;
pub mod fidelity;
pub mod iam;
pub mod lag;
pub mod oci;
pub mod pace;
pub mod policy;
mod process;
pub mod router;
pub mod secrets;
pub mod stacks;
mod stand_in;
pub mod stopped;
pub mod template;
mod tools;

pub use process::ProcessGroup;
pub use template::Template;
pub mod bench;
pub use tools::{state_dir, workspace_root};

/// A command of the local stack's Python venv (installed first if need be), e.g.
/// `kubernetes-validate`.
pub fn python_tool(name: &str) -> Result<PathBuf, LocalStackError> {
    Ok(tools::ensure_tools()?.bin.join(name))
}

pub const REGION: &str = "us-east-1";
pub const STACK_NAME: &str = "strata-local";

#[derive(Debug, thiserror::Error)]
pub enum LocalStackError {
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("could not start {what}: {reason}")]
    Spawn { what: String, reason: String },
    #[error("{what} did not answer within {seconds}s; its log ({log}) ends:\n{tail}")]
    NotReady {
        what: String,
        seconds: u64,
        log: String,
        tail: String,
    },
    #[error("infra/template.yaml: {0}")]
    Template(String),
    #[error("provisioning {what}: {reason}")]
    Provision { what: String, reason: String },
    #[error("invoking {function}: {reason}")]
    Invoke { function: String, reason: String },
}

impl LocalStackError {
    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        LocalStackError::Io {
            path: path.to_owned(),
            reason: e.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Start `cargo lambda watch` for the template's functions (store-only tests don't).
    pub lambdas: bool,
    /// The SAM template to wire from.
    pub template: PathBuf,
    /// Run the functions as released (`--release`: the profile they deploy with), for the
    /// bench's memory figures; tests run debug builds.
    pub release: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            lambdas: true,
            template: workspace_root().join("infra/template.yaml"),
            release: false,
        }
    }
}

pub struct LocalStack {
    endpoint: String,
    template: Template,
    state_machine_arns: BTreeMap<String, String>,
    logs: PathBuf,
    router: std::sync::Arc<router::Router>,
    serving: tokio::task::JoinHandle<()>,
    simulator: std::sync::Arc<cluster_simulator::ClusterSimulator>,
    stand_in: std::sync::Arc<stand_in::StandIn>,
    simulating: tokio::task::JoinHandle<()>,
    /// The API's front door, once [`LocalStack::serve_api`] started it.
    api_front: Option<tokio::task::JoinHandle<()>>,
    // Dropped (stopped) in reverse order of start.
    lambda: Option<ProcessGroup>,
    lambda_addr: Option<SocketAddr>,
    moto: ProcessGroup,
}

/// The value of every secret the local stack stands in for (a spec's `secretArn`): what
/// the secret search of the end-to-end tests looks for.
pub const STAND_IN_SECRET_VALUE: &str = "local-stand-in-value";

/// The dummy credentials of everything on the local stack; the cluster simulator checks
/// EKS tokens against them.
pub(crate) const ACCESS_KEY: &str = "testing";
pub(crate) const SECRET_KEY: &str = "testing";

pub(crate) fn free_port() -> Result<u16, LocalStackError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| LocalStackError::io(Path::new("127.0.0.1:0"), e))?;
    Ok(listener
        .local_addr()
        .expect("a bound socket has an address")
        .port())
}

fn unique_run_dir() -> Result<PathBuf, LocalStackError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let dir = state_dir()
        .join("logs")
        .join(format!("{stamp}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| LocalStackError::io(&dir, e))?;
    Ok(dir)
}

/// Polls until `probe` succeeds, the process dies, or the time is up.
async fn wait_until<F, Fut>(
    process: &mut ProcessGroup,
    seconds: u64,
    mut probe: F,
) -> Result<(), LocalStackError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if probe().await {
            return Ok(());
        }
        let dead = process.exited().is_some();
        if dead || Instant::now() > deadline {
            return Err(LocalStackError::NotReady {
                what: process.name().to_owned(),
                seconds,
                log: process.log().display().to_string(),
                tail: process.log_tail(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn http_ok(method: &'static str, url: &str, body: Option<&str>) -> bool {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body.unwrap_or("").to_owned())));
    let Ok(request) = request else { return false };
    match tokio::time::timeout(Duration::from_secs(5), client.request(request)).await {
        Ok(Ok(response)) => {
            let ok = response.status().is_success();
            let _ = response.into_body().collect().await;
            ok
        }
        _ => false,
    }
}

impl LocalStack {
    pub async fn start(options: Options) -> Result<Self, LocalStackError> {
        let tools = tokio::task::spawn_blocking(tools::ensure_tools)
            .await
            .map_err(|e| LocalStackError::Spawn {
                what: "tool installation".into(),
                reason: e.to_string(),
            })??;
        let template = Template::load(&options.template, REGION, STACK_NAME)?;
        let logs = unique_run_dir()?;

        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| LocalStackError::io(Path::new("127.0.0.1:0"), e))?;
        let router_addr = listener.local_addr().expect("bound");
        let endpoint = format!("http://{router_addr}");

        // moto: its Step Functions interpreter calls back through the router (MOTO_PORT).
        let moto_port = free_port()?;
        let mut command = Command::new(tools.moto_server());
        command
            .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
            .env("MOTO_PORT", router_addr.port().to_string())
            .env("AWS_EC2_METADATA_DISABLED", "true");
        let mut moto = ProcessGroup::spawn("moto_server", command, &logs.join("moto.log"))?;
        let moto_url = format!("http://127.0.0.1:{moto_port}");
        let probe_url = format!("{moto_url}/moto-api/data.json");
        wait_until(&mut moto, 60, || http_ok("GET", &probe_url, None)).await?;
        // Must precede every CreateStateMachine (machines created before it vanish).
        let config =
            r#"{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}"#;
        if !http_ok("POST", &format!("{moto_url}/moto-api/config"), Some(config)).await {
            return Err(LocalStackError::Provision {
                what: "moto config".into(),
                reason: "POST /moto-api/config failed".into(),
            });
        }

        let mut lambda = None;
        let mut lambda_addr = None;
        if options.lambdas && !template.functions.is_empty() {
            build_functions(&template, &logs, options.release).await?;
            let port = free_port()?;
            let mut command = Command::new("cargo");
            command
                .current_dir(workspace_root())
                .env("PATH", tools.path_env())
                .args(["lambda", "watch", "--ignore-changes"])
                .args(options.release.then_some("--release"))
                .args(["-A", "127.0.0.1", "-P", &port.to_string()])
                // Parallel state-machine branches call the same function at once.
                .args(["--concurrency", "8"]);
            let mut env = template.shared_environment()?;
            env.extend(lambda_environment(&endpoint));
            for (k, v) in env {
                command.arg("--env-var").arg(format!("{k}={v}"));
            }
            let mut process = ProcessGroup::spawn(
                "cargo lambda watch",
                command,
                &logs.join("cargo-lambda.log"),
            )?;
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            wait_until(&mut process, 120, || async move {
                tokio::net::TcpStream::connect(addr).await.is_ok()
            })
            .await?;
            lambda = Some(process);
            lambda_addr = Some(addr);
        }

        let moto_addr: SocketAddr = ([127, 0, 0, 1], moto_port).into();
        let simulator_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| LocalStackError::io(Path::new("127.0.0.1:0"), e))?;
        let simulator_addr = simulator_listener.local_addr().expect("bound");
        let simulator = cluster_simulator::ClusterSimulator::new(moto_addr, ACCESS_KEY, SECRET_KEY);
        let simulating = tokio::spawn(simulator.clone().serve(simulator_listener));
        let router = router::Router::new(
            moto_addr,
            lambda_addr,
            simulator_addr,
            iam::Iam::from_template(&template),
        );
        let serving = tokio::spawn(router.clone().serve(listener));

        let mut stack = LocalStack {
            endpoint,
            template,
            state_machine_arns: BTreeMap::new(),
            logs,
            router,
            serving,
            simulator,
            simulating,
            stand_in: std::sync::Arc::new(stand_in::StandIn {
                moto: moto_addr,
                made: Default::default(),
            }),
            api_front: None,
            lambda,
            lambda_addr,
            moto,
        };
        stack.provision().await?;
        Ok(stack)
    }

    /// EC2's eventual consistency: from now on, the first `calls` EC2 requests naming each
    /// VPC, subnet, security group, route table or internet gateway a `Create*` made are
    /// answered with its `*.NotFound` ([`lag`]). Answers how many such answers were given
    /// so far.
    pub fn lag(&self, calls: u32) -> u32 {
        self.router.lag.set(calls);
        self.router.lag.given()
    }

    /// Makes the router answer the next matching requests with an AWS error (see
    /// [`fidelity::Fault`]), before they reach the emulator.
    pub fn inject(&self, fault: fidelity::Fault) {
        self.router.faults.inject(fault);
    }

    /// From now on (or no longer), every distinct Lambda invocation dies once after doing
    /// its work, before it answers ([`crash`]). Answers how many died so far.
    pub fn crash_every_step(&self, on: bool) -> u32 {
        self.router.crashes.set(on);
        self.router.crashes.given()
    }

    /// The fault matrix's layer: the calls each function made, and chaos for the next ones.
    pub fn chaos(&self) -> &chaos::ChaosLayer {
        &self.router.chaos
    }

    /// Takes `action` (e.g. `ecr:DescribeImages`) from the role of the function with this
    /// logical id, as if the template did not grant it: its calls get AccessDenied. Returns
    /// whether the role had it.
    pub fn revoke(&self, function: &str, action: &str) -> bool {
        self.router.iam.revoke(function, action)
    }

    /// Plays AWS's create durations (or no longer): each EKS cluster, node group, RDS
    /// instance, NAT gateway, load balancer and Route 53 change made from now on is described
    /// as still being made until its duration has passed ([`pace`]).
    pub fn pace(&self, durations: Option<pace::Durations>) {
        self.router.pace.set(durations);
        self.cluster_simulator().set_load_balancer_time(
            durations.map_or(std::time::Duration::ZERO, |d| d.load_balancer),
        );
    }

    /// Makes the next matching answers say a resource is still being worked on (see
    /// [`fidelity::Delay`]).
    pub fn delay(&self, delay: fidelity::Delay) {
        self.router.delays.add(delay);
    }

    /// The function URL cargo-lambda serves for a template function (by logical id), as
    /// `http://127.0.0.1:<port>/lambda-url/<binary>`; requests to it reach the function as
    /// function-URL events (payload v2, the shape API Gateway's HTTP API sends).
    pub fn function_url(&self, logical_id: &str) -> Option<String> {
        let addr = self.lambda_addr?;
        let function = self
            .template
            .functions
            .iter()
            .find(|f| f.logical_id == logical_id)?;
        Some(format!("http://{addr}/lambda-url/{}", function.binary))
    }

    /// Serves the API's front door on a free loopback port until the stack is dropped: the
    /// api function's URL behind a proxy that stands in for every applied spec's images,
    /// secrets and zone first (`localstack/src/api_front.rs`). Answers the URL the CLI uses
    /// as the API's endpoint (`…/lambda-url/<api binary>`, so requests are signed as for a
    /// function URL).
    pub async fn serve_api(&mut self) -> Result<String, LocalStackError> {
        let lambda = self.lambda_addr.ok_or_else(|| LocalStackError::Spawn {
            what: "the API's front door".into(),
            reason: "the local stack runs no functions".into(),
        })?;
        let path = self
            .function_url("ApiFunction")
            .and_then(|url| url.split_once("/lambda-url/").map(|(_, p)| p.to_owned()))
            .ok_or_else(|| LocalStackError::Template("no ApiFunction".into()))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| LocalStackError::io(Path::new("127.0.0.1:0"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| LocalStackError::io(Path::new("127.0.0.1:0"), e))?;
        let front = std::sync::Arc::new(api_front::ApiFront::new(self.stand_in.clone(), lambda));
        if let Some(old) = self.api_front.replace(tokio::spawn(front.serve(listener))) {
            old.abort();
        }
        Ok(format!("http://{addr}/lambda-url/{path}"))
    }

    /// Stands in for the template's `AWS::Scheduler::Schedule` (moto never fires one): invokes
    /// the function with the payload the schedule's `Input` makes, at the scheduled `time`
    /// (RFC 3339), and answers the function's result. A function error is an error here.
    pub async fn run_schedule(
        &self,
        schedule_logical_id: &str,
        time: &str,
    ) -> Result<serde_json::Value, LocalStackError> {
        let (function, input) = self.template.schedule(schedule_logical_id)?;
        let payload = input
            .replace("<aws.scheduler.execution-id>", &format!("local-{time}"))
            .replace("<aws.scheduler.scheduled-time>", time)
            .replace(
                "<aws.scheduler.schedule-arn>",
                &format!(
                    "arn:aws:scheduler:{REGION}:{}:schedule/default/{schedule_logical_id}",
                    template::ACCOUNT_ID
                ),
            );
        self.invoke(&function, &payload).await
    }

    /// Stands in for EventBridge delivering ECR's push event (moto never delivers to a
    /// Lambda): the `ECR Image Action` event of `repository:tag` in `region`, at `time`
    /// (RFC 3339), goes to every template function whose `EventBridgeRule` pattern matches
    /// it. Answers each function's result by logical id; a function error is an error here.
    pub async fn deliver_ecr_push(
        &self,
        region: &str,
        repository: &str,
        tag: &str,
        time: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, LocalStackError> {
        let event = serde_json::json!({
            "version": "0",
            "id": format!("local-push-{repository}-{tag}"),
            "detail-type": "ECR Image Action",
            "source": "aws.ecr",
            "account": template::ACCOUNT_ID,
            "time": time,
            "region": region,
            "resources": [],
            "detail": {
                "result": "SUCCESS",
                "repository-name": repository,
                "action-type": "PUSH",
                "image-tag": tag,
            },
        });
        let mut results = Vec::new();
        for rule in &self.template.rules {
            if template::pattern_matches(&rule.pattern, &event) {
                let answer = self.invoke(&rule.function, &event.to_string()).await?;
                results.push((rule.function.clone(), answer));
            }
        }
        Ok(results)
    }

    /// Invokes a template function (by logical id) through cargo-lambda, as Lambda's Invoke.
    pub async fn invoke(
        &self,
        logical_id: &str,
        payload: &str,
    ) -> Result<serde_json::Value, LocalStackError> {
        use http_body_util::{BodyExt, Full};
        let failed = |reason: String| LocalStackError::Invoke {
            function: logical_id.to_owned(),
            reason,
        };
        let addr = self
            .lambda_addr
            .ok_or_else(|| failed("the stack runs without Lambda functions".into()))?;
        let function = self
            .template
            .functions
            .iter()
            .find(|f| f.logical_id == logical_id)
            .ok_or_else(|| failed("no such function in the template".into()))?;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<bytes::Bytes>>();
        let request = hyper::Request::post(format!(
            "http://{addr}/2015-03-31/functions/{}/invocations",
            function.binary
        ))
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(payload.to_owned())))
        .map_err(|e| failed(e.to_string()))?;
        let response = client
            .request(request)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| failed(e.to_string()))?
            .to_bytes();
        let text = String::from_utf8_lossy(&body).into_owned();
        if !status.is_success() {
            return Err(failed(format!("{status}: {text}")));
        }
        serde_json::from_str(&text).map_err(|e| failed(format!("{e}: {text}")))
    }

    /// The stand-in for the clusters' Kubernetes API servers.
    pub fn cluster_simulator(&self) -> &cluster_simulator::ClusterSimulator {
        &self.simulator
    }

    /// Puts in place what `env` reads and Strata does not create (images, secrets, its DNS
    /// zone), as `localstack/src/stand_in.rs` says. Answers what it made.
    pub async fn stand_in_for(
        &self,
        env: &strata_core::Environment,
    ) -> Result<Vec<String>, LocalStackError> {
        self.stand_in.stand_in_for(env).await
    }

    /// Stands in for a CI pipeline: an image with `tag` in the ECR repository of this
    /// account.
    pub async fn push_image(
        &self,
        region: &str,
        repository: &str,
        tag: &str,
    ) -> Result<(), LocalStackError> {
        self.push_image_to(template::ACCOUNT_ID, region, repository, tag)
            .await
    }

    /// The same in the registry of another account (`registry`, its account id).
    pub async fn push_image_to(
        &self,
        registry: &str,
        region: &str,
        repository: &str,
        tag: &str,
    ) -> Result<(), LocalStackError> {
        self.stand_in
            .push_image(registry, region, repository, tag)
            .await
    }

    /// Drift for the demo and the tests: the node group's desired size changed in EKS, as a
    /// person with console access would.
    pub async fn scale_node_group(
        &self,
        region: &str,
        cluster: &str,
        nodegroup: &str,
        desired: u32,
    ) -> Result<(), LocalStackError> {
        self.stand_in
            .scale_node_group(region, cluster, nodegroup, desired)
            .await
    }

    /// Drift for the demo and the tests: a Deployment's replicas changed through the
    /// cluster's Kubernetes API (a merge patch under another field manager, as
    /// `kubectl scale` sends), reached the way Strata reaches it.
    pub async fn scale_deployment(
        &self,
        region: &str,
        cluster: &str,
        namespace: &str,
        name: &str,
        replicas: u32,
    ) -> Result<(), LocalStackError> {
        let failed = |reason: String| LocalStackError::Provision {
            what: format!("deployment {cluster}/{namespace}/{name}"),
            reason,
        };
        let client = strata_kubernetes::ClusterAccess(self.sdk_config())
            .connect(region, cluster)
            .await
            .map_err(|e| failed(e.to_string()))?
            .ok_or_else(|| failed("no such cluster".into()))?;
        let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
            kube::Api::namespaced(client, namespace);
        deployments
            .patch(
                name,
                &kube::api::PatchParams {
                    field_manager: Some("kubectl".into()),
                    ..Default::default()
                },
                &kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}})),
            )
            .await
            .map_err(|e| failed(e.to_string()))?;
        Ok(())
    }

    /// Delays not yet used up.
    pub fn pending_delays(&self) -> u32 {
        self.router.delays.pending()
    }

    /// Drops every delay not yet used up: the resources it held back are ready at once.
    pub fn clear_delays(&self) {
        self.router.delays.clear();
    }

    /// Injected answers not yet given.
    pub fn pending_faults(&self) -> u32 {
        self.router.faults.pending()
    }

    /// The AWS endpoint every client of the local stack uses.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    /// The process groups this stack started (moto, and cargo-lambda with its functions).
    pub fn process_groups(&self) -> Vec<u32> {
        std::iter::once(self.moto.group_id())
            .chain(self.lambda.as_ref().map(ProcessGroup::group_id))
            .collect()
    }

    /// The peak resident memory (KiB) of each function's process so far, by binary: the
    /// largest where cargo-lambda runs more than one. Empty without functions.
    pub fn function_peak_rss_kib(&self) -> BTreeMap<String, u64> {
        let mut peaks = BTreeMap::new();
        for (comm, kib) in self.lambda.iter().flat_map(ProcessGroup::peak_rss_kib) {
            if let Some(function) = self.template.functions.iter().find(|f| f.binary == comm) {
                let peak = peaks.entry(function.binary.clone()).or_insert(0);
                *peak = kib.max(*peak);
            }
        }
        peaks
    }

    /// Where the processes' logs are.
    pub fn logs(&self) -> &Path {
        &self.logs
    }

    /// An SDK config for the local stack: loopback endpoint, dummy credentials.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "strata-localstack"),
            ))
            .build()
    }

    pub fn table_name(&self, logical_id: &str) -> Option<&str> {
        self.template
            .tables
            .iter()
            .find(|t| t.logical_id == logical_id)
            .map(|t| t.name.as_str())
    }

    /// The name of a template event bus, by logical id.
    pub fn event_bus_name(&self, logical_id: &str) -> Option<&str> {
        self.template
            .event_buses
            .iter()
            .find(|(id, _)| id == logical_id)
            .map(|(_, name)| name.as_str())
    }

    pub fn state_machine_arn(&self, logical_id: &str) -> Option<&str> {
        self.state_machine_arns.get(logical_id).map(String::as_str)
    }

    async fn provision(&mut self) -> Result<(), LocalStackError> {
        let config = self.sdk_config();
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        for table in &self.template.tables {
            create_table(&dynamodb, &table.name, &table.properties)
                .await
                .map_err(|reason| LocalStackError::Provision {
                    what: format!("table {}", table.logical_id),
                    reason,
                })?;
        }
        let eventbridge = aws_sdk_eventbridge::Client::new(&config);
        for (id, name) in &self.template.event_buses {
            eventbridge
                .create_event_bus()
                .name(name)
                .send()
                .await
                .map_err(|e| LocalStackError::Provision {
                    what: format!("event bus {id}"),
                    reason: strata_core::error_chain(&e),
                })?;
        }
        let sfn = aws_sdk_sfn::Client::new(&config);
        for machine in &self.template.state_machines {
            let out = sfn
                .create_state_machine()
                .name(&machine.name)
                .definition(&machine.definition)
                .role_arn(format!(
                    "arn:aws:iam::{}:role/{STACK_NAME}-states",
                    template::ACCOUNT_ID
                ))
                .send()
                .await
                .map_err(|e| LocalStackError::Provision {
                    what: format!("state machine {}", machine.logical_id),
                    reason: aws_sdk_sfn::error::DisplayErrorContext(&e).to_string(),
                })?;
            self.state_machine_arns
                .insert(machine.logical_id.clone(), out.state_machine_arn);
        }
        Ok(())
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        self.serving.abort();
        self.simulating.abort();
        if let Some(front) = &self.api_front {
            front.abort();
        }
        if let Some(lambda) = self.lambda.as_mut() {
            lambda.stop();
        }
        self.moto.stop();
    }
}

/// Functions a team would own, which the local stack serves beside the template's (cargo
/// lambda serves any binary of the workspace by name): the example custom component
/// (`examples/custom-component`), named in a spec as
/// `arn:aws:lambda:us-east-1:123456789012:function:strata-component-example`.
pub const TEAM_FUNCTIONS: &[&str] = &["strata-component-example"];

/// Builds each function exactly as `cargo lambda watch` will run it (`cargo run --bin X`
/// resolves features for that one package, unlike a multi-package build), so that no
/// invocation waits for a compile.
async fn build_functions(
    template: &Template,
    logs: &Path,
    release: bool,
) -> Result<(), LocalStackError> {
    let binaries = template
        .functions
        .iter()
        .map(|f| f.binary.as_str())
        .chain(TEAM_FUNCTIONS.iter().copied());
    for binary in binaries {
        let log = logs.join(format!("build-{}.log", binary));
        let file = std::fs::File::create(&log).map_err(|e| LocalStackError::io(&log, e))?;
        let status = tokio::process::Command::new("cargo")
            .current_dir(workspace_root())
            .args(["build", "--manifest-path", "Cargo.toml", "--bin", binary])
            .args(release.then_some("--release"))
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .status()
            .await
            .map_err(|e| LocalStackError::Spawn {
                what: format!("cargo build --bin {}", binary),
                reason: e.to_string(),
            })?;
        if !status.success() {
            return Err(LocalStackError::Spawn {
                what: format!("cargo build --bin {}", binary),
                reason: format!("{status}; see {}", log.display()),
            });
        }
    }
    Ok(())
}

/// What every local Lambda gets besides the template's variables: the local endpoint and
/// dummy credentials, so a handler's SDK calls can reach nothing but loopback.
fn lambda_environment(endpoint: &str) -> BTreeMap<String, String> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("RUST_LOG", "info"),
        // The function URL carries no IAM identity: the API takes its callers as local.
        ("STRATA_LOCAL_STACK", "true"),
        // moto makes everything at once: the state machines the API starts poll each second.
        ("STRATA_POLL_SECONDS", "1"),
        ("STRATA_CLOCK_SCALE", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// CreateTable from the template's CloudFormation properties.
async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    props: &serde_json::Value,
) -> Result<(), String> {
    let key_schema = |v: &serde_json::Value| -> Result<Vec<KeySchemaElement>, String> {
        v.as_array()
            .ok_or("KeySchema must be a list")?
            .iter()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(k["AttributeName"].as_str().unwrap_or_default())
                    .key_type(KeyType::from(k["KeyType"].as_str().unwrap_or_default()))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect()
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&props["KeySchema"])?));
    for a in props["AttributeDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a["AttributeName"].as_str().unwrap_or_default())
                .attribute_type(ScalarAttributeType::from(
                    a["AttributeType"].as_str().unwrap_or_default(),
                ))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    for g in props["GlobalSecondaryIndexes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(g["IndexName"].as_str().unwrap_or_default())
                .set_key_schema(Some(key_schema(&g["KeySchema"])?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            g["Projection"]["ProjectionType"].as_str().unwrap_or("ALL"),
                        ))
                        .build(),
                )
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    request
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string())?;
    Ok(())
}
