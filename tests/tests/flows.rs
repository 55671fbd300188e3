//! `environment-up` and `environment-down` end to end on the local stack: moto's interpreter
//! definition, which invokes the real `lifecycle` binary through the router and cargo-lambda.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::json;
use strata_core::spec::StorageOnDelete;
use strata_core::status::ComponentPhase;
use strata_core::{Component, ComponentStatus, Environment, EnvironmentState, EnvironmentStatus};
use strata_localstack::LocalStack;
use strata_localstack::fidelity::Fault;
use strata_store::{DynamoStore, prelude::*};

use strata_testkit::Staging;
use strata_testkit::local_stack;

struct Harness {
    stack: LocalStack,
    store: DynamoStore,
    sfn: aws_sdk_sfn::Client,
    s3: aws_sdk_s3::Client,
    ec2: aws_sdk_ec2::Client,
    eks: aws_sdk_eks::Client,
    rds: aws_sdk_rds::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    route53: aws_sdk_route53::Client,
    secrets: aws_sdk_secretsmanager::Client,
    up: String,
    down: String,
}

async fn harness() -> Harness {
    let local_stack::Started {
        stack,
        store,
        up,
        down,
    } = local_stack::start().await;
    let config = stack.sdk_config();
    let s3 = local_stack::s3(&config);
    // The environment's region: the handlers create its resources there.
    let regional = config
        .to_builder()
        .region(aws_config::Region::new("eu-west-1"))
        .build();
    let (ec2, eks, rds) = (
        aws_sdk_ec2::Client::new(&regional),
        aws_sdk_eks::Client::new(&regional),
        aws_sdk_rds::Client::new(&regional),
    );
    Harness {
        elb: aws_sdk_elasticloadbalancingv2::Client::new(&regional),
        route53: aws_sdk_route53::Client::new(&config),
        secrets: aws_sdk_secretsmanager::Client::new(&regional),
        eks,
        rds,
        sfn: aws_sdk_sfn::Client::new(&config),
        s3,
        ec2,
        stack,
        store,
        up,
        down,
    }
}

struct Ended {
    status: ExecutionStatus,
    error: Option<String>,
    cause: Option<String>,
    states_entered: Vec<String>,
}

/// Asserts that `ended` succeeded, saying `what` it was, its error and its cause otherwise.
#[track_caller]
fn assert_succeeded(ended: &Ended, what: &str) {
    assert_eq!(
        ended.status,
        ExecutionStatus::Succeeded,
        "{what}: {:?} {:?}",
        ended.error,
        ended.cause
    );
}

impl Harness {
    async fn store_staging(&self) -> Environment {
        let env = strata_testkit::staging();
        self.stand_in_and_store(&env, 1).await;
        env
    }

    /// Stands in for `env`'s prerequisites and stores its spec, created at `created`.
    async fn stand_in_and_store(&self, env: &Environment, created: u64) {
        self.stack.stand_in_for(env).await.unwrap();
        self.store.put_spec(env, None, created).await.unwrap();
    }

    /// [`Harness::stand_in_and_store`], with the sync schedule an apply makes.
    async fn store_scheduled(&self, env: &Environment, created: u64) {
        self.stand_in_and_store(env, created).await;
        strata_store::ensure_scheduled(&self.store, env.name(), created, 900)
            .await
            .unwrap();
    }

    /// Starts `environment-up` with a deterministic name and waits for it to end.
    async fn run(&self, name: &str, input: serde_json::Value) -> Ended {
        self.execute(&self.up, name, input).await
    }

    /// `up` of `environment` as `execution`, polling at once.
    async fn up(&self, environment: &str, execution: &str) -> Ended {
        self.run(execution, polling_at_once(environment)).await
    }

    /// `down` of `environment` as `execution`, polling at once, expected to succeed.
    async fn down_succeeds(&self, environment: &str, execution: &str) {
        let input = polling_at_once(environment);
        let ended = self.execute(&self.down, execution, input).await;
        assert_succeeded(&ended, execution);
    }

    async fn execute(&self, machine: &str, name: &str, input: serde_json::Value) -> Ended {
        let started = self
            .sfn
            .start_execution()
            .state_machine_arn(machine)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .unwrap();
        self.wait_for(&started.execution_arn).await
    }

    /// Waits for the `up` execution named `execution` (one sync started) to succeed.
    async fn up_succeeded(&self, execution: &str) {
        self.succeeded(&self.up, execution).await;
    }

    /// Waits for the execution of `machine` named `execution` to succeed.
    async fn succeeded(&self, machine: &str, execution: &str) {
        let arn = strata_control::execution_arn(machine, execution);
        assert_succeeded(&self.wait_for(&arn).await, execution);
    }

    /// Waits for the execution `arn` to end.
    async fn wait_for(&self, arn: &str) -> Ended {
        // Generous: under a loaded CI machine one flow with retry backoffs takes minutes.
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        while std::time::Instant::now() < deadline {
            let described = self
                .sfn
                .describe_execution()
                .execution_arn(arn)
                .send()
                .await
                .unwrap();
            if described.status != ExecutionStatus::Running {
                let history = self
                    .sfn
                    .get_execution_history()
                    .execution_arn(arn)
                    .send()
                    .await
                    .unwrap();
                let states_entered = history
                    .events
                    .iter()
                    .filter_map(|e| e.state_entered_event_details())
                    .map(|d| d.name.clone())
                    .collect();
                return Ended {
                    status: described.status,
                    error: described.error,
                    cause: described.cause,
                    states_entered,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{arn} did not end within five minutes; logs in {}",
            self.stack.logs().display()
        );
    }

    /// `up` of `environment`, polling at once, expected to end Ready.
    async fn up_ready(&self, environment: &str, execution: &str) -> Ended {
        let ended = self.up(environment, execution).await;
        assert_succeeded(&ended, execution);
        ended
    }

    /// A component's recorded status (it must exist).
    async fn component(&self, component: Component) -> ComponentStatus {
        self.component_of("staging", component).await
    }

    /// A component's recorded status in `environment` (it must exist).
    async fn component_of(&self, environment: &str, component: Component) -> ComponentStatus {
        self.store
            .get_component(environment, component)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no status recorded for {component}"))
            .value
    }

    /// `environment`'s recorded status (it must have one).
    async fn status(&self, environment: &str) -> EnvironmentStatus {
        self.store
            .get_status(environment)
            .await
            .unwrap()
            .unwrap()
            .value
    }

    /// Whether `bucket` holds `key`.
    async fn has_object(&self, bucket: &str, key: &str) -> bool {
        let got = self.s3.get_object().bucket(bucket).key(key).send().await;
        got.is_ok()
    }

    async fn upload(&self, bucket: &str, key: &str, body: &'static [u8]) {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(body))
            .send()
            .await
            .unwrap();
    }

    async fn state(&self) -> (EnvironmentState, String) {
        let status = self.status("staging").await;
        (status.state, status.message)
    }
}

/// The input of `environment`'s operation, polling at once.
fn polling_at_once(environment: &str) -> serde_json::Value {
    json!({"environment": environment, "pollSeconds": 0})
}

/// The database's master password, from the RDS-managed secret.
async fn master_password(h: &Harness, master_secret: &str) -> String {
    let text = h
        .secrets
        .get_secret_value()
        .secret_id(master_secret)
        .send()
        .await
        .unwrap()
        .secret_string
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["password"].as_str().unwrap().to_owned()
}

/// What `up` leaves in the cluster and in Route 53 for `examples/staging.yaml`.
async fn kubernetes_layers_are_up(h: &Harness, env: &Environment, master_secret: &str) {
    let sim = h.stack.cluster_simulator();
    let cluster = "strata-staging";
    assert!(
        sim.object(cluster, "v1", "namespaces", "", "staging")
            .is_some()
    );
    let secret = sim
        .object(cluster, "v1", "secrets", "staging", "database")
        .expect("the database Secret");
    let password = master_password(h, master_secret).await;
    let password = password.as_str();
    let stored = secret["data"]["DATABASE_PASSWORD"].as_str().unwrap();
    assert_eq!(stored, base64(password));
    // No trace of it in the state table: statuses, outputs, history.
    let status = h.status("staging").await;
    let everything = format!(
        "{} {:?}",
        serde_json::to_string(&status).unwrap(),
        h.store.history("staging", 50, None).await.unwrap().items
    );
    assert!(
        !everything.contains(password),
        "the password reached the table"
    );
    for component in Component::BUILT_IN {
        if let Some(c) = h.store.get_component("staging", component).await.unwrap() {
            assert!(!serde_json::to_string(&c.value).unwrap().contains(password));
        }
    }
    let ui = sim
        .object(cluster, "apps/v1", "deployments", "staging", "ui-blue")
        .expect("ui's blue colour");
    assert_eq!(
        ui["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{}:1.4.0", env.spec.app.services[0].image)
    );
    let api = sim
        .object(cluster, "apps/v1", "deployments", "staging", "api")
        .expect("api, rolling");
    assert_eq!(api["status"]["availableReplicas"], 2);
    assert!(
        sim.object(cluster, "batch/v1", "jobs", "staging", "api-migrate-2-3-0")
            .is_some(),
        "api's migration ran before it rolled out"
    );
    let app = h.component(Component::App).await;
    let hostname = &app.outputs["loadBalancerHostname"];
    let balancers = h.elb.describe_load_balancers().send().await.unwrap();
    let balancer = balancers
        .load_balancers()
        .iter()
        .find(|lb| lb.dns_name() == Some(hostname))
        .expect("the Service's load balancer is in the emulator");
    let tags = h
        .elb
        .describe_tags()
        .resource_arns(balancer.load_balancer_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        format!("{tags:?}").contains("elbv2.k8s.aws/cluster"),
        "{tags:?}"
    );
    let zone = hosted_zone(h).await;
    let record = staging_record(h, &zone).await;
    let alias = record
        .as_ref()
        .and_then(|r| r.alias_target())
        .expect("an alias record for staging.example.com");
    assert!(
        alias.dns_name().trim_end_matches('.') == hostname.trim_end_matches('.'),
        "{alias:?}"
    );
    assert_eq!(
        status.ingress_urls,
        [
            "http://staging.example.com".to_owned(),
            format!("http://{hostname}")
        ]
    );
}

fn base64(text: &str) -> String {
    strata_kubernetes::base64(text.as_bytes())
}

/// The top-level states an execution went through, each once, in the order first entered,
/// without the poll loops' waits (how often a step polls is up to the emulator's timing),
/// and without the branch states of a Parallel (their interleaving is up to the interpreter).
fn top_level(ended: &Ended, machine: &str) -> Vec<String> {
    let path = format!(
        "{}/../statemachines/{machine}",
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
    );
    let definition: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let states = definition["States"].as_object().unwrap();
    ended
        .states_entered
        .iter()
        .filter(|s| states.contains_key(*s) && !s.ends_with(" wait"))
        .fold(Vec::new(), |mut path, s| {
            if !path.contains(s) {
                path.push(s.clone());
            }
            path
        })
}

const UP: &str = "environment-up.asl.json";
const UP_PATH: [&str; 15] = [
    "Begin",
    "Scope?",
    "Teardown?",
    "Network + Storage + Custom components 0",
    "Cluster + Database + Custom components 1",
    "Config + Custom components 2",
    "App + Custom components 3",
    "DNS + Custom components 4",
    "Custom components 5",
    "Custom components 6",
    "Custom components 7",
    "Post-deploy?",
    "Finish",
    "Converged?",
    "Ready",
];

/// A user's queue of every Strata event on the stack's bus.
async fn state_change_queue(h: &Harness) -> String {
    strata_localstack::secrets::bus_queue(&h.stack, "strata-events").await
}

/// At least `count` events from the queue, oldest first.
async fn received(h: &Harness, queue: &str, count: usize) -> Vec<serde_json::Value> {
    strata_localstack::secrets::bus_events(&h.stack, queue, |events| events.len() >= count).await
}

/// An EC2 filter: `name` is `value`.
fn ec2_filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .values(value)
        .build()
}

/// Those of at least `count` events from the queue (oldest first) of type `detail_type`.
async fn received_of(
    h: &Harness,
    queue: &str,
    count: usize,
    detail_type: &str,
) -> Vec<serde_json::Value> {
    let mut events = received(h, queue, count).await;
    events.retain(|e| e["detail-type"] == detail_type);
    events
}

/// This environment's VPCs, found by their tags.
async fn tagged_vpcs(h: &Harness) -> Vec<aws_sdk_ec2::types::Vpc> {
    h.ec2
        .describe_vpcs()
        .filters(ec2_filter("tag:strata:environment", "staging"))
        .send()
        .await
        .unwrap()
        .vpcs
        .unwrap_or_default()
}

/// Staging's database instance (it must exist).
async fn staging_instance(h: &Harness) -> aws_sdk_rds::types::DbInstance {
    h.rds
        .describe_db_instances()
        .db_instance_identifier("strata-staging")
        .send()
        .await
        .unwrap()
        .db_instances()[0]
        .clone()
}

/// Staging's EKS cluster (it must exist).
async fn staging_cluster(h: &Harness) -> aws_sdk_eks::types::Cluster {
    h.eks
        .describe_cluster()
        .name("strata-staging")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap()
}

/// The first hosted zone's id: where the example's records are.
async fn hosted_zone(h: &Harness) -> String {
    let zones = h.route53.list_hosted_zones().send().await.unwrap();
    zones.hosted_zones()[0].id().to_owned()
}

/// The record of `staging.example.com.` in `zone`, if there is one.
async fn staging_record(
    h: &Harness,
    zone: &str,
) -> Option<aws_sdk_route53::types::ResourceRecordSet> {
    let records = h
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .unwrap();
    records
        .resource_record_sets()
        .iter()
        .find(|r| r.name() == "staging.example.com.")
        .cloned()
}

/// What the sync function answers for `environment`, invoked now.
async fn sync(h: &Harness, environment: &str) -> serde_json::Value {
    let payload = format!(r#"{{"environment": "{environment}"}}"#);
    h.stack.invoke("SyncFunction", &payload).await.unwrap()
}

#[tokio::test]
async fn up_creates_the_buckets_and_is_ready_only_when_every_component_converged() {
    let h = harness().await;
    let env = h.store_staging().await;
    // A user's rule on the stack's bus, delivering Strata's events to a queue.
    let queue = state_change_queue(&h).await;
    let search = strata_localstack::secrets::SecretSearch::start(&h.stack).await;

    // Every layer converged, the Kubernetes ones included: Ready.
    let ended = h.up_ready("staging", "up-staging-1-a").await;
    assert_eq!(top_level(&ended, UP), UP_PATH);

    // Each state change reached the queue through the bus, with the documented shape.
    let changes = received(&h, &queue, 2).await;
    let states: Vec<&str> = changes
        .iter()
        .map(|e| e["detail"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["Progressing", "Ready"]);
    for event in &changes {
        assert_eq!(event["source"], "strata");
        assert_eq!(event["detail-type"], "Strata Environment State Change");
        assert_eq!(event["detail"]["environment"], "staging");
        assert_eq!(event["detail"]["execution"], "up-staging-1-a");
        assert_eq!(event["detail"]["operation"], "up");
        assert_eq!(event["detail"]["generation"], 1);
    }

    // The network: one VPC with the spec's CIDR, a public and a private subnet per AZ, a NAT.
    let vpcs = tagged_vpcs(&h).await;
    assert_eq!(vpcs.len(), 1);
    assert_eq!(vpcs[0].cidr_block(), Some("10.40.0.0/16"));
    let vpc_id = vpcs[0].vpc_id().unwrap().to_owned();
    let in_vpc = ec2_filter("vpc-id", &vpc_id);
    let subnets = h
        .ec2
        .describe_subnets()
        .filters(in_vpc.clone())
        .send()
        .await
        .unwrap();
    let mut cidrs: Vec<&str> = subnets
        .subnets()
        .iter()
        .filter_map(|s| s.cidr_block())
        .collect();
    cidrs.sort();
    assert_eq!(
        cidrs,
        [
            "10.40.0.0/18",
            "10.40.128.0/18",
            "10.40.192.0/18",
            "10.40.64.0/18"
        ]
    );
    let public = subnets
        .subnets()
        .iter()
        .filter(|s| {
            s.tags()
                .iter()
                .any(|t| t.key() == Some("kubernetes.io/role/elb"))
        })
        .count();
    assert_eq!(public, 2, "public subnets carry the load balancer tag");
    let nats = h
        .ec2
        .describe_nat_gateways()
        .filter(in_vpc)
        .send()
        .await
        .unwrap();
    assert_eq!(nats.nat_gateways().len(), 1, "natGateways: single");
    let network = h.component(Component::Network).await;
    assert_eq!(network.phase, ComponentPhase::Ready);
    assert_eq!(network.outputs["vpcId"], vpc_id);
    assert_eq!(network.outputs["privateSubnetIds"].split(',').count(), 2);

    for bucket in ["strata-staging-assets", "strata-staging-uploads"] {
        let tags = local_stack::bucket_tags(&h.s3, bucket)
            .await
            .expect("the bucket exists");
        for (k, v) in [
            ("strata:environment", "staging"),
            ("strata:component", "storage"),
            ("strata:managed-by", "strata"),
        ] {
            assert!(
                tags.contains(&(k.to_owned(), v.to_owned())),
                "{bucket}: {tags:?}"
            );
        }
        // moto 5.2.5 answers GetBucketVersioning with a root element the SDK rejects.
        let (_, versioning) = http(&h, "GET", &format!("/{bucket}?versioning"), "").await;
        assert!(
            versioning.contains("<Status>Enabled</Status>"),
            "{versioning}"
        );
        let block =
            h.s3.get_public_access_block()
                .bucket(bucket)
                .send()
                .await
                .unwrap();
        assert_eq!(
            block
                .public_access_block_configuration
                .unwrap()
                .block_public_acls,
            Some(true)
        );
        h.s3.get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
            .expect("encrypted");
    }
    let storage = h.component(Component::Storage).await;
    assert_eq!(storage.phase, ComponentPhase::Ready);
    assert_eq!(storage.observed_generation, 1);
    assert_eq!(storage.outputs["bucket.assets"], "strata-staging-assets");

    // The cluster: EKS with its node group in the private subnets and the access entry that
    // lets Strata's Kubernetes steps in (served by the local stack's fidelity layer).
    let cluster = h.component(Component::Cluster).await;
    assert_eq!(cluster.phase, ComponentPhase::Ready);
    let described = staging_cluster(&h).await;
    assert_eq!(described.version(), Some("1.31"));
    assert_eq!(
        described
            .tags()
            .unwrap()
            .get("strata:component")
            .map(String::as_str),
        Some("cluster")
    );
    let nodegroup = h
        .eks
        .describe_nodegroup()
        .cluster_name("strata-staging")
        .nodegroup_name(&cluster.outputs["nodegroupName"])
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap();
    let private = &network.outputs["privateSubnetIds"];
    assert_eq!(nodegroup.subnets().join(","), *private);
    assert_eq!(
        nodegroup.scaling_config().and_then(|s| s.desired_size()),
        Some(2)
    );
    h.eks
        .describe_access_entry()
        .cluster_name("strata-staging")
        .principal_arn("arn:aws:iam::123456789012:role/strata-local-KubernetesAccessRole")
        .send()
        .await
        .expect("the access entry for the Kubernetes role");

    // The database: encrypted, protected, its password in Secrets Manager; Strata keeps the
    // secret's ARN only.
    let database = h.component(Component::Database).await;
    assert_eq!(database.phase, ComponentPhase::Ready);
    let instance = staging_instance(&h).await;
    assert_eq!(instance.storage_encrypted(), Some(true));
    assert_eq!(instance.deletion_protection(), Some(true));
    assert_eq!(
        instance
            .db_subnet_group()
            .and_then(|g| g.db_subnet_group_name()),
        Some("strata-staging")
    );
    let secret = instance
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .expect("a managed master secret");
    assert_eq!(database.outputs["masterUserSecretArn"], secret);
    let status = h.status("staging").await;
    assert_eq!(status.credentials.len(), 1);
    assert_eq!(status.credentials[0].arn(), secret);

    // The Kubernetes layers, in the cluster simulator: the namespace, the database Secret
    // with the password from the RDS-managed secret (which Strata itself never records),
    // both services, the public one behind a load balancer the dns record points at.
    kubernetes_layers_are_up(&h, &env, secret).await;
    let master_secret = secret.to_owned();
    let versions_before = h.component(Component::Config).await.resource_ids;

    // A second up changes nothing: every server-side apply is a no-op.
    h.up_ready("staging", "up-staging-1-b").await;
    let status = h.status("staging").await;
    assert_eq!(status.state, EnvironmentState::Ready);
    assert_eq!(status.observed_generation, 1);
    assert_eq!(status.operation.unwrap().execution, "up-staging-1-b");
    let buckets =
        h.s3.list_buckets()
            .send()
            .await
            .unwrap()
            .buckets
            .unwrap_or_default();
    assert_eq!(buckets.len(), 2);
    assert_eq!(
        tagged_vpcs(&h).await.len(),
        1,
        "a second up creates nothing new"
    );
    // The local stack refuses what AWS refuses: a VPC with its gateway attached, a subnet
    // with a NAT gateway in it (moto alone would delete both).
    let refused = h.ec2.delete_vpc().vpc_id(&vpc_id).send().await.unwrap_err();
    assert_eq!(
        refused.as_service_error().and_then(|e| e.meta().code()),
        Some("DependencyViolation")
    );
    let nat = h
        .ec2
        .describe_nat_gateways()
        .send()
        .await
        .unwrap()
        .nat_gateways()[0]
        .subnet_id()
        .unwrap()
        .to_owned();
    let refused = h
        .ec2
        .delete_subnet()
        .subnet_id(&nat)
        .send()
        .await
        .unwrap_err();
    assert!(
        format!("{:?}", refused.as_service_error()).contains("a NAT gateway remains"),
        "{refused:?}"
    );
    assert_eq!(tagged_vpcs(&h).await.len(), 1);
    let nodegroups = h
        .eks
        .list_nodegroups()
        .cluster_name("strata-staging")
        .send()
        .await
        .unwrap();
    assert_eq!(nodegroups.nodegroups().len(), 1);
    assert_eq!(
        h.component(Component::Config).await.resource_ids,
        versions_before,
        "a re-apply changed a resourceVersion"
    );
    let balancers = h.elb.describe_load_balancers().send().await.unwrap();
    assert_eq!(balancers.load_balancers().len(), 1);

    // Both executions released the lock, and the history tells what happened.
    h.store
        .acquire("staging", "someone", 60, strata_testkit::now())
        .await
        .unwrap();
    let history = h.store.history("staging", 10, None).await.unwrap().items;
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["Ready", "OperationStarted", "Ready", "OperationStarted"]
    );

    // The database's password and the api's secret (which config copied into the cluster)
    // are nowhere Strata writes: the table, the executions, the logs, the bus.
    let password = master_password(&h, &master_secret).await;
    // The execution's name is everywhere: the control that the search can find at all.
    let searched = search
        .assert_clean(
            &h.stack,
            &[&password, strata_localstack::STAND_IN_SECRET_VALUE],
            "up-staging-1-a",
        )
        .await;
    assert!(
        searched.items > 10
            && searched.executions >= 2
            && searched.log_lines > 100
            && searched.events >= 4,
        "the search read too little to mean anything: {searched:?}"
    );
}

#[tokio::test]
async fn down_keeps_retained_buckets_with_their_data_and_deletes_the_others() {
    let h = harness().await;
    let mut env = h.store_staging().await;
    h.up("staging", "up-staging-1").await;
    h.upload("strata-staging-uploads", "invoice.pdf", b"%PDF")
        .await;
    let balancer = kubernetes_load_balancer(&h).await;

    // onDelete: retain (the default) keeps the buckets and what is in them.
    h.down_succeeds("staging", "down-staging-1").await;
    assert_eq!(h.state().await.0, EnvironmentState::Deleted);
    let kept = h.has_object("strata-staging-uploads", "invoice.pdf").await;
    assert!(kept, "a retained bucket lost its data");
    let storage = h.component(Component::Storage).await;
    assert_eq!(storage.phase, ComponentPhase::Retained);
    assert!(tagged_vpcs(&h).await.is_empty(), "the VPC outlived down");
    let addresses = h.ec2.describe_addresses().send().await.unwrap();
    assert!(
        addresses.addresses().is_empty(),
        "the NAT's address was not released"
    );
    let clusters = h.eks.list_clusters().send().await.unwrap();
    assert!(clusters.clusters().is_empty(), "the cluster outlived down");
    // The load balancer Kubernetes made, its target group and security group were swept
    // before the VPC went (the local stack refuses DeleteVpc while they remain).
    let balancers = h.elb.describe_load_balancers().send().await.unwrap();
    assert!(
        !balancers
            .load_balancers()
            .iter()
            .any(|lb| lb.load_balancer_arn() == Some(&balancer)),
        "the load balancer outlived down"
    );
    let groups = h.elb.describe_target_groups().send().await.unwrap();
    assert!(
        groups.target_groups().is_empty(),
        "the target group outlived down"
    );
    // Kubernetes released it (the Service went in the app step), not the network step's
    // sweep, which is the fallback for what a cluster leaves behind.
    let events = h.stack.cluster_simulator().events();
    assert!(
        events
            .iter()
            .any(|e| e == "service staging/ui: load balancer of cluster strata-staging deleted"),
        "{events:?}"
    );

    // onDelete: snapshot (the default): the instance is gone, its final snapshot stays,
    // tagged as this environment's, and the next up restores from it.
    let gone = h
        .rds
        .describe_db_instances()
        .db_instance_identifier("strata-staging")
        .send()
        .await;
    assert!(gone.is_err(), "the instance outlived down");
    let database = h.component(Component::Database).await;
    assert_eq!(database.phase, ComponentPhase::Deleted);
    let snapshot_id = database.outputs["finalSnapshotId"].clone();
    assert!(
        snapshot_id.starts_with("strata-staging-final-g1-"),
        "{snapshot_id}"
    );
    let snapshot = h
        .rds
        .describe_db_snapshots()
        .db_snapshot_identifier(&snapshot_id)
        .send()
        .await
        .unwrap()
        .db_snapshots
        .unwrap()
        .remove(0);
    let tags = h
        .rds
        .list_tags_for_resource()
        .resource_name(snapshot.db_snapshot_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        tags.tag_list()
            .iter()
            .any(|t| t.key() == Some("strata:environment") && t.value() == Some("staging")),
        "{tags:?}"
    );
    let status = h.status("staging").await;
    assert!(
        status.credentials.is_empty(),
        "a deleted database keeps no credential"
    );

    h.up("staging", "up-staging-1-again").await;
    let database = h.component(Component::Database).await;
    assert_eq!(database.phase, ComponentPhase::Ready);
    assert_eq!(database.resource_ids["restoredFrom"], snapshot_id);

    // onDelete: delete empties every version and removes the buckets, once an up applied
    // it: a delete acts on the policy in force, not on a spec stored since.
    env.spec.storage.as_mut().unwrap().on_delete = StorageOnDelete::Delete;
    let previous = h.store.get_spec("staging").await.unwrap();
    h.store.put_spec(&env, previous.as_ref(), 2).await.unwrap();
    h.up_ready("staging", "up-staging-2").await;
    h.upload("strata-staging-uploads", "invoice.pdf", b"%PDF-2")
        .await;
    h.down_succeeds("staging", "down-staging-2").await;
    for bucket in ["strata-staging-assets", "strata-staging-uploads"] {
        assert!(
            local_stack::bucket_tags(&h.s3, bucket).await.is_none(),
            "{bucket} still exists"
        );
    }
}

#[tokio::test]
async fn a_same_named_bucket_not_ours_fails_up_untouched_and_up_resumes_once_it_is_gone() {
    let h = harness().await;
    h.store_staging().await;
    local_stack::create_bucket(&h.s3, "strata-staging-uploads").await;

    let ended = h.up("staging", "up-staging-1-a").await;
    assert_eq!(ended.status, ExecutionStatus::Failed);
    assert_eq!(ended.error.as_deref(), Some("ResourceNotOwned"));
    assert_eq!(
        top_level(&ended, UP),
        [
            "Begin",
            "Scope?",
            "Teardown?",
            "Network + Storage + Custom components 0",
            "FinishFailed",
            "Failed"
        ]
    );
    let (state, message) = h.state().await;
    assert_eq!(state, EnvironmentState::Failed);
    assert!(
        message.contains("bucket strata-staging-uploads is not environment staging's storage"),
        "{message}"
    );
    assert_eq!(
        local_stack::bucket_tags(&h.s3, "strata-staging-uploads").await,
        Some(Vec::new()),
        "it was tagged"
    );
    let storage = h.component(Component::Storage).await;
    assert_eq!(storage.last_error.unwrap().error, "ResourceNotOwned");

    // The lock was released; once the foreign bucket is gone, a second up converges storage.
    h.s3.delete_bucket()
        .bucket("strata-staging-uploads")
        .send()
        .await
        .unwrap();
    let ended = h.up("staging", "up-staging-1-b").await;
    assert_eq!(top_level(&ended, UP), UP_PATH);
    let storage = h.component(Component::Storage).await;
    assert_eq!(storage.phase, ComponentPhase::Ready);
    assert!(storage.last_error.is_none());
}

#[tokio::test]
async fn a_held_lock_is_caught_by_its_error_type_and_nothing_changes() {
    let h = harness().await;
    h.store_staging().await;
    h.store
        .acquire("staging", "down-staging-1", 3600, strata_testkit::now())
        .await
        .unwrap();

    let ended = h.up("staging", "up-staging-1").await;
    assert_eq!(ended.status, ExecutionStatus::Failed);
    assert_eq!(ended.error.as_deref(), Some("LockHeld"));
    // The Catch on the handler's errorType routed to the Locked state.
    assert_eq!(ended.states_entered, ["Begin", "Locked"]);
    let cause = ended.cause.unwrap_or_default();
    assert!(cause.contains("locked by down-staging-1"), "{cause}");

    // The lock still belongs to its holder and no status was written.
    let held = h
        .store
        .acquire("staging", "up-staging-2", 60, strata_testkit::now())
        .await;
    assert!(held.is_err());
    assert!(h.store.get_status("staging").await.unwrap().is_none());
}

#[tokio::test]
async fn bad_console_input_fails_with_the_field_named() {
    let h = harness().await;
    h.store_staging().await;
    let cases = [
        (
            "bad-1",
            json!({"environment": "Staging!"}),
            "InvalidInput",
            "input.environment",
        ),
        (
            "bad-2",
            json!({"environment": "staging", "colour": "blue"}),
            "InvalidInput",
            "unknown field `colour`",
        ),
        (
            "bad-3",
            json!({}),
            "InvalidInput",
            "missing field `environment`",
        ),
        (
            "bad-4",
            json!({"environment": "staging", "pollSeconds": 9000}),
            "InvalidInput",
            "input.pollSeconds",
        ),
        (
            "bad-5",
            json!({"environment": "nowhere"}),
            "EnvironmentNotFound",
            "nowhere has no stored spec",
        ),
    ];
    for (name, input, error, cause) in cases {
        let ended = h.run(name, input).await;
        assert_eq!(ended.status, ExecutionStatus::Failed, "{name}");
        assert_eq!(ended.error.as_deref(), Some(error), "{name}");
        assert_eq!(ended.states_entered, ["Begin", "Rejected"], "{name}");
        let got = ended.cause.unwrap_or_default();
        assert!(got.contains(cause), "{name}: {got}");
    }
    // Rejected input touched nothing: no status, and the lock is free.
    assert!(h.store.get_status("staging").await.unwrap().is_none());
    h.store
        .acquire("staging", "x", 60, strata_testkit::now())
        .await
        .unwrap();
}

/// One plain HTTP/1.1 request to the local stack's endpoint: (lower-cased head, body).
async fn http(h: &Harness, method: &str, path: &str, body: &str) -> (String, String) {
    use std::io::{Read, Write};
    let endpoint = h.stack.endpoint().trim_start_matches("http://").to_owned();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {endpoint}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&endpoint).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        (head.to_ascii_lowercase(), body.to_owned())
    })
    .await
    .unwrap()
}

/// Lambda's Invoke API, as moto's interpreter and the SDK call it: a function error is HTTP
/// 200 with `X-Amz-Function-Error` and the handler's own errorType (cargo-lambda says 500).
#[tokio::test]
async fn the_router_gives_function_errors_lambda_semantics() {
    let h = harness().await;
    let body = json!({"action": "begin", "operation": "up", "execution": "x",
                      "input": {"environment": "BAD"}})
    .to_string();
    let path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Alifecycle/invocations";
    let (head, body) = http(&h, "POST", path, &body).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("\r\nx-amz-function-error: unhandled"),
        "{head}"
    );
    assert!(head.contains("\r\nx-amzn-requestid: "), "{head}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["errorType"], "InvalidInput");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("input.environment:")
    );
}

/// `examples/staging.yaml` stored under another name, so cases can run side by side.
async fn store_as(h: &Harness, name: &str) {
    store_with(h, name, |_| {}).await;
}

/// The example stored as `name`, after `change`.
async fn store_with(h: &Harness, name: &str, change: impl FnOnce(&mut Environment)) {
    // Side by side, each environment needs its own DNS name.
    let env = Staging::new().side_by_side(name).with(change).build();
    h.stand_in_and_store(&env, 1).await;
}

/// One environment's up with `fault` injected at `component`: Failed with the cause, the
/// lock released, and a second up converges the AWS layer.
async fn fails_then_converges(h: &Harness, name: &str, component: Component, fault: Fault) {
    store_as(h, name).await;
    let code = fault.code.clone();
    h.stack.inject(fault);
    let ended = h.up(name, &format!("up-{name}-1-a")).await;
    assert_eq!(ended.status, ExecutionStatus::Failed, "{name}");
    assert_eq!(
        ended.error.as_deref(),
        Some("AwsRejected"),
        "{name}: {:?}",
        ended.cause
    );
    let path = top_level(&ended, UP);
    assert_eq!(
        path[path.len() - 2..],
        ["FinishFailed", "Failed"],
        "{name}: {:?}",
        ended.states_entered
    );
    let status = h.status(name).await;
    assert_eq!(status.state, EnvironmentState::Failed, "{name}");
    assert!(status.message.contains(&code), "{name}: {}", status.message);
    let recorded = h.component_of(name, component).await;
    assert_eq!(recorded.last_error.unwrap().error, "AwsRejected", "{name}");
    // The lock is free: anyone may take it (and give it back).
    h.store
        .acquire(name, "probe", 60, strata_testkit::now())
        .await
        .unwrap();
    h.store.release(name, "probe").await.unwrap();

    h.up_ready(name, &format!("up-{name}-1-b")).await;
    let recorded = h.component_of(name, component).await;
    assert_eq!(recorded.phase, ComponentPhase::Ready, "{name}");
    assert!(recorded.last_error.is_none(), "{name}");
}

#[tokio::test]
async fn a_failure_at_each_component_ends_failed_with_the_lock_released_and_up_resumes() {
    let h = harness().await;
    tokio::join!(
        fails_then_converges(
            &h,
            "f-network",
            Component::Network,
            Fault::ec2("CreateVpc", "f-network", 400, "VpcLimitExceeded"),
        ),
        fails_then_converges(
            &h,
            "f-storage",
            Component::Storage,
            Fault::s3("PUT /strata-f-storage-assets", "", 403, "AccessDenied"),
        ),
        fails_then_converges(
            &h,
            "f-cluster",
            Component::Cluster,
            Fault::rest_json(
                "POST /clusters",
                "strata-f-cluster",
                400,
                "InvalidParameterException"
            ),
        ),
        fails_then_converges(
            &h,
            "f-database",
            Component::Database,
            Fault::query(
                "CreateDBInstance",
                "strata-f-database",
                400,
                "InvalidParameterCombination"
            ),
        ),
    );
    assert_eq!(h.stack.pending_faults(), 0, "every fault was hit");
}

#[tokio::test]
async fn transient_errors_are_retried_by_the_sdk_then_by_the_state_machine() {
    let h = harness().await;
    store_as(&h, "flaky").await;
    // Four 503s: the SDK's three attempts fail, the step reports AwsTransient, the state
    // machine retries it after its backoff, and the fourth 503 is followed by success.
    h.stack
        .inject(Fault::s3("PUT /strata-flaky-assets", "", 503, "ServiceUnavailable").times(4));
    let ended = h.up_ready("flaky", "up-flaky-1").await;
    assert_eq!(h.stack.pending_faults(), 0);
    let storage = h.component_of("flaky", Component::Storage).await;
    assert_eq!(storage.phase, ComponentPhase::Ready);
    let storage_steps = ended
        .states_entered
        .iter()
        .filter(|s| *s == "Storage")
        .count();
    assert!(storage_steps >= 1, "{:?}", ended.states_entered);
}

/// What the AWS load balancer controller makes for a `LoadBalancer` Service: a security
/// group, a load balancer in the public subnets and a target group, all tagged
/// `elbv2.k8s.aws/cluster`. Returns the load balancer's ARN.
async fn kubernetes_load_balancer(h: &Harness) -> String {
    use aws_sdk_elasticloadbalancingv2::types::Tag as ElbTag;
    let network = h.component(Component::Network).await;
    let vpc = &network.outputs["vpcId"];
    let k8s_tags = |b: aws_sdk_ec2::types::builders::TagSpecificationBuilder| {
        b.tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("elbv2.k8s.aws/cluster")
                .value("strata-staging")
                .build(),
        )
    };
    let group = h
        .ec2
        .create_security_group()
        .group_name("k8s-shop-ui-1a2b3c")
        .description("[k8s] Managed SecurityGroup for LoadBalancer")
        .vpc_id(vpc)
        .tag_specifications(
            k8s_tags(
                aws_sdk_ec2::types::TagSpecification::builder()
                    .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup),
            )
            .build(),
        )
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let tag = |k: &str, v: &str| ElbTag::builder().key(k).value(v).build();
    let balancer = h
        .elb
        .create_load_balancer()
        .name("k8s-shop-ui-1a2b3c")
        .set_subnets(Some(
            network.outputs["publicSubnetIds"]
                .split(',')
                .map(str::to_owned)
                .collect(),
        ))
        .security_groups(group)
        .tags(tag("elbv2.k8s.aws/cluster", "strata-staging"))
        .tags(tag("service.k8s.aws/stack", "shop/ui"))
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_owned();
    h.elb
        .create_target_group()
        .name("k8s-shop-ui-tg")
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Tcp)
        .port(8080)
        .vpc_id(vpc)
        .tags(tag("elbv2.k8s.aws/cluster", "strata-staging"))
        .send()
        .await
        .unwrap();
    balancer
}

#[tokio::test]
async fn resources_still_creating_are_polled_until_ready() {
    let h = harness().await;
    store_as(&h, "slow").await;
    // moto makes everything at once; the router makes RDS and EKS say "still creating" for
    // three more polls each, as AWS does for minutes.
    h.stack.delay(local_stack::database_creating("slow", 3));
    h.stack.delay(local_stack::cluster_creating("slow", 3));
    let ended = h.up_ready("slow", "up-slow-1").await;
    assert_eq!(h.stack.pending_delays(), 0, "every delay was seen");
    let waits = |state: &str| ended.states_entered.iter().filter(|s| *s == state).count();
    assert!(waits("Database wait") >= 3, "{:?}", ended.states_entered);
    assert!(waits("Cluster wait") >= 3, "{:?}", ended.states_entered);
    for component in [Component::Cluster, Component::Database] {
        let recorded = h.component_of("slow", component).await;
        assert_eq!(recorded.phase, ComponentPhase::Ready, "{component}");
    }
}

/// The Deployment `name` of staging in the simulator: (image, replicas).
fn workload(h: &Harness, name: &str) -> (String, u64) {
    let deployment = h
        .stack
        .cluster_simulator()
        .object("strata-staging", "apps/v1", "deployments", "staging", name)
        .unwrap_or_else(|| panic!("no Deployment {name}"));
    (
        deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_owned(),
        deployment["spec"]["replicas"].as_u64().unwrap(),
    )
}

fn serving_color(h: &Harness, service: &str) -> String {
    h.stack
        .cluster_simulator()
        .object("strata-staging", "v1", "services", "staging", service)
        .unwrap()["spec"]["selector"]["strata.dev/color"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn new_versions_roll_out_a_failed_migration_keeps_the_old_one_and_blue_green_rolls_back() {
    let h = harness().await;
    let env = h.store_staging().await;
    h.up_ready("staging", "up-staging-1-a").await;
    let ui_image = &env.spec.app.services[0].image;
    let api_image = &env.spec.app.services[1].image;
    assert_eq!(serving_color(&h, "ui"), "blue");
    assert_eq!(workload(&h, "api").0, format!("{api_image}:2.3.0"));

    // New tags in both repositories; api's migration to 2.3.1 fails.
    h.stack
        .push_image("eu-west-1", "shop/ui", "1.4.2")
        .await
        .unwrap();
    h.stack
        .push_image("eu-west-1", "shop/api", "2.3.1")
        .await
        .unwrap();
    h.stack
        .push_image("eu-west-1", "shop/api", "2.4.0")
        .await
        .unwrap();
    h.stack.cluster_simulator().fail_jobs(":2.3.1", 1);
    let ended = h.up("staging", "up-staging-1-b").await;
    assert_eq!(
        ended.error.as_deref(),
        Some("MigrationFailed"),
        "{:?}",
        ended.cause
    );
    let cause = ended.cause.unwrap_or_default();
    assert!(cause.contains("BackoffLimitExceeded"), "{cause}");
    assert_eq!(
        workload(&h, "api").0,
        format!("{api_image}:2.3.0"),
        "the old api version keeps serving"
    );
    let (state, message) = h.state().await;
    assert_eq!(state, EnvironmentState::Failed);
    assert!(message.contains("api-migrate-2-3-1"), "{message}");

    // A fixed version: the migration runs, api rolls, ui comes up green beside blue.
    h.stack
        .push_image("eu-west-1", "shop/api", "2.3.2")
        .await
        .unwrap();
    h.up_ready("staging", "up-staging-1-c").await;
    assert_eq!(workload(&h, "api").0, format!("{api_image}:2.3.2"));
    assert_eq!(serving_color(&h, "ui"), "green");
    assert_eq!(workload(&h, "ui-green"), (format!("{ui_image}:1.4.2"), 2));
    assert_eq!(
        workload(&h, "ui-blue"),
        (format!("{ui_image}:1.4.0"), 2),
        "the old colour stays scaled for a rollback"
    );
    let app = h.component(Component::App).await;
    assert_eq!(app.outputs["service.ui.version"], "1.4.2");
    assert_eq!(app.outputs["service.ui.color"], "green");
    assert_eq!(app.outputs["service.ui.previousColor"], "blue");

    // Drift: replicas changed behind Strata's back come back with the next up.
    h.stack
        .scale_deployment("eu-west-1", "strata-staging", "staging", "api", 5)
        .await
        .unwrap();
    assert_eq!(workload(&h, "api").1, 5);
    h.up_ready("staging", "up-staging-1-d").await;
    assert_eq!(workload(&h, "api").1, 2, "the drifted field was restored");

    // Rollback is instant: the selector goes back to the colour still running.
    let app = strata_app::App::new(h.stack.sdk_config());
    let switched = app.rollback(&env).await.unwrap();
    assert_eq!(switched["ui"], "blue");
    assert_eq!(serving_color(&h, "ui"), "blue");
    // A second rollback goes forward again; there is always exactly one previous colour.
    assert_eq!(app.rollback(&env).await.unwrap()["ui"], "green");
}

#[tokio::test]
async fn the_cluster_simulator_refuses_a_token_for_another_cluster() {
    let h = harness().await;
    h.store_staging().await;
    h.up_ready("staging", "up-staging-1").await;
    // The endpoint of strata-staging, with a token minted for another cluster's name.
    let described = staging_cluster(&h).await;
    let endpoint = described.endpoint().unwrap().to_owned();
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{endpoint}");
    let ca = described
        .certificate_authority()
        .and_then(|c| c.data())
        .map(str::to_owned);
    let credentials = aws_credential_types::Credentials::new("testing", "testing", None, None, "t");
    for (cluster, expected) in [("strata-other", 401), ("strata-staging", 200)] {
        let token = strata_kubernetes::token::token(
            &credentials,
            "eu-west-1",
            cluster,
            std::time::SystemTime::now(),
        )
        .unwrap();
        let client = strata_kubernetes::client(&endpoint, ca.as_deref(), token).unwrap();
        let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
        let answer = namespaces.get("staging").await;
        let code = match answer {
            Ok(_) => 200,
            Err(kube::Error::Api(status)) => status.code,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(code, expected, "a token for {cluster}");
    }
}

/// What the sync schedule's run at `secs` answers.
async fn run_schedule(h: &Harness, secs: u64) -> serde_json::Value {
    let at = scheduled_time(secs);
    h.stack.run_schedule("SyncSchedule", &at).await.unwrap()
}

/// RFC 3339, as EventBridge Scheduler writes `<aws.scheduler.scheduled-time>`.
fn scheduled_time(secs: u64) -> String {
    aws_sdk_dynamodb::primitives::DateTime::from_secs(secs as i64)
        .fmt(aws_sdk_dynamodb::primitives::DateTimeFormat::DateTime)
        .unwrap()
}

#[tokio::test]
async fn the_schedule_warns_then_destroys_an_expired_environment_and_spares_the_others() {
    let h = harness().await;
    let queue = state_change_queue(&h).await;
    let created = strata_testkit::now();
    for name in ["pr-7", "pr-8", "pr-9"] {
        let env = Staging::new().side_by_side(name).ttl(Some("2h")).build();
        h.store_scheduled(&env, created).await;
    }
    h.up_ready("pr-7", "up-pr-7-1").await;
    h.upload("strata-pr-7-uploads", "invoice.pdf", b"%PDF")
        .await;
    // pr-8's owner extends it by a day; pr-9 is in the middle of an operation.
    let mut pr8 = h.store.get_sync("pr-8").await.unwrap().unwrap();
    pr8.value.ttl_extension = 86_400;
    h.store
        .put_sync("pr-8", &pr8.value, Some(pr8.version))
        .await
        .unwrap();
    h.store
        .acquire("pr-9", "up-pr-9-1", 4 * 3600, created)
        .await
        .unwrap();

    // Half an hour before expiry: the hour-ahead warning for pr-7 (and pr-9 is skipped).
    let expiry = created + 7200;
    let report = run_schedule(&h, expiry - 1800).await;
    assert_eq!(
        (&report["due"], &report["synced"], &report["skipped"]),
        (&json!(3), &json!(2), &json!(1)),
        "{report}"
    );
    // Progressing and Ready of pr-7's up, then the warning.
    let warnings = received_of(&h, &queue, 3, "Strata Environment TTL Warning").await;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["detail"]["environment"], "pr-7");
    assert_eq!(warnings[0]["detail"]["expiresAt"], expiry);
    assert_eq!(warnings[0]["detail"]["leadSeconds"], 3600);

    // Past expiry: pr-7 goes through environment-down; pr-8 (extended) and pr-9 (locked)
    // are left alone.
    let report = run_schedule(&h, expiry + 60).await;
    assert_eq!(
        (&report["expired"], &report["synced"], &report["skipped"]),
        (&json!(1), &json!(1), &json!(1)),
        "{report}"
    );
    h.succeeded(&h.down, &format!("ttl-pr-7-{expiry}")).await;
    let status = h.status("pr-7").await;
    assert_eq!(status.state, EnvironmentState::Deleted);
    // The same data safety as any down: the retained bucket keeps its data.
    let kept = h.has_object("strata-pr-7-uploads", "invoice.pdf").await;
    assert!(kept, "a TTL's down lost a retained bucket's data");
    assert_eq!(h.store.get_sync("pr-7").await.unwrap(), None, "unscheduled");
    for spared in ["pr-8", "pr-9"] {
        let status = h.store.get_status(spared).await.unwrap();
        assert!(
            status.is_none_or(|s| s.value.state != EnvironmentState::Deleted),
            "{spared} was destroyed"
        );
    }
    let history = h.store.history("pr-9", 10, None).await.unwrap();
    assert!(
        history.items[0]
            .message
            .contains("skipped: up-pr-9-1 holds the lease"),
        "{:?}",
        history.items[0]
    );
}

/// The serving version of each service, as the app step recorded it.
async fn serving_versions(h: &Harness, name: &str) -> (String, String) {
    let app = h.component_of(name, Component::App).await;
    (
        app.outputs["service.ui.version"].clone(),
        app.outputs["service.api.version"].clone(),
    )
}

#[tokio::test]
async fn an_ecr_push_rolls_the_new_version_out_through_the_fast_path() {
    let h = harness().await;
    let queue = state_change_queue(&h).await;
    let created = strata_testkit::now();
    // img-1 deploys new images (the example's `sync.images: deploy`); img-2 runs the same
    // images under `report`; img-3 runs other repositories.
    for name in ["img-1", "img-2", "img-3"] {
        let mut env = Staging::new().side_by_side(name).build();
        if name == "img-2" {
            env.spec.sync.images = strata_core::spec::ImagePolicy::Report;
        }
        if name == "img-3" {
            for service in &mut env.spec.app.services {
                service.image = service.image.replace("shop/", "blog/");
            }
        }
        h.store_scheduled(&env, created).await;
        // What the API's apply does.
        h.store
            .index_images(name, &env.images(), &[])
            .await
            .unwrap();
    }
    h.up_ready("img-1", "up-img-1-1").await;
    h.up_ready("img-2", "up-img-2-1").await;
    // The stand-in pushed the lowest versions the constraints name.
    assert_eq!(
        serving_versions(&h, "img-1").await,
        ("1.4.0".into(), "2.3.0".into())
    );

    // CI pushes ui 1.4.7 (within ^1.4) and 2.0.0 (not); EventBridge delivers the push.
    for tag in ["1.4.7", "2.0.0"] {
        h.stack
            .push_image("eu-west-1", "shop/ui", tag)
            .await
            .unwrap();
    }
    let delivered = h
        .stack
        .deliver_ecr_push(
            "eu-west-1",
            "shop/ui",
            "1.4.7",
            &scheduled_time(created + 60),
        )
        .await
        .unwrap();
    assert_eq!(delivered.len(), 1, "only the EcrPush rule matches");
    let (function, report) = &delivered[0];
    assert_eq!(function, "SyncFunction");
    assert_eq!(
        (&report["due"], &report["synced"], &report["failed"]),
        (&json!(2), &json!(2), &json!([])),
        "img-1 and img-2 use shop/ui; img-3 is not looked at: {report}"
    );

    // img-1: the app-only up rolls 1.4.7 out; nothing below the app layer runs.
    let rollout = h.store.history("img-1", 1, None).await.unwrap().items[0].clone();
    let execution = rollout.execution.clone().expect("a rollout was started");
    assert!(execution.starts_with("images-img-1-1-"), "{rollout:?}");
    h.up_succeeded(&execution).await;
    assert_eq!(
        serving_versions(&h, "img-1").await,
        ("1.4.7".into(), "2.3.0".into())
    );
    let status = h.status("img-1").await;
    assert_eq!(status.state, EnvironmentState::Ready);
    assert_eq!(
        status.components[&Component::Network].observed_generation,
        1,
        "the network was not touched"
    );

    // img-2 (report): still serving 1.4.0, the update recorded in its status.
    assert_eq!(serving_versions(&h, "img-2").await.0, "1.4.0");
    let status = h.status("img-2").await;
    let recorded: Vec<(String, String, String)> = status
        .image_updates
        .iter()
        .map(|u| (u.service.clone(), u.deployed.clone(), u.available.clone()))
        .collect();
    assert_eq!(recorded, [("ui".into(), "1.4.0".into(), "1.4.7".into())]);

    // Both announced on the bus; img-1's names its rollout.
    let updates = received_of(&h, &queue, 8, "Strata Environment Update Available").await;
    let mut announced: Vec<(String, String, bool)> = updates
        .iter()
        .map(|e| {
            (
                e["detail"]["environment"].as_str().unwrap().to_owned(),
                e["detail"]["available"].as_str().unwrap().to_owned(),
                e["detail"]["execution"].is_string(),
            )
        })
        .collect();
    announced.sort();
    assert_eq!(
        announced,
        [
            ("img-1".into(), "1.4.7".into(), true),
            ("img-2".into(), "1.4.7".into(), false)
        ]
    );

    // The next sync of img-1 finds it up to date and clears the record.
    let outcome = sync(&h, "img-1").await;
    assert_eq!(outcome["outcome"], "synced", "{outcome}");
    assert!(outcome.get("updates").is_none(), "{outcome}");
    let status = h.status("img-1").await;
    assert!(
        status.image_updates.is_empty(),
        "{:?}",
        status.image_updates
    );
    assert!(
        h.store
            .history("img-3", 10, None)
            .await
            .unwrap()
            .items
            .is_empty(),
        "img-3 was never synced"
    );
}

#[tokio::test]
async fn drift_made_behind_strata_s_back_is_reported_by_path_and_repaired_leaving_the_rest() {
    let h = harness().await;
    let queue = state_change_queue(&h).await;
    let env = strata_testkit::staging();
    h.store_scheduled(&env, 1).await;
    h.up_ready("staging", "up-staging-1").await;
    let network = h.component(Component::Network).await;
    let cluster = h.component(Component::Cluster).await;
    let nodegroup = cluster.resource_ids["nodegroupName"].clone();
    let database_before = staging_instance(&h).await;

    // In sync: the sync finds nothing.
    let outcome = sync(&h, "staging").await;
    assert_eq!(outcome["outcome"], "synced", "{outcome}");
    assert!(outcome.get("drift").is_none(), "{outcome}");

    // The inventory: what the Tagging API lists, and the EKS, Route 53, ECR and Elastic IP
    // resources it does not, each by type and id.
    let status = h.status("staging").await;
    let listed: Vec<String> = status
        .inventory
        .iter()
        .map(|i| format!("{} {}", i.resource_type, i.id))
        .collect();
    assert_eq!(outcome["resources"], listed.len(), "{outcome}");
    for expected in [
        format!("ec2:vpc {}", network.resource_ids["vpcId"]),
        format!("ec2:natgateway {}", network.resource_ids["natGatewayId.0"]),
        "rds:db strata-staging".to_owned(),
        "s3:bucket strata-staging-assets".to_owned(),
        "s3:bucket strata-staging-uploads".to_owned(),
        "eks:cluster strata-staging".to_owned(),
        format!("eks:nodegroup {nodegroup}"),
        "route53:record staging.example.com. A".to_owned(),
        "ecr:repository shop/ui".to_owned(),
        "ecr:repository shop/api".to_owned(),
    ] {
        assert!(listed.contains(&expected), "{expected} not in {listed:#?}");
    }
    for kind in ["ec2:subnet", "ec2:route-table", "ec2:elastic-ip"] {
        assert!(
            listed.iter().any(|l| l.starts_with(kind)),
            "no {kind} in {listed:#?}"
        );
    }
    let cluster_item = status
        .inventory
        .iter()
        .find(|i| i.resource_type == "eks:cluster")
        .unwrap();
    assert_eq!(cluster_item.state.as_deref(), Some("ACTIVE"));
    assert_eq!(cluster_item.attributes["version"], "1.31");
    assert_eq!(cluster_item.tags["strata:environment"], "staging");

    // Behind Strata's back: the node group scaled, a bucket's tag removed, a Deployment's
    // replicas changed, the DNS record deleted.
    h.stack
        .scale_node_group("eu-west-1", "strata-staging", &nodegroup, 3)
        .await
        .unwrap();
    let mut kept = local_stack::bucket_tags(&h.s3, "strata-staging-assets")
        .await
        .expect("the bucket exists");
    kept.retain(|(key, _)| key != "strata:component");
    local_stack::put_bucket_tags(&h.s3, "strata-staging-assets", kept).await;
    h.stack
        .scale_deployment("eu-west-1", "strata-staging", "staging", "api", 5)
        .await
        .unwrap();
    let zone = hosted_zone(&h).await;
    let record = staging_record(&h, &zone).await.unwrap();
    h.route53
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            aws_sdk_route53::types::ChangeBatch::builder()
                .changes(
                    aws_sdk_route53::types::Change::builder()
                        .action(aws_sdk_route53::types::ChangeAction::Delete)
                        .resource_record_set(record)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // The sync reports each by its path; the example's policy is repair.
    let outcome = sync(&h, "staging").await;
    let drift = outcome["drift"].as_array().expect("drift found").clone();
    let by_component = |name: &str| -> serde_json::Value {
        drift
            .iter()
            .find(|d| d["component"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no drift of {name}: {outcome}"))
    };
    let cluster_drift = by_component("cluster");
    assert_eq!(cluster_drift["drift"], "drifted");
    assert_eq!(
        cluster_drift["fields"],
        json!([{
            "path": format!("nodegroup {nodegroup}/scalingConfig.desiredSize"),
            "expected": "2",
            "observed": "3"
        }])
    );
    assert_eq!(
        by_component("storage")["fields"],
        json!([{
            "path": "bucket strata-staging-assets/tags.strata:component",
            "expected": "storage",
            "observed": "absent"
        }])
    );
    assert_eq!(
        by_component("app")["fields"],
        json!([{
            "path": "Deployment staging/api/spec.replicas",
            "expected": "2",
            "observed": "5"
        }])
    );
    assert_eq!(by_component("dns")["drift"], "missing");
    assert_eq!(
        by_component("dns")["resources"],
        json!(["record staging.example.com."])
    );
    assert_eq!(drift.len(), 4, "nothing else drifted: {outcome}");
    let status = h.status("staging").await;
    assert_eq!(status.drift.len(), 4);
    let drifted = received_of(&h, &queue, 3, "Strata Environment Drifted").await;
    assert_eq!(drifted.len(), 1, "{drifted:?}");
    assert_eq!(
        drifted[0]["detail"]["components"].as_array().unwrap().len(),
        4
    );

    // Repair: the named up restores each field.
    let repair = outcome["repair"]
        .as_str()
        .expect("a repair started")
        .to_owned();
    assert!(repair.starts_with("repair-staging-1-"), "{repair}");
    assert_eq!(drifted[0]["detail"]["repair"], repair.as_str());
    h.up_succeeded(&repair).await;
    let group = h
        .eks
        .describe_nodegroup()
        .cluster_name("strata-staging")
        .nodegroup_name(&nodegroup)
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap();
    assert_eq!(group.scaling_config().unwrap().desired_size(), Some(2));
    let tags = local_stack::bucket_tags(&h.s3, "strata-staging-assets").await;
    assert!(
        tags.expect("the bucket exists")
            .iter()
            .any(|(key, value)| key == "strata:component" && value == "storage")
    );
    assert_eq!(workload(&h, "api").1, 2);
    assert!(staging_record(&h, &zone).await.is_some());

    // Nothing else was touched: the same VPC, the same database instance and generation.
    assert_eq!(
        h.component(Component::Network).await.resource_ids["vpcId"],
        network.resource_ids["vpcId"]
    );
    let database_after = staging_instance(&h).await;
    assert_eq!(
        database_after.instance_create_time(),
        database_before.instance_create_time()
    );
    assert_eq!(
        h.store
            .get_spec("staging")
            .await
            .unwrap()
            .unwrap()
            .generation,
        1
    );

    // The next sync finds all in sync again and clears the record.
    let outcome = sync(&h, "staging").await;
    assert!(outcome.get("drift").is_none(), "{outcome}");
    let status = h.status("staging").await;
    assert!(status.drift.is_empty(), "{:?}", status.drift);
    assert_eq!(env.name(), "staging");
}

/// The default route of the environment's public route table, and the table's id.
async fn public_route(h: &Harness) -> (String, Option<String>) {
    let tables = h
        .ec2
        .describe_route_tables()
        .filters(ec2_filter("tag:strata:role", "rt-public"))
        .filters(ec2_filter("tag:strata:environment", "staging"))
        .send()
        .await
        .unwrap();
    let table = tables.route_tables()[0].clone();
    let via = table
        .routes()
        .iter()
        .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
        .and_then(|r| r.gateway_id().map(str::to_owned));
    (table.route_table_id().unwrap().to_owned(), via)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_in_the_network_the_database_and_config_is_found_repaired_and_secrets_never_shown() {
    let h = harness().await;
    let search = strata_localstack::secrets::SecretSearch::start(&h.stack).await;
    h.store_scheduled(&strata_testkit::staging(), 1).await;
    h.up_ready("staging", "up-staging-1").await;

    // Every component is compared against the emulator and the cluster, and all agree.
    let outcome = sync(&h, "staging").await;
    assert_eq!(outcome["outcome"], "synced", "{outcome}");
    assert!(outcome.get("drift").is_none(), "{outcome}");

    // Behind Strata's back: the public default route deleted, the backups shortened, the
    // bucket name in the ConfigMap and a secret value in the service's Secret edited.
    let (table, gateway) = public_route(&h).await;
    let gateway = gateway.expect("the public table routes to the internet gateway");
    h.ec2
        .delete_route()
        .route_table_id(&table)
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    h.rds
        .modify_db_instance()
        .db_instance_identifier("strata-staging")
        .backup_retention_period(1)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let client = strata_kubernetes::ClusterAccess(h.stack.sdk_config())
        .connect("eu-west-1", "strata-staging")
        .await
        .unwrap()
        .unwrap();
    let by_hand = kube::api::PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    let config_maps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), "staging");
    config_maps
        .patch(
            "storage",
            &by_hand,
            &kube::api::Patch::Merge(json!({"data": {"BUCKET_ASSETS": "someone-elses-bucket"}})),
        )
        .await
        .unwrap();
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client, "staging");
    let secret_before = secrets.get("api-env").await.unwrap().data;
    secrets
        .patch(
            "api-env",
            &by_hand,
            &kube::api::Patch::Merge(
                json!({"data": {"PAYMENTS_API_KEY": strata_kubernetes::base64(b"typed-by-hand")}}),
            ),
        )
        .await
        .unwrap();

    let outcome = sync(&h, "staging").await;
    let drift = outcome["drift"].as_array().expect("drift found").clone();
    let fields = |name: &str| {
        drift
            .iter()
            .find(|d| d["component"] == name)
            .unwrap_or_else(|| panic!("no drift of {name}: {outcome}"))["fields"]
            .clone()
    };
    assert_eq!(
        fields("network"),
        json!([{
            "path": format!("route table {table}/routes[0.0.0.0/0]"),
            "expected": gateway,
            "observed": "absent",
        }])
    );
    assert_eq!(
        fields("database"),
        json!([{
            "path": "db instance strata-staging/backupRetentionPeriod",
            "expected": "7",
            "observed": "1",
        }])
    );
    assert_eq!(
        fields("config"),
        json!([
            {
                "path": "ConfigMap staging/storage/data.BUCKET_ASSETS",
                "expected": "strata-staging-assets",
                "observed": "someone-elses-bucket",
            },
            {
                "path": "Secret staging/api-env/data.PAYMENTS_API_KEY",
                "expected": "the value from its source",
                "observed": "another value",
            },
        ])
    );
    assert_eq!(drift.len(), 3, "nothing else drifted: {outcome}");
    // Neither the secret's value nor the one typed over it is in the answer or the status.
    let status = h.status("staging").await;
    for shown in [outcome.to_string(), serde_json::to_string(&status).unwrap()] {
        for secret in [
            strata_localstack::STAND_IN_SECRET_VALUE,
            "typed-by-hand",
            &strata_kubernetes::base64(b"typed-by-hand"),
        ] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
    }

    // The repair puts each back.
    let repair = outcome["repair"].as_str().expect("a repair started");
    h.up_succeeded(repair).await;
    assert_eq!(public_route(&h).await, (table, Some(gateway)));
    let database = staging_instance(&h).await;
    assert_eq!(database.backup_retention_period(), Some(7));
    assert_eq!(
        config_maps.get("storage").await.unwrap().data.unwrap()["BUCKET_ASSETS"],
        "strata-staging-assets"
    );
    assert_eq!(secrets.get("api-env").await.unwrap().data, secret_before);

    let outcome = sync(&h, "staging").await;
    assert!(outcome.get("drift").is_none(), "{outcome}");

    // After two syncs and a repair: neither secret value is anywhere Strata writes.
    let (hits, searched) = search
        .hits(
            &h.stack,
            &[strata_localstack::STAND_IN_SECRET_VALUE, "typed-by-hand"],
        )
        .await;
    println!("secret search: {searched:?}; {} hits", hits.len());
    assert!(hits.is_empty(), "{hits:#?}");
    assert!(
        searched.executions >= 2 && searched.events >= 4,
        "{searched:?}"
    );
}

/// IAM is enforced on the local stack: with `ecr:DescribeImages` taken from the app step's
/// role (the permission the first round's template lacked), `up` fails at the app layer with
/// AWS's AccessDenied naming the action, and everything below it is untouched by the denial.
#[tokio::test]
async fn a_permission_missing_from_a_role_fails_up_naming_the_action() {
    let h = harness().await;
    assert!(h.stack.revoke("AppFunction", "ecr:DescribeImages"));
    store_as(&h, "no-ecr").await;
    let ended = h.up("no-ecr", "up-no-ecr-1-a").await;
    assert_eq!(ended.status, ExecutionStatus::Failed, "{:?}", ended.cause);
    let app = h.component_of("no-ecr", Component::App).await;
    let error = app.last_error.expect("the app step recorded its error");
    assert!(
        error.cause.contains("ecr:DescribeImages") && error.cause.contains("not authorized"),
        "{error:?}"
    );
    // The layers below were allowed all they needed.
    for component in [Component::Network, Component::Cluster, Component::Config] {
        let recorded = h.component_of("no-ecr", component).await;
        assert_eq!(recorded.phase, ComponentPhase::Ready, "{component:?}");
    }
}

/// `natGateways: perAz` beside another environment's NAT gateway in the same region (moto
/// ignores the `tag:` filters of DescribeNatGateways, as the first round's handler did not
/// expect): one gateway per AZ, each private route table through its own AZ's, and the other
/// environment's gateway untouched by either up.
#[tokio::test]
async fn per_az_nat_gateways_are_one_per_az_each_with_its_own_route() {
    let h = harness().await;
    store_as(&h, "nat-single").await;
    h.up_ready("nat-single", "up-nat-single-1-a").await;
    store_with(&h, "nat-per-az", |env| {
        env.spec.network.cidr = "10.41.0.0/16".to_owned();
        env.spec.network.nat_gateways = strata_core::spec::NatGateways::PerAz;
        env.spec.network.az_count = 3;
    })
    .await;
    h.up_ready("nat-per-az", "up-nat-per-az-1-a").await;

    let mut ids = Vec::new();
    for name in ["nat-single", "nat-per-az"] {
        ids.push(h.component_of(name, Component::Network).await.resource_ids);
    }
    let (single, per_az) = (&ids[0], &ids[1]);
    let nats: BTreeSet<&String> = (0..3)
        .map(|i| &per_az[&format!("natGatewayId.{i}")])
        .collect();
    assert_eq!(nats.len(), 3, "one NAT gateway per AZ: {per_az:?}");
    assert!(!nats.contains(&single["natGatewayId.0"]), "{per_az:?}");
    let tables = h
        .ec2
        .describe_route_tables()
        .filters(ec2_filter("vpc-id", &per_az["vpcId"]))
        .send()
        .await
        .unwrap();
    for i in 0..3 {
        let role = format!("rt-private-{i}");
        let table = tables
            .route_tables()
            .iter()
            .find(|t| {
                t.tags()
                    .iter()
                    .any(|tag| tag.key() == Some("strata:role") && tag.value() == Some(&role))
            })
            .unwrap_or_else(|| panic!("no {role}"));
        let default = table
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .and_then(|r| r.nat_gateway_id())
            .map(str::to_owned);
        assert_eq!(
            default.as_ref(),
            Some(&per_az[&format!("natGatewayId.{i}")]),
            "{role}"
        );
    }
    // The other environment's gateway is still there and still its own.
    let other = h
        .ec2
        .describe_nat_gateways()
        .nat_gateway_ids(&single["natGatewayId.0"])
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.nat_gateways()[0].state(),
        Some(&aws_sdk_ec2::types::NatGatewayState::Available)
    );
}
