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

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};

mod api_front;
pub mod chaos;
pub mod cluster_simulator;
pub mod crash;
mod drift;
pub mod fidelity;
pub mod iam;
mod invoke;
pub mod lag;
pub mod oci;
pub mod pace;
pub mod policy;
pub mod principals;
mod process;
mod provision;
pub mod quotas;
pub mod router;
pub mod secrets;
pub mod stacks;
mod stand_in;
mod start;
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
    /// The principals it knows ([`LocalStack::principal`]).
    principals: std::sync::Arc<principals::Principals>,
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

impl LocalStack {
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

    /// Changes each statement of `function`'s role that names `action`, from now on (a test's
    /// narrowed Resource or Condition). Returns whether any statement did.
    pub fn amend_policy(
        &self,
        function: &str,
        action: &str,
        change: impl FnMut(&mut policy::Statement),
    ) -> bool {
        self.router.iam.amend(function, action, change)
    }

    /// What the IAM evaluation decided so far, and what it could not evaluate.
    pub fn iam_report(&self) -> iam::Report {
        self.router.iam.report()
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
