//! What every end-to-end test starts from: the local stack, the store over its table, and
//! the ARNs of its two state machines.

#![allow(dead_code)] // each test binary uses its own part

use strata_localstack::{LocalStack, Options};
use strata_store::DynamoStore;

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

/// The staging example as `name`, with a DNS name of its own.
pub fn example_as(name: &str) -> strata_core::Environment {
    let mut env = strata_testkit::staging();
    env.metadata.name = name.to_owned();
    env.spec.dns.as_mut().unwrap().name = format!("{name}.example.com");
    env
}

/// The execution once it is no longer running (five minutes at most: under a loaded CI
/// machine one flow with retry backoffs takes minutes).
pub async fn ended(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    ended_within(sfn, arn, std::time::Duration::from_secs(300)).await
}

/// The execution once it is no longer running, `within` at most.
pub async fn ended_within(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
    within: std::time::Duration,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        let described = sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .unwrap();
        if described.status != aws_sdk_sfn::types::ExecutionStatus::Running {
            return described;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("{arn} did not end within {} s", within.as_secs());
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Started {
    /// Starts `up` (or `down`) of the stored generation as the API does, through
    /// `operations` in `actor`'s name, and waits for its execution to end.
    pub async fn run(
        &self,
        operations: &strata_control::Operations<DynamoStore, strata_control::SfnFlows>,
        sfn: &aws_sdk_sfn::Client,
        name: &str,
        down: bool,
        actor: &str,
    ) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
        let arn = self.launch(operations, name, down, actor).await;
        ended(sfn, &arn).await
    }

    /// Starts `up` (or `down`) as [`Started::run`] does; answers the execution's ARN at once.
    pub async fn launch(
        &self,
        operations: &strata_control::Operations<DynamoStore, strata_control::SfnFlows>,
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
        let started = operations.start(&launch, actor, now()).await.unwrap();
        let machine = if down { &self.down } else { &self.up };
        strata_control::execution_arn(machine, &started.execution)
    }
}

impl Started {
    /// Operations as the API starts them (polling every second), and the Step Functions
    /// client they start executions with.
    pub fn operations(
        &self,
    ) -> (
        strata_control::Operations<DynamoStore, strata_control::SfnFlows>,
        aws_sdk_sfn::Client,
    ) {
        let sfn = aws_sdk_sfn::Client::new(&self.stack.sdk_config());
        let operations = strata_control::Operations::new(
            self.store.clone(),
            strata_control::SfnFlows::new(sfn.clone(), self.up.clone(), self.down.clone()),
        )
        .with_poll_seconds(Some(1))
        .with_clock_scale(Some(0));
        (operations, sfn)
    }

    /// The local stack's SDK config in `region` (the example's is eu-west-1).
    pub fn regional(&self, region: &str) -> aws_config::SdkConfig {
        self.stack
            .sdk_config()
            .to_builder()
            .region(aws_config::Region::new(region.to_owned()))
            .build()
    }
}
