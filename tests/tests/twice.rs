//! The same step invoked twice at once (Step Functions' at-least-once delivery, or a retry
//! racing the attempt it replaces): both invocations of each component's apply run side by
//! side against the local stack until one says done (the other waits on the step's claim),
//! and the environment holds one of everything. The errors a duplicate may meet are the
//! ones the state machine retries.

use std::time::Duration;

use serde_json::{Value, json};
use strata_store::prelude::*;

use strata_testkit::local_stack;

/// The error names the up machine retries for a component step.
const RETRIED: [&str; 4] = [
    "AwsTransient",
    "KubernetesTransient",
    "StaleVersion",
    "StoreUnavailable",
];

/// One invocation's outcome: done, not yet, or an error the state machine would retry.
fn outcome(answer: Result<Value, strata_localstack::LocalStackError>) -> Option<bool> {
    let (kind, text) = match answer {
        Ok(v) if v.get("errorType").is_none() => return Some(v["done"] == true),
        Ok(v) => (
            v["errorType"].as_str().unwrap_or_default().to_owned(),
            v.to_string(),
        ),
        Err(e) => {
            let text = e.to_string();
            let kind = RETRIED
                .iter()
                .find(|k| text.contains(*k))
                .map_or_else(String::new, |k| (*k).to_owned());
            (kind, text)
        }
    };
    assert!(
        RETRIED.contains(&kind.as_str()),
        "a duplicate step failed with what the state machine does not retry: {text}"
    );
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn each_component_applied_twice_at_once_makes_one_of_everything() {
    let s = local_stack::start().await;
    let env = strata_testkit::example_as("twin");
    s.stack.stand_in_for(&env).await.unwrap();
    s.store.put_spec(&env, None, 1).await.unwrap();
    // Begin, as the execution's first state: the lease and the operation's context.
    let context = s
        .stack
        .invoke(
            "LifecycleFunction",
            &json!({
                "action": "begin",
                "operation": "up",
                "execution": "up-twin-1-0",
                "input": {"environment": "twin", "pollSeconds": 1, "clockScale": 0}
            })
            .to_string(),
        )
        .await
        .unwrap();
    let step = json!({"action": "apply", "context": context}).to_string();
    let mut duplicated = Vec::new();
    for function in [
        "NetworkFunction",
        "StorageFunction",
        "ClusterFunction",
        "DatabaseFunction",
    ] {
        let mut rounds = 0;
        loop {
            rounds += 1;
            let (a, b) = tokio::join!(
                s.stack.invoke(function, &step),
                s.stack.invoke(function, &step)
            );
            // One of a pair waits while the other works (it holds the step's claim).
            let (a, b) = (outcome(a), outcome(b));
            if a == Some(true) || b == Some(true) {
                break;
            }
            assert!(rounds < 90, "{function} never converged");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // Done is done: the step again, alone, changes nothing and says so.
        let again = outcome(s.stack.invoke(function, &step).await);
        assert_eq!(again, Some(true), "{function} undone by a re-run");
        duplicated.push(format!("{function}: {rounds} round(s)"));
    }
    println!("applied twice at once: {duplicated:?}");

    let regional = s
        .stack
        .sdk_config()
        .to_builder()
        .region(aws_config::Region::new("eu-west-1"))
        .build();
    let ec2 = aws_sdk_ec2::Client::new(&regional);
    let ours = |tags: &[aws_sdk_ec2::types::Tag]| {
        tags.iter()
            .any(|t| t.key() == Some("strata:environment") && t.value() == Some("twin"))
    };
    let vpcs = ec2.describe_vpcs().send().await.unwrap();
    assert_eq!(vpcs.vpcs().iter().filter(|v| ours(v.tags())).count(), 1);
    let subnets = ec2.describe_subnets().send().await.unwrap();
    assert_eq!(
        subnets.subnets().iter().filter(|v| ours(v.tags())).count(),
        2 * env.spec.network.az_count as usize
    );
    let gateways = ec2.describe_internet_gateways().send().await.unwrap();
    assert_eq!(
        gateways
            .internet_gateways()
            .iter()
            .filter(|v| ours(v.tags()))
            .count(),
        1
    );
    let nats = ec2.describe_nat_gateways().send().await.unwrap();
    assert_eq!(
        nats.nat_gateways()
            .iter()
            .filter(|v| ours(v.tags()) && v.state().is_some_and(|s| s.as_str() != "deleted"))
            .count(),
        1,
        "natGateways: single"
    );
    let groups = ec2.describe_security_groups().send().await.unwrap();
    let group_names: Vec<&str> = groups
        .security_groups()
        .iter()
        .filter(|v| ours(v.tags()))
        .filter_map(|g| g.group_name())
        .collect();
    let mut unique = group_names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(group_names.len(), unique.len(), "{group_names:?}");
    let eks = aws_sdk_eks::Client::new(&regional);
    let clusters = eks.list_clusters().send().await.unwrap();
    assert_eq!(clusters.clusters(), ["strata-twin"]);
    let nodegroups = eks
        .list_nodegroups()
        .cluster_name("strata-twin")
        .send()
        .await
        .unwrap();
    assert_eq!(nodegroups.nodegroups().len(), 1);
    let rds = aws_sdk_rds::Client::new(&regional);
    let instances = rds.describe_db_instances().send().await.unwrap();
    assert_eq!(instances.db_instances().len(), 1);
    let s3 = local_stack::s3(&regional);
    let buckets = s3.list_buckets().send().await.unwrap();
    assert_eq!(
        buckets
            .buckets()
            .iter()
            .filter(|b| b.name().is_some_and(|n| n.starts_with("strata-twin-")))
            .count(),
        env.spec.storage.as_ref().unwrap().buckets.len()
    );
}
