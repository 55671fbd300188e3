//! Operations at once, end to end on the local stack: the API function (eight concurrent
//! invocations), the sync function and the real state machines. Whatever the interleaving,
//! exactly one operation holds an environment; the others are refused with 409 (or, for
//! sync, skipped and found again by the next run), and no write is lost.

use std::collections::BTreeSet;

use serde_json::Value;
use strata_localstack::LocalStack;
use strata_store::prelude::*;
use strata_testkit::cli::{Ran, Strata};
use strata_testkit::local_stack;
use strata_testkit::{Staging, example_as};

const STRATA: Strata = Strata::new(env!("CARGO_BIN_EXE_strata"));

/// Runs each of `args` as a `strata` process, all at once.
fn at_once(endpoint: &str, args: &[Vec<String>]) -> Vec<Ran> {
    std::thread::scope(|scope| {
        let runs: Vec<_> = args
            .iter()
            .map(|a| {
                scope.spawn(move || {
                    STRATA.run(endpoint, &a.iter().map(String::as_str).collect::<Vec<_>>())
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    })
}

fn apply(path: &str) -> Vec<String> {
    vec!["apply".into(), "-f".into(), path.into()]
}

/// The executions of either state machine whose name starts with `prefix`.
async fn executions(stack: &LocalStack, prefix: &str) -> BTreeSet<String> {
    let sfn = aws_sdk_sfn::Client::new(&stack.sdk_config());
    let mut names = BTreeSet::new();
    for machine in ["EnvironmentUpStateMachine", "EnvironmentDownStateMachine"] {
        let listed = sfn
            .list_executions()
            .state_machine_arn(stack.state_machine_arn(machine).unwrap())
            .send()
            .await
            .unwrap();
        names.extend(
            listed
                .executions()
                .iter()
                .map(|e| e.name().to_owned())
                .filter(|n| n.starts_with(prefix)),
        );
    }
    names
}

fn replicas(body: &Value) -> u64 {
    body["spec"]["spec"]["app"]["services"][0]["replicas"]
        .as_u64()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_applies_at_once_run_one_and_an_apply_during_a_down_is_refused_untouched() {
    let mut env = example_as("twice");
    let local = local_stack::local(&env).await;
    local.apply(&STRATA, "twice.json", &env);

    // Two different changes at once: one is carried out, the other refused with 409.
    let mut specs = Vec::new();
    for replicas in [3, 4] {
        env.spec.app.services[0].replicas = replicas;
        specs.push(local.write(&format!("twice-{replicas}.json"), &env));
    }
    let ran = at_once(&local.endpoint, &[apply(&specs[0]), apply(&specs[1])]);
    let won: Vec<usize> = (0..2).filter(|&i| ran[i].code == 0).collect();
    assert_eq!(won.len(), 1, "exactly one apply starts");
    let lost = &ran[1 - won[0]];
    assert_eq!(lost.code, 1, "{}", lost.err);
    assert!(lost.err.contains("409"), "{}", lost.err);
    let body = STRATA.settled(&local.endpoint, "twice");
    assert_eq!(body["status"]["state"], "Ready", "{body}");
    // The stored spec is the winner's, and it is what runs.
    assert_eq!(replicas(&body), [3, 4][won[0]]);
    assert_eq!(body["status"]["observedGeneration"], 2, "{body}");
    assert_eq!(
        executions(&local.stack, "up-twice-2-").await.len(),
        1,
        "one execution for generation 2"
    );

    // The same change twice at once is one operation: both are told about it.
    env.spec.app.services[0].replicas = 5;
    let same = local.write("twice-5.json", &env);
    let ran = at_once(&local.endpoint, &[apply(&same), apply(&same)]);
    for r in &ran {
        assert_eq!(r.code, 0, "{}", r.err);
    }
    let body = STRATA.settled(&local.endpoint, "twice");
    assert_eq!(body["status"]["state"], "Ready", "{body}");
    assert_eq!(replicas(&body), 5);
    assert_eq!(executions(&local.stack, "up-twice-3-").await.len(), 1);

    // An apply while a down runs: refused, and the spec stays the one being deleted.
    let deleting = STRATA.run(&local.endpoint, &["delete", "twice"]);
    assert_eq!(deleting.code, 0, "{}", deleting.err);
    env.spec.app.services[0].replicas = 6;
    let during = local.write("twice-6.json", &env);
    let refused = STRATA.run(&local.endpoint, &["apply", "-f", &during]);
    assert_eq!(refused.code, 1, "{}", refused.out);
    assert!(refused.err.contains("409"), "{}", refused.err);
    let body = STRATA.settled(&local.endpoint, "twice");
    assert_eq!(body["status"]["state"], "Deleted", "{body}");
    assert_eq!(
        replicas(&body),
        5,
        "the refused apply changed the spec: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn syncs_at_once_repair_once_and_a_ttl_delete_racing_an_apply_is_one_or_the_other() {
    let mut env = Staging::new()
        .side_by_side("racy")
        .ttl(Some("10m"))
        .sync_every("1m")
        .build();
    let local = local_stack::local(&env).await;
    local.apply(&STRATA, "racy.json", &env);

    // Drift (a bucket's ownership tags gone), then two sync runs and an API sync at once:
    // one repair.
    let s3 = local_stack::s3(&local.regional);
    s3.delete_bucket_tagging()
        .bucket("strata-racy-assets")
        .send()
        .await
        .unwrap();
    let payload = r#"{"environment": "racy"}"#;
    let (a, b, api) = tokio::join!(
        local.stack.invoke("SyncFunction", payload),
        local.stack.invoke("SyncFunction", payload),
        tokio::task::spawn_blocking({
            let endpoint = local.endpoint.clone();
            move || STRATA.run(&endpoint, &["sync", "racy"])
        }),
    );
    let api = api.unwrap();
    assert_eq!(api.code, 0, "{}", api.err);
    // Its own run reported, whether it found the drift or lost the race to another run.
    assert!(!api.out.contains("has not reported"), "{}", api.out);
    let (a, b) = (a.unwrap(), b.unwrap());
    println!("sync runs: {a}\n{b}");
    let body = STRATA.settled(&local.endpoint, "racy");
    assert_eq!(body["status"]["state"], "Ready", "{body}");
    let repairs = executions(&local.stack, "repair-racy-").await;
    assert_eq!(repairs.len(), 1, "{repairs:?}");
    let tags = local_stack::bucket_tags(&s3, "strata-racy-assets").await;
    assert!(
        tags.unwrap_or_default()
            .iter()
            .any(|(key, _)| key == "strata:environment"),
        "repaired"
    );

    // The TTL has run out (the record says the environment is eleven minutes old): the
    // schedule's delete and an apply at once. Exactly one starts; if the apply wins, the
    // next run deletes.
    let now = strata_testkit::now();
    let store = strata_store::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&local.stack.sdk_config()),
        local.stack.table_name("StateTable").unwrap(),
    );
    let mut record = store.get_sync("racy").await.unwrap().unwrap();
    record.value.created_at = now - 660;
    record.value.due_at = now - 1;
    store
        .put_sync("racy", &record.value, Some(record.version))
        .await
        .unwrap();
    let at = |secs: u64| {
        aws_sdk_s3::primitives::DateTime::from_secs(secs as i64)
            .fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime)
            .unwrap()
    };
    env.spec.app.services[0].replicas = 3;
    let changed = local.write("racy-3.json", &env);
    let expiry_passed = at(now);
    let (report, applied) = tokio::join!(
        local.stack.run_schedule("SyncSchedule", &expiry_passed),
        tokio::task::spawn_blocking({
            let endpoint = local.endpoint.clone();
            move || STRATA.run(&endpoint, &["apply", "-f", &changed])
        }),
    );
    let (report, applied) = (report.unwrap(), applied.unwrap());
    println!("schedule: {report}");
    let expired = report["expired"].as_u64().unwrap_or_default();
    if applied.code == 0 {
        assert_eq!(expired, 0, "both started: {report}");
        assert_eq!(report["skipped"], 1, "{report}");
        let body = STRATA.settled(&local.endpoint, "racy");
        assert_eq!(body["status"]["state"], "Ready", "{body}");
        assert_eq!(replicas(&body), 3);
        let report = local
            .stack
            .run_schedule("SyncSchedule", &at(now + 61))
            .await
            .unwrap();
        assert_eq!(
            report["expired"], 1,
            "the TTL delete is not retried: {report}"
        );
    } else {
        assert!(applied.err.contains("409"), "{}", applied.err);
        assert_eq!(expired, 1, "{report}");
        assert_eq!(
            replicas(&STRATA.get(&local.endpoint, "racy")),
            2,
            "the refused spec landed"
        );
    }
    let body = STRATA.settled(&local.endpoint, "racy");
    assert_eq!(body["status"]["state"], "Deleted", "{body}");
    assert_eq!(executions(&local.stack, "ttl-racy-").await.len(), 1);
}
