//! A recreate as a user runs it: `strata` against the API function on the local stack. A
//! CIDR change replaces the network and everything above it; the database comes back from
//! the final snapshot the recreate took; buckets and their objects stay.

use serde_json::Value;
use strata_localstack::fidelity::Fault;
use strata_localstack::{LocalStack, Options};
use strata_testkit::Staging;
use strata_testkit::cli::Strata;
use strata_testkit::local_stack;

const STRATA: Strata = Strata::new(env!("CARGO_BIN_EXE_strata"));

/// The example as `moved`, with its own DNS name and `cidr`.
fn spec(cidr: &str) -> String {
    spec_named(cidr, "moved.example.com")
}

fn spec_named(cidr: &str, dns: &str) -> String {
    let env = Staging::new().named("moved").dns(dns).cidr(cidr).build();
    serde_json::to_string_pretty(&env.to_json()).unwrap()
}

/// Every record name in every hosted zone.
async fn records(route53: &aws_sdk_route53::Client) -> Vec<String> {
    let mut names = Vec::new();
    let zones = route53.list_hosted_zones().send().await.unwrap();
    for zone in zones.hosted_zones() {
        let sets = route53
            .list_resource_record_sets()
            .hosted_zone_id(zone.id())
            .send()
            .await
            .unwrap();
        names.extend(
            sets.resource_record_sets()
                .iter()
                .map(|r| r.name().to_owned()),
        );
    }
    names
}

async fn vpcs(ec2: &aws_sdk_ec2::Client) -> Vec<String> {
    let described = ec2.describe_vpcs().send().await.unwrap();
    described
        .vpcs()
        .iter()
        .filter(|v| {
            v.tags()
                .iter()
                .any(|t| t.key() == Some("strata:environment") && t.value() == Some("moved"))
        })
        .filter_map(|v| v.cidr_block().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cidr_change_recreates_network_and_above_restoring_the_database_and_keeping_buckets() {
    let stack = LocalStack::start(Options::default()).await.unwrap();
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let path = files.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let (before, after) = (
        write("moved.json", spec("10.40.0.0/16")),
        write("moved-2.json", spec("10.41.0.0/16")),
    );
    let env = strata_core::Environment::parse(&std::fs::read_to_string(&before).unwrap()).unwrap();
    stack.stand_in_for(&env).await.unwrap();
    let endpoint = stack.function_url("ApiFunction").unwrap();
    let config = stack.sdk_config();
    let regional = config
        .to_builder()
        .region(aws_config::Region::new(env.spec.region.clone()))
        .build();
    let ec2 = aws_sdk_ec2::Client::new(&regional);
    let s3 = local_stack::s3(&regional);

    let applied = STRATA.run(&endpoint, &["apply", "-f", &before, "--wait"]);
    assert_eq!(applied.code, 0, "{}", applied.err);
    assert_eq!(vpcs(&ec2).await, ["10.40.0.0/16"]);
    let bucket = format!(
        "strata-moved-{}",
        env.spec.storage.as_ref().unwrap().buckets[0].name
    );
    s3.put_object()
        .bucket(&bucket)
        .key("kept.txt")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"still here",
        ))
        .send()
        .await
        .unwrap();

    // The plan says what goes; without the allowance the apply is refused, naming the flag.
    let planned = STRATA.run(&endpoint, &["plan", "-f", &after]);
    assert_eq!(planned.code, 0, "{}", planned.err);
    assert!(planned.out.contains("spec.network.cidr"), "{}", planned.out);
    let refused = STRATA.run(&endpoint, &["apply", "-f", &after, "--wait"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.err.contains("--allow-recreate database"),
        "{}",
        refused.err
    );

    let recreated = STRATA.run(
        &endpoint,
        &[
            "apply",
            "-f",
            &after,
            "--allow-recreate",
            "database",
            "--wait",
        ],
    );
    assert_eq!(recreated.code, 0, "{}\n{}", recreated.out, recreated.err);
    assert!(
        recreated.out.contains("moved: Ready after"),
        "{}",
        recreated.out
    );

    // Only the new VPC; the database restored from the final snapshot the recreate took.
    assert_eq!(vpcs(&ec2).await, ["10.41.0.0/16"]);
    let got = STRATA.run(&endpoint, &["get", "moved", "-o", "json"]);
    let body: Value = serde_json::from_str(&got.out).unwrap();
    let database = &body["status"]["components"]["database"];
    // Restored from the final snapshot this recreate (generation 2) took; the status says so.
    let ids = &database["resourceIds"];
    assert_eq!(ids["restoredFrom"], ids["finalSnapshotId"], "{database}");
    let restored = ids["restoredFrom"].as_str().unwrap_or_default();
    assert!(restored.starts_with("strata-moved-final-g2-"), "{database}");
    let history = STRATA.run(&endpoint, &["history", "moved", "--limit", "30"]);
    assert!(history.out.contains("recreating"), "{}", history.out);
    // The bucket and its object were never touched.
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key("kept.txt")
        .send()
        .await
        .unwrap();
    let body = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"still here");

    // What is applied now is the new spec: applying it again changes nothing.
    let again = STRATA.run(&endpoint, &["apply", "-f", &after]);
    assert_eq!(again.code, 0, "{}", again.err);
    assert!(again.out.contains("nothing to do"), "{}", again.out);

    // A DNS rename: the old name's records (and owner marker) go, the new name's come.
    let route53 = aws_sdk_route53::Client::new(&config);
    let old = |names: &[String]| names.iter().any(|n| n.contains("moved.example.com"));
    assert!(old(&records(&route53).await), "the name has records before");
    let renamed = write(
        "moved-3.json",
        spec_named("10.41.0.0/16", "shop.example.com"),
    );
    let moved = STRATA.run(&endpoint, &["apply", "-f", &renamed, "--wait"]);
    assert_eq!(moved.code, 0, "{}\n{}", moved.out, moved.err);
    let names = records(&route53).await;
    assert!(!old(&names), "old records left: {names:?}");
    assert!(
        names.iter().any(|n| n.contains("shop.example.com")),
        "{names:?}"
    );

    // Cancel: a cluster that stays CREATING (AWS's ten minutes, played by a delay) is
    // cancelled; the environment is free at once and a following apply converges.
    stack.delay(
        strata_localstack::fidelity::Delay::rest_json(
            "GET /clusters/strata-moved",
            "",
            r#""status": "ACTIVE""#,
            r#""status": "CREATING""#,
        )
        .times(1_000_000),
    );
    let bigger = {
        let mut env: Value =
            serde_json::from_str(&spec_named("10.41.0.0/16", "shop.example.com")).unwrap();
        env["spec"]["cluster"]["nodeGroup"]["maxSize"] = 9.into();
        write("moved-4.json", serde_json::to_string_pretty(&env).unwrap())
    };
    let started = STRATA.run(&endpoint, &["apply", "-f", &bigger]);
    assert_eq!(started.code, 0, "{}", started.err);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let got = STRATA.run(&endpoint, &["get", "moved", "-o", "json"]);
        let body: Value = serde_json::from_str(&got.out).unwrap_or_default();
        let phase = &body["status"]["components"]["cluster"]["phase"];
        if phase == "creating" || phase == "updating" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cluster never began converging"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let cancelled = STRATA.run(&endpoint, &["cancel", "moved"]);
    assert_eq!(cancelled.code, 0, "{}", cancelled.err);
    assert!(
        cancelled.out.contains("cancelled (ABORTED)"),
        "{}",
        cancelled.out
    );
    assert!(
        cancelled.out.contains("in flight: cluster"),
        "{}",
        cancelled.out
    );
    let got = STRATA.run(&endpoint, &["get", "moved", "-o", "json"]);
    let body: Value = serde_json::from_str(&got.out).unwrap();
    assert_eq!(body["status"]["state"], "Cancelled");
    assert_eq!(body["runningExecution"], Value::Null);
    stack.clear_delays();
    let resumed = STRATA.run(&endpoint, &["apply", "-f", &bigger, "--wait"]);
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.out, resumed.err);
    assert!(
        resumed.out.contains("moved: Ready after"),
        "{}",
        resumed.out
    );
}

/// The status's resource ids of one component.
fn resource_ids(endpoint: &str, environment: &str, component: &str) -> Value {
    let got = STRATA.run(endpoint, &["get", environment, "-o", "json"]);
    let body: Value = serde_json::from_str(&got.out).unwrap();
    body["status"]["components"][component]["resourceIds"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_change_recreates_only_the_database_and_above_and_a_failed_recreate_resumes_without_allowance()
 {
    let mut env = Staging::new()
        .side_by_side("engine")
        .cidr("10.50.0.0/16")
        .build();
    let local = local_stack::local(&env).await;
    local.apply(&STRATA, "engine.json", &env);
    env.spec.database.as_mut().unwrap().engine = strata_core::spec::DatabaseEngine::Mysql;
    env.spec.database.as_mut().unwrap().engine_version = "8.0.39".into();
    let mysql = local.write("engine-2.json", &env);
    let rds = aws_sdk_rds::Client::new(&local.regional);
    let kept: Vec<Value> = ["network", "cluster", "storage"]
        .iter()
        .map(|c| resource_ids(&local.endpoint, "engine", c))
        .collect();
    let created =
        |instances: aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput| {
            instances.db_instances()[0].instance_create_time().copied()
        };
    let first = created(rds.describe_db_instances().send().await.unwrap());

    // The plan recreates the database and what reads it, nothing below.
    let planned = STRATA.run(&local.endpoint, &["plan", "-f", &mysql]);
    assert_eq!(planned.code, 0, "{}", planned.err);
    // `  <component> <action>[ (because of …)]`, one line per component that changes.
    let actions: Vec<(String, String)> = planned
        .out
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect();
    let recreated: Vec<&str> = actions
        .iter()
        .filter(|(_, a)| a == "recreate")
        .map(|(c, _)| c.as_str())
        .collect();
    assert_eq!(
        recreated,
        ["database", "config", "app", "dns"],
        "{actions:?}"
    );

    // The recreate fails at the new database's create (a permanent error)...
    local.stack.inject(Fault::query(
        "CreateDBInstance",
        "Engine=mysql",
        400,
        "InvalidParameterCombination",
    ));
    let failed = STRATA.run(
        &local.endpoint,
        &[
            "apply",
            "-f",
            &mysql,
            "--allow-recreate",
            "database",
            "--wait",
        ],
    );
    assert_ne!(failed.code, 0, "{}", failed.out);
    assert_eq!(local.stack.pending_faults(), 0, "the fault was hit");
    let got = STRATA.run(&local.endpoint, &["get", "engine", "-o", "json"]);
    let body: Value = serde_json::from_str(&got.out).unwrap();
    assert_eq!(body["status"]["state"], "Failed", "{body}");

    // ...and applying the same spec again is a resume: no allowance asked for.
    let resumed = STRATA.run(&local.endpoint, &["apply", "-f", &mysql, "--wait"]);
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.out, resumed.err);
    assert!(
        resumed.out.contains("engine: Ready after"),
        "{}",
        resumed.out
    );

    // A MySQL instance, created empty: a PostgreSQL snapshot cannot restore it. The final
    // snapshot the recreate took stays, named in the status, for whoever needs the data.
    let instances = rds.describe_db_instances().send().await.unwrap();
    assert_ne!(created(instances.clone()), first, "a new instance");
    let engines: Vec<&str> = instances
        .db_instances()
        .iter()
        .filter_map(|i| i.engine())
        .collect();
    assert_eq!(engines, ["mysql"]);
    let after = resource_ids(&local.endpoint, "engine", "database");
    assert_eq!(after["restoredFrom"], Value::Null, "{after}");
    let snapshot = after["finalSnapshotId"].as_str().unwrap_or_default();
    assert!(snapshot.starts_with("strata-engine-final-g2-"), "{after}");
    let snapshots = rds
        .describe_db_snapshots()
        .db_snapshot_identifier(snapshot)
        .send()
        .await
        .unwrap();
    assert_eq!(snapshots.db_snapshots()[0].engine(), Some("postgres"));
    // Network, cluster and storage were never touched.
    for (component, ids) in ["network", "cluster", "storage"].iter().zip(&kept) {
        assert_eq!(
            &resource_ids(&local.endpoint, "engine", component),
            ids,
            "{component}"
        );
    }
}
