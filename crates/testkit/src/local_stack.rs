//! The local stack started for a test (the feature `local-stack`): with the store over its
//! table and its two state machines ([`start`]), or standing in for an environment's
//! prerequisites with the API function's endpoint ([`local`]); an execution followed to
//! its end ([`ended`]); operations started as the API starts them ([`Started::run`]), also
//! with the clients of the example's region ([`driven`]); and the fixtures several tests
//! inject or read (slow creates, bucket tags).

use std::time::{Duration, Instant};

use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use strata_control::{Operations, SfnFlows};
use strata_core::Environment;
use strata_localstack::fidelity::Delay;
use strata_localstack::{LocalStack, Options};
use strata_store::DynamoStore;

use crate::cli::{Strata, write};
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
        let described = describe(sfn, arn).await;
        if described.status != aws_sdk_sfn::types::ExecutionStatus::Running {
            return described;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{arn} did not end within {} s", within.as_secs());
}

/// The execution `arn` as Step Functions describes it now.
pub async fn describe(sfn: &aws_sdk_sfn::Client, arn: &str) -> DescribeExecutionOutput {
    sfn.describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .unwrap()
}

/// The names of the states the execution `arn` entered, in order.
pub async fn states_entered(sfn: &aws_sdk_sfn::Client, arn: &str) -> Vec<String> {
    sfn.get_execution_history()
        .execution_arn(arn)
        .send()
        .await
        .unwrap()
        .events()
        .iter()
        .filter_map(|e| e.state_entered_event_details())
        .map(|d| d.name().to_owned())
        .collect()
}

/// Asserts that the execution succeeded, saying its error and cause otherwise.
#[track_caller]
pub fn assert_succeeded(ended: &DescribeExecutionOutput) {
    assert_eq!(
        ended.status,
        aws_sdk_sfn::types::ExecutionStatus::Succeeded,
        "{:?} {:?}",
        ended.error,
        ended.cause
    );
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
        let execution = self.start(operations, name, down, actor).await;
        ended(sfn, &self.execution_arn(&execution, down)).await
    }

    /// The ARN of the execution named `execution` of `up` (or `down`).
    pub fn execution_arn(&self, execution: &str, down: bool) -> String {
        let machine = if down { &self.down } else { &self.up };
        strata_control::execution_arn(machine, execution)
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

    /// Stands in for `env`'s prerequisites and stores its spec, created at `created`: what a
    /// test does before it starts an operation on it.
    pub async fn stand_in_and_store(&self, env: &Environment, created: u64) {
        use strata_store::prelude::*;
        self.stack.stand_in_for(env).await.unwrap();
        self.store.put_spec(env, None, created).await.unwrap();
    }

    /// The example as `name` ([`crate::example_as`]), stood in for and stored, created now.
    pub async fn store_example(&self, name: &str) -> Environment {
        let env = crate::example_as(name);
        self.stand_in_and_store(&env, now()).await;
        env
    }

    /// Operations as the API starts them (polling every second), and the Step Functions
    /// client they start executions with.
    pub fn operations(&self) -> (Operations<DynamoStore, SfnFlows>, aws_sdk_sfn::Client) {
        self.operations_polling(1)
    }

    /// [`Started::operations`], their executions polling every `seconds` (0: at once).
    pub fn operations_polling(
        &self,
        seconds: u64,
    ) -> (Operations<DynamoStore, SfnFlows>, aws_sdk_sfn::Client) {
        let sfn = aws_sdk_sfn::Client::new(&self.stack.sdk_config());
        let operations = Operations::new(
            self.store.clone(),
            SfnFlows::new(sfn.clone(), self.up.clone(), self.down.clone()),
        )
        .with_poll_seconds(Some(seconds))
        .with_clock_scale(Some(0));
        (operations, sfn)
    }

    /// The local stack's SDK config in `region` (the example's is eu-west-1).
    pub fn regional(&self, region: &str) -> aws_config::SdkConfig {
        regional(&self.stack, region)
    }
}

/// A started local stack driven as the API drives it ([`Started::operations`]), with the
/// clients a test looks at the example's resources through (in its region, eu-west-1).
pub struct Driven {
    pub started: Started,
    pub operations: Operations<DynamoStore, SfnFlows>,
    pub sfn: aws_sdk_sfn::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub eks: aws_sdk_eks::Client,
    pub rds: aws_sdk_rds::Client,
    /// Path-style, as the local stack serves S3 ([`s3`]).
    pub s3: aws_sdk_s3::Client,
    pub route53: aws_sdk_route53::Client,
}

/// The local stack started (default options) and [`Driven`].
pub async fn driven() -> Driven {
    let started = start().await;
    let (operations, sfn) = started.operations();
    let regional = started.regional("eu-west-1");
    Driven {
        operations,
        sfn,
        ec2: aws_sdk_ec2::Client::new(&regional),
        eks: aws_sdk_eks::Client::new(&regional),
        rds: aws_sdk_rds::Client::new(&regional),
        s3: s3(&regional),
        route53: aws_sdk_route53::Client::new(&started.stack.sdk_config()),
        started,
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

impl Local {
    /// `env` written as JSON into the folder as `file`; its path, for `-f`.
    pub fn write(&self, file: &str, env: &Environment) -> String {
        write(&self.files, file, env)
    }

    /// `env` written into the folder as `file` and applied through `strata` (`apply -f
    /// --wait`), which must succeed: where a CLI test's environment first comes up.
    pub fn apply(&self, strata: &Strata, file: &str, env: &Environment) {
        let path = self.write(file, env);
        let applied = strata.run(&self.endpoint, &["apply", "-f", &path, "--wait"]);
        assert_eq!(applied.code, 0, "{}\n{}", applied.out, applied.err);
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

/// `bucket`'s tags as (key, value), none when it has no tag set; `None` when the bucket
/// does not exist.
pub async fn bucket_tags(s3: &aws_sdk_s3::Client, bucket: &str) -> Option<Vec<(String, String)>> {
    s3.head_bucket().bucket(bucket).send().await.ok()?;
    Some(match s3.get_bucket_tagging().bucket(bucket).send().await {
        Ok(out) => out.tag_set.into_iter().map(|t| (t.key, t.value)).collect(),
        Err(_) => Vec::new(),
    })
}

/// Makes `bucket` in the example's region (eu-west-1), as someone other than Strata does.
pub async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    s3.create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Replaces `bucket`'s tags with `tags` (key, value), as someone behind Strata's back does.
pub async fn put_bucket_tags<K, V>(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    tags: impl IntoIterator<Item = (K, V)>,
) where
    K: Into<String>,
    V: Into<String>,
{
    let tag_set = tags
        .into_iter()
        .map(|(k, v)| {
            aws_sdk_s3::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .unwrap()
        })
        .collect();
    s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .set_tag_set(Some(tag_set))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// EKS saying environment `name`'s cluster is still CREATING for `times` more reads (moto
/// makes it at once; AWS takes minutes).
pub fn cluster_creating(name: &str, times: u32) -> Delay {
    Delay::rest_json(
        &format!("GET /clusters/strata-{name}"),
        "",
        r#""status": "ACTIVE""#,
        r#""status": "CREATING""#,
    )
    .times(times)
}

/// RDS saying environment `name`'s database is still creating for `times` more reads.
pub fn database_creating(name: &str, times: u32) -> Delay {
    Delay::query(
        "DescribeDBInstances",
        &format!("strata-{name}"),
        "<DBInstanceStatus>available</DBInstanceStatus>",
        "<DBInstanceStatus>creating</DBInstanceStatus>",
    )
    .times(times)
}
