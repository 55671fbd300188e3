//! A preview of staging end to end, through the CLI and the API function: `apply --from`
//! brings up a preview sharing staging's cluster (its own namespace, its own database
//! restored from a snapshot of staging's, its own buckets and DNS record, no network or
//! cluster of its own); staging refuses `delete` while it runs; the preview's TTL destroys
//! it, staging untouched; then staging's delete goes through.

use strata_testkit::cli::Strata;
use strata_testkit::local_stack;

const STRATA: Strata = Strata::new(env!("CARGO_BIN_EXE_strata"));

const DAY: u64 = 86_400;

/// RFC 3339, as EventBridge Scheduler writes `<aws.scheduler.scheduled-time>`.
fn scheduled_time(secs: u64) -> String {
    aws_sdk_rds::primitives::DateTime::from_secs(secs as i64)
        .fmt(aws_sdk_rds::primitives::DateTimeFormat::DateTime)
        .unwrap()
}

/// `namespace`'s objects on the simulated cluster `cluster`.
fn objects_in(
    stack: &strata_localstack::LocalStack,
    cluster: &str,
    namespace: &str,
) -> Vec<String> {
    stack
        .cluster_simulator()
        .inventory(cluster)
        .into_iter()
        .filter(|k| k.contains(&format!("/{namespace}/")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shared_cluster_preview_comes_up_holds_its_base_and_goes_with_its_ttl() {
    let env = strata_testkit::staging();
    let example = strata_testkit::examples::path("staging.yaml")
        .display()
        .to_string();
    let l = local_stack::local(&env).await;
    let endpoint = l.endpoint.as_str();
    let applied = STRATA.run(endpoint, &["apply", "-f", &example, "--wait"]);
    assert_eq!(applied.code, 0, "{}", applied.err);
    let made_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let preview = STRATA.run(
        endpoint,
        &[
            "apply",
            "--from",
            "staging",
            "--name",
            "pr-42",
            "--ttl",
            "4h",
            "--set",
            "spec.app.services[api].replicas=1",
            "--wait",
        ],
    );
    assert_eq!(preview.code, 0, "{}\n{}", preview.out, preview.err);
    assert!(
        preview.out.contains("pr-42: Ready after"),
        "{}",
        preview.out
    );
    let shown = STRATA.run(endpoint, &["get", "pr-42"]);
    assert!(
        shown
            .out
            .contains("preview      of staging (runs on its network and cluster)"),
        "{}",
        shown.out
    );
    assert!(
        shown.out.contains("ingress      http://pr-42.example.com"),
        "{}",
        shown.out
    );
    let body = STRATA.get(endpoint, "pr-42");
    assert_eq!(body["status"]["state"], "Ready", "{body}");
    assert_eq!(body["spec"]["spec"]["ttl"], "4h");
    assert_eq!(body["spec"]["spec"]["preview"]["base"], "staging");
    let components = &body["status"]["components"];
    assert_eq!(
        components["database"]["resourceIds"]["restoredFrom"], "strata-staging-seed-pr-42",
        "its own database, from staging's data: {components}"
    );
    assert_eq!(components["cluster"]["outputs"]["sharedFrom"], "staging");

    // Its own namespace on staging's cluster, with the override; no network or cluster of
    // its own; its own database and buckets.
    let objects = objects_in(&l.stack, "strata-staging", "pr-42");
    assert!(
        objects.iter().any(|o| o == "deployments/pr-42/api"),
        "{objects:?}"
    );
    let api = l
        .stack
        .cluster_simulator()
        .object("strata-staging", "apps/v1", "deployments", "pr-42", "api")
        .unwrap();
    assert_eq!(api["spec"]["replicas"], 1);
    let eks = aws_sdk_eks::Client::new(&l.regional);
    let clusters = eks.list_clusters().send().await.unwrap();
    assert_eq!(clusters.clusters(), ["strata-staging"]);
    let ec2 = aws_sdk_ec2::Client::new(&l.regional);
    let vpcs = ec2
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:strata:environment")
                .values("pr-42")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(vpcs.vpcs().is_empty(), "no VPC of its own");
    let rds = aws_sdk_rds::Client::new(&l.regional);
    let instances = rds.describe_db_instances().send().await.unwrap();
    let mut names: Vec<&str> = instances
        .db_instances()
        .iter()
        .filter_map(|i| i.db_instance_identifier())
        .collect();
    names.sort();
    assert_eq!(names, ["strata-pr-42", "strata-staging"]);
    let buckets = local_stack::s3(&l.regional)
        .list_buckets()
        .send()
        .await
        .unwrap();
    assert!(
        buckets
            .buckets()
            .iter()
            .any(|b| b.name() == Some("strata-pr-42-assets")),
        "its own buckets"
    );

    // Staging holds while the preview runs on it: delete refused, its plan names it.
    let refused = STRATA.run(endpoint, &["delete", "staging"]);
    assert_ne!(refused.code, 0, "{}", refused.out);
    assert!(
        refused
            .err
            .contains("previews run on environment staging's cluster: pr-42"),
        "{}",
        refused.err
    );
    let planned = STRATA.run(endpoint, &["plan", "-f", &example]);
    assert!(
        planned.out.contains("previews on its cluster: pr-42"),
        "{}",
        planned.out
    );

    // The TTL runs out: the sync deletes the preview, and only it.
    let report = l
        .stack
        .run_schedule("SyncSchedule", &scheduled_time(made_at + DAY / 6 + 60))
        .await
        .unwrap();
    assert_eq!(report["expired"], 1, "{report}");
    let gone = STRATA.settled(endpoint, "pr-42");
    assert_eq!(gone["status"]["state"], "Deleted", "{gone}");
    assert!(objects_in(&l.stack, "strata-staging", "pr-42").is_empty());
    assert!(!objects_in(&l.stack, "strata-staging", "staging").is_empty());
    let instances = rds.describe_db_instances().send().await.unwrap();
    assert_eq!(instances.db_instances().len(), 1, "only staging's database");
    let seed = rds
        .describe_db_snapshots()
        .db_snapshot_identifier("strata-staging-seed-pr-42")
        .send()
        .await;
    assert!(seed.is_err(), "the seed snapshot went with the preview");
    assert_eq!(STRATA.get(endpoint, "staging")["status"]["state"], "Ready");

    // Now staging may go.
    let deleted = STRATA.run(endpoint, &["delete", "staging", "--wait"]);
    assert_eq!(deleted.code, 0, "{}\n{}", deleted.out, deleted.err);
}
