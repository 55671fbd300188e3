//! The local stack started for a test (the feature `local-stack`): with the store over its
//! table and its two state machines ([`start`]), or standing in for an environment's
//! prerequisites with the API function's endpoint ([`local`]); an execution followed to
//! its end ([`ended`]); operations started as the API starts them ([`Started::run`]).

use std::time::{Duration, Instant};

use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use strata_control::{Operations, SfnFlows};
use strata_core::Environment;
use strata_localstack::{LocalStack, Options};
use strata_store::DynamoStore;

use crate::now;

/// A started local stack, the store over its table and its state machines' ARNs.
pub struct Started {
    pub stack: LocalStack,
    pub store: DynamoStore,
    pub up: String,
    pub down: String,
}

pub async fn start() -> Started {
    start_with(Options::default()).await
}

/// The local stack started with `options`, the store and the state machines' ARNs.
pub async fn start_with(options: Options) -> Started {
    let stack = LocalStack::start(options)
        .await
        .expect("the local stack starts");
    let config = stack.sdk_config();
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        stack.table_name("StateTable").unwrap(),
    );
    let machine = |id: &str| stack.state_machine_arn(id).unwrap().to_owned();
    let (up, down) = (
        machine("EnvironmentUpStateMachine"),
        machine("EnvironmentDownStateMachine"),
    );
    Started {
        stack,
        store,
        up,
        down,
    }
}

/// The execution once it is no longer running (five minutes at most: under a loaded CI
/// machine one flow with retry backoffs takes minutes).
pub async fn ended(sfn: &aws_sdk_sfn::Client, arn: &str) -> DescribeExecutionOutput {
    ended_within(sfn, arn, Duration::from_secs(300)).await
}

/// The execution once it is no longer running, `within` at most.
pub async fn ended_within(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
    within: Duration,
) -> DescribeExecutionOutput {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let described = sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .unwrap();
        if described.status != aws_sdk_sfn::types::ExecutionStatus::Running {
            return described;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{arn} did not end within {} s", within.as_secs());
}

impl Started {
    /// The environment's status as the store holds it; a test asks only once it has one.
    pub async fn status(&self, name: &str) -> strata_core::EnvironmentStatus {
        use strata_store::prelude::*;
        self.store.get_status(name).await.unwrap().unwrap().value
    }

    /// Starts `up` (or `down`) of the stored generation as the API does, through
    /// `operations` in `actor`'s name, and waits for its execution to end.
    pub async fn run(
        &self,
        operations: &Operations<DynamoStore, SfnFlows>,
        sfn: &aws_sdk_sfn::Client,
        name: &str,
        down: bool,
        actor: &str,
    ) -> DescribeExecutionOutput {
        let arn = self.launch(operations, name, down, actor).await;
        ended(sfn, &arn).await
    }

    /// Starts `up` (or `down`) as [`Started::run`] does; answers the execution's ARN at once.
    pub async fn launch(
        &self,
        operations: &Operations<DynamoStore, SfnFlows>,
        name: &str,
        down: bool,
        actor: &str,
    ) -> String {
        let execution = self.start(operations, name, down, actor).await;
        let machine = if down { &self.down } else { &self.up };
        strata_control::execution_arn(machine, &execution)
    }

    /// Starts `up` (or `down`) of the stored generation through `operations` as the API does,
    /// after the status version it reads: answers the execution's name (the lease's holder).
    pub async fn start(
        &self,
        operations: &Operations<DynamoStore, SfnFlows>,
        name: &str,
        down: bool,
        actor: &str,
    ) -> String {
        use strata_store::prelude::*;
        let generation = self
            .store
            .get_spec(name)
            .await
            .unwrap()
            .map_or(1, |s| s.generation);
        let status_version = self
            .store
            .get_status(name)
            .await
            .unwrap()
            .map_or(0, |s| s.version);
        let trigger = match down {
            false => strata_control::Trigger::Apply {
                generation,
                status_version,
            },
            true => strata_control::Trigger::Delete {
                generation,
                status_version,
            },
        };
        let launch = strata_control::Launch {
            environment: name,
            trigger,
            scope: strata_core::Scope::All,
            recreate: Vec::new(),
            message: format!("requested by {actor}"),
        };
        operations
            .start(&launch, actor, now())
            .await
            .unwrap()
            .execution
    }

    /// Operations as the API starts them (polling every second), and the Step Functions
    /// client they start executions with.
    pub fn operations(&self) -> (Operations<DynamoStore, SfnFlows>, aws_sdk_sfn::Client) {
        let sfn = aws_sdk_sfn::Client::new(&self.stack.sdk_config());
        let operations = Operations::new(
            self.store.clone(),
            SfnFlows::new(sfn.clone(), self.up.clone(), self.down.clone()),
        )
        .with_poll_seconds(Some(1))
        .with_clock_scale(Some(0));
        (operations, sfn)
    }

    /// The local stack's SDK config in `region` (the example's is eu-west-1).
    pub fn regional(&self, region: &str) -> aws_config::SdkConfig {
        regional(&self.stack, region)
    }
}

/// A local stack standing in for an environment's prerequisites, with the API function's
/// endpoint, a folder for spec files and an SDK config for the environment's region.
pub struct Local {
    pub stack: LocalStack,
    pub files: tempfile::TempDir,
    pub endpoint: String,
    pub regional: aws_config::SdkConfig,
}

/// The local stack started (default options) standing in for `env`'s prerequisites.
pub async fn local(env: &Environment) -> Local {
    let stack = LocalStack::start(Options::default()).await.unwrap();
    stack.stand_in_for(env).await.unwrap();
    let endpoint = stack.function_url("ApiFunction").unwrap();
    let regional = regional(&stack, &env.spec.region);
    Local {
        stack,
        files: tempfile::tempdir().unwrap(),
        endpoint,
        regional,
    }
}

/// `stack`'s SDK config in `region`.
fn regional(stack: &LocalStack, region: &str) -> aws_config::SdkConfig {
    stack
        .sdk_config()
        .to_builder()
        .region(aws_config::Region::new(region.to_owned()))
        .build()
}

/// S3 as the local stack serves it (path-style).
pub fn s3(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}
