//! Sleep and wake end to end: a sleep scales the node group and every Deployment to 0,
//! stops the database and removes the NAT gateways while keeping their addresses, the DNS
//! records and every other resource; a wake returns each resource to the same id and size,
//! with new NAT gateways on the same addresses. Then the sleep schedule drives both through
//! the sync.

use std::collections::BTreeMap;

use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use strata_control::{Launch, Trigger};
use strata_core::{EnvironmentState, Scope};
use strata_store::prelude::*;

use strata_testkit::local_stack;

const NAME: &str = "sleepy";
const CLUSTER: &str = "strata-sleepy";

/// The local stack the environment sleeps on, driven as the API drives it.
struct Sleepy {
    driven: local_stack::Driven,
}

/// What the environment is made of: resource ids and sizes, by what they are.
type Shape = BTreeMap<String, String>;

impl Sleepy {
    async fn new() -> Self {
        Self {
            driven: local_stack::driven().await,
        }
    }

    /// Starts `trigger`'s operation as the API does and waits for it; answers the state.
    async fn run(&self, trigger: Trigger<'_>) -> EnvironmentState {
        let launch = Launch {
            environment: NAME,
            trigger,
            scope: Scope::All,
            recreate: Vec::new(),
            message: "sleep test".into(),
        };
        let started = self
            .driven
            .operations
            .start(&launch, "sleep test", strata_testkit::now())
            .await
            .unwrap();
        let ended = self.ended(&started.execution).await;
        local_stack::assert_succeeded(&ended);
        self.status().await.state
    }

    /// The `up` execution named `execution` (one the API or the sync started), once ended.
    async fn ended(&self, execution: &str) -> DescribeExecutionOutput {
        let arn = self.driven.started.execution_arn(execution, false);
        local_stack::ended(&self.driven.sfn, &arn).await
    }

    async fn status(&self) -> strata_core::EnvironmentStatus {
        self.driven.started.status(NAME).await
    }

    /// (generation, status version), as the API starts an operation with.
    async fn versions(&self) -> (u64, u64) {
        let store = &self.driven.started.store;
        let generation = store.get_spec(NAME).await.unwrap().unwrap().generation;
        let status_version = store.get_status(NAME).await.unwrap().unwrap().version;
        (generation, status_version)
    }

    async fn shape(&self) -> Shape {
        let aws = &self.driven;
        let mut shape = Shape::new();
        let ours = |tags: &[aws_sdk_ec2::types::Tag]| {
            let tag = |key: &str| {
                tags.iter()
                    .find(|t| t.key() == Some(key))
                    .and_then(|t| t.value())
                    .map(str::to_owned)
            };
            (tag("strata:environment").as_deref() == Some(NAME))
                .then(|| tag("strata:role").unwrap_or_default())
        };
        let vpcs = aws.ec2.describe_vpcs().send().await.unwrap();
        for v in vpcs.vpcs() {
            if let Some(role) = ours(v.tags()) {
                shape.insert(role, v.vpc_id().unwrap().into());
            }
        }
        let subnets = aws.ec2.describe_subnets().send().await.unwrap();
        for s in subnets.subnets() {
            if let Some(role) = ours(s.tags()) {
                shape.insert(role, s.subnet_id().unwrap().into());
            }
        }
        let tables = aws.ec2.describe_route_tables().send().await.unwrap();
        for t in tables.route_tables() {
            if let Some(role) = ours(t.tags()) {
                let default = t
                    .routes()
                    .iter()
                    .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                    .and_then(|r| r.nat_gateway_id().or(r.gateway_id()))
                    .unwrap_or("none");
                shape.insert(role.clone(), t.route_table_id().unwrap().into());
                shape.insert(format!("{role} default route"), default.into());
            }
        }
        let addresses = aws.ec2.describe_addresses().send().await.unwrap();
        for a in addresses.addresses() {
            if let Some(role) = ours(a.tags()) {
                shape.insert(
                    role,
                    format!(
                        "{} {}",
                        a.allocation_id().unwrap(),
                        a.public_ip().unwrap_or_default()
                    ),
                );
            }
        }
        let nats = aws.ec2.describe_nat_gateways().send().await.unwrap();
        for n in nats.nat_gateways() {
            let live = !matches!(
                n.state().map(|s| s.as_str()),
                Some("deleted") | Some("deleting")
            );
            if let Some(role) = ours(n.tags()).filter(|_| live) {
                let allocation = n
                    .nat_gateway_addresses()
                    .first()
                    .and_then(|a| a.allocation_id())
                    .unwrap_or_default();
                shape.insert(
                    role,
                    format!("{} on {allocation}", n.nat_gateway_id().unwrap()),
                );
            }
        }
        let cluster = aws.eks.describe_cluster().name(CLUSTER).send().await;
        let cluster = cluster.unwrap().cluster.unwrap();
        shape.insert("eks cluster".into(), cluster.arn().unwrap().into());
        let groups = aws
            .eks
            .list_nodegroups()
            .cluster_name(CLUSTER)
            .send()
            .await
            .unwrap();
        for group in groups.nodegroups() {
            let described = aws
                .eks
                .describe_nodegroup()
                .cluster_name(CLUSTER)
                .nodegroup_name(group)
                .send()
                .await
                .unwrap()
                .nodegroup
                .unwrap();
            let scaling = described.scaling_config().unwrap();
            shape.insert(
                format!("node group {group}"),
                described.nodegroup_arn().unwrap().into(),
            );
            shape.insert(
                format!("node group {group} min/max/desired"),
                format!(
                    "{}/{}/{}",
                    scaling.min_size().unwrap_or(-1),
                    scaling.max_size().unwrap_or(-1),
                    scaling.desired_size().unwrap_or(-1)
                ),
            );
        }
        let instances = aws
            .rds
            .describe_db_instances()
            .db_instance_identifier(CLUSTER)
            .send()
            .await
            .unwrap();
        let db = &instances.db_instances()[0];
        shape.insert("db instance".into(), db.db_instance_arn().unwrap().into());
        shape.insert(
            "db instance status".into(),
            db.db_instance_status().unwrap().into(),
        );
        shape.insert(
            "db instance class/storage".into(),
            format!(
                "{}/{}",
                db.db_instance_class().unwrap(),
                db.allocated_storage().unwrap_or_default()
            ),
        );
        let simulator = aws.started.stack.cluster_simulator();
        for key in simulator.inventory(CLUSTER) {
            let Some(name) = key.strip_prefix(&format!("deployments/{NAME}/")) else {
                continue;
            };
            let deployment = simulator
                .object(CLUSTER, "apps/v1", "deployments", NAME, name)
                .unwrap();
            shape.insert(
                format!("deployment {name} replicas"),
                deployment["spec"]["replicas"].to_string(),
            );
        }
        let zones = aws.route53.list_hosted_zones().send().await.unwrap();
        for zone in zones.hosted_zones() {
            let records = aws
                .route53
                .list_resource_record_sets()
                .hosted_zone_id(zone.id())
                .send()
                .await
                .unwrap();
            for record in records.resource_record_sets() {
                if record.name().starts_with(&format!("{NAME}.")) {
                    shape.insert(
                        format!("dns {} {}", record.name(), record.r#type().as_str()),
                        format!("{:?}", record.alias_target().map(|a| a.dns_name())),
                    );
                }
            }
        }
        shape
    }
}

/// The entries whose value differs between `a` and `b` (or that only one has).
fn changed(a: &Shape, b: &Shape) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: {:?} -> {:?}", a.get(k), b.get(k)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sleep_then_wake_returns_every_resource_to_the_same_ids_and_sizes() {
    let s = Sleepy::new().await;
    s.driven.started.store_example(NAME).await;
    let (generation, status_version) = (1, 0);
    assert_eq!(
        s.run(Trigger::Apply {
            generation,
            status_version
        })
        .await,
        EnvironmentState::Ready
    );
    let awake = s.shape().await;
    assert_eq!(awake["db instance status"], "available", "{awake:#?}");
    assert!(awake.contains_key("nat-0"), "{awake:#?}");

    // Sleep.
    let (generation, status_version) = s.versions().await;
    assert_eq!(
        s.run(Trigger::Sleep {
            generation,
            status_version
        })
        .await,
        EnvironmentState::Ready
    );
    let status = s.status().await;
    assert!(status.sleeping.is_some(), "the sleeping condition");
    let network = &status.components[&strata_core::Component::Network];
    assert!(
        !network.resource_ids.contains_key("natGatewayId.0"),
        "the removed gateway's id left the status: {:?}",
        network.resource_ids
    );
    assert!(status.message.ends_with("asleep"), "{}", status.message);
    let asleep = s.shape().await;
    let differences = changed(&awake, &asleep);
    println!("sleep changed:\n  {}", differences.join("\n  "));
    assert!(!asleep.contains_key("nat-0"), "the NAT gateway is gone");
    assert_eq!(asleep["eip-0"], awake["eip-0"], "its address is kept");
    assert_eq!(asleep["db instance status"], "stopped");
    for (key, value) in &asleep {
        if key.ends_with("min/max/desired") {
            assert!(
                value.starts_with("0/") && value.ends_with("/0"),
                "{key}: {value}"
            );
        }
        if key.starts_with("deployment ") {
            assert_eq!(value, "0", "{key}");
        }
    }
    // Everything else, the DNS records among it, is untouched.
    let expected_changes = |k: &str| {
        k.starts_with("nat-")
            || k.ends_with("default route")
            || k.ends_with("min/max/desired")
            || k.starts_with("deployment ")
            || k == "db instance status"
    };
    for change in &differences {
        let key = change.split(':').next().unwrap();
        assert!(expected_changes(key), "sleep changed {change}");
    }
    assert!(
        awake.keys().any(|k| k.starts_with("dns ")),
        "the DNS records are part of the shape: {awake:#?}"
    );

    // Wake: the same ids and sizes, a new NAT gateway on the same address.
    let (generation, status_version) = s.versions().await;
    assert_eq!(
        s.run(Trigger::Wake {
            generation,
            status_version
        })
        .await,
        EnvironmentState::Ready
    );
    let status = s.status().await;
    assert!(status.sleeping.is_none());
    let woken = s.shape().await;
    let differences = changed(&awake, &woken);
    println!(
        "wake differs from before the sleep in:\n  {}",
        differences.join("\n  ")
    );
    let new_nat = woken["nat-0"].split(' ').next().unwrap().to_owned();
    assert_eq!(
        status.components[&strata_core::Component::Network].resource_ids["natGatewayId.0"],
        new_nat
    );
    assert_ne!(woken["nat-0"], awake["nat-0"], "a new NAT gateway");
    assert!(
        woken["nat-0"].ends_with(awake["eip-0"].split(' ').next().unwrap()),
        "on the kept address: {} / {}",
        woken["nat-0"],
        awake["eip-0"]
    );
    for change in &differences {
        let key = change.split(':').next().unwrap();
        let route_to_new_nat = key.ends_with("default route") && change.contains(&new_nat);
        assert!(
            key == "nat-0" || route_to_new_nat,
            "the wake did not bring back {change}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_schedule_puts_an_environment_to_sleep_and_wakes_it_through_the_sync() {
    let s = Sleepy::new().await;
    let mut env = strata_testkit::example_as(NAME);
    // Asleep at any time but the first minute of a Sunday: its latest sleep time is this
    // minute, its latest wake earlier.
    env.spec.schedule = Some(strata_core::spec::ScheduleSpec {
        sleep: "* * * * *".into(),
        wake: "0 0 * * 0".into(),
        time_zone: "Europe/Berlin".into(),
    });
    let store = &s.driven.started.store;
    s.driven.started.stack.stand_in_for(&env).await.unwrap();
    let now = strata_testkit::now();
    store.put_spec(&env, None, now).await.unwrap();
    strata_store::ensure_scheduled(store, NAME, now, 900)
        .await
        .unwrap();
    assert_eq!(
        s.run(Trigger::Apply {
            generation: 1,
            status_version: 0
        })
        .await,
        EnvironmentState::Ready
    );
    assert!(s.status().await.sleeping.is_none());

    let s = &s;
    let sync = |at: u64| async move {
        let report = s
            .driven
            .started
            .stack
            .run_schedule("SyncSchedule", &scheduled_time(at))
            .await
            .unwrap();
        let history = store.history(NAME, 10, None).await.unwrap();
        (report, history)
    };
    let (report, history) = sync(strata_testkit::now() + 1000).await;
    assert_eq!(report["scheduled"], 1, "{report}");
    let started = history
        .items
        .iter()
        .find(|e| e.kind == "SleepRequested")
        .expect("the sync asked for a sleep");
    let execution = started.execution.clone().unwrap();
    assert!(execution.starts_with("sleep-sleepy-1-"), "{execution}");
    assert_eq!(s.ended(&execution).await.status().as_str(), "SUCCEEDED");
    let status = s.status().await;
    assert!(status.sleeping.is_some());
    assert_eq!(status.state, EnvironmentState::Ready);

    // Asleep, nothing looks for drift, and nothing more is started.
    let (report, _) = sync(strata_testkit::now() + 2000).await;
    assert_eq!(
        (&report["scheduled"], &report["synced"]),
        (&serde_json::json!(0), &serde_json::json!(1)),
        "{report}"
    );

    // The schedule changes to awake now: the next sync wakes it.
    let mut awake = env.clone();
    awake.spec.schedule = Some(strata_core::spec::ScheduleSpec {
        sleep: "0 0 * * 0".into(),
        wake: "* * * * *".into(),
        time_zone: "UTC".into(),
    });
    let stored = store.get_spec(NAME).await.unwrap().unwrap();
    store
        .put_spec(&awake, Some(&stored), strata_testkit::now())
        .await
        .unwrap();
    let (report, history) = sync(strata_testkit::now() + 3000).await;
    assert_eq!(report["scheduled"], 1, "{report}");
    let execution = history
        .items
        .iter()
        .find(|e| e.kind == "WakeRequested")
        .and_then(|e| e.execution.clone())
        .expect("the sync asked for a wake");
    assert_eq!(s.ended(&execution).await.status().as_str(), "SUCCEEDED");
    assert!(s.status().await.sleeping.is_none());
    let shape = s.shape().await;
    assert_eq!(shape["db instance status"], "available");
    assert!(shape.contains_key("nat-0"));
}

/// RFC 3339, as EventBridge Scheduler writes `<aws.scheduler.scheduled-time>`.
fn scheduled_time(secs: u64) -> String {
    aws_sdk_dynamodb::primitives::DateTime::from_secs(secs as i64)
        .fmt(aws_sdk_dynamodb::primitives::DateTimeFormat::DateTime)
        .unwrap()
}
