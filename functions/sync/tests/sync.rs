//! The sync logic over the in-memory store, flows and bus: TTL warnings and expiry, extension,
//! locked environments, overlapping runs, deleted environments, and the function's input.

use std::time::Duration;

use serde_json::json;
use strata_core::events::Notice;
use strata_core::{Environment, EnvironmentState, EnvironmentStatus, OperationKind};
use strata_store::{MemoryStore, Store, ensure_scheduled};
use sync::{
    MemoryFlows, MemoryNotifier, Outcome, Request, RunReport, SyncError, Syncer, parse_request,
};

const T0: u64 = 1_800_000_000;
const BUDGET: Duration = Duration::from_secs(60);

type TestSyncer = Syncer<MemoryStore, MemoryFlows, MemoryNotifier>;

fn syncer() -> TestSyncer {
    Syncer::new(
        MemoryStore::default(),
        MemoryFlows::default(),
        MemoryNotifier::default(),
    )
}

fn environment(name: &str, ttl: Option<&str>) -> Environment {
    let path = format!("{}/../../examples/staging.yaml", env!("CARGO_MANIFEST_DIR"));
    let mut env = Environment::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    env.metadata.name = name.to_owned();
    env.spec.ttl = ttl.map(str::to_owned);
    env
}

/// Stores the spec and its schedule as the API's apply does, at `at`.
async fn apply(syncer: &TestSyncer, env: &Environment, at: u64) {
    let stored = syncer.store().get_spec(env.name()).await.unwrap();
    syncer
        .store()
        .put_spec(env, stored.as_ref(), at)
        .await
        .unwrap();
    ensure_scheduled(syncer.store(), env.name(), at, 900)
        .await
        .unwrap();
}

fn warnings(syncer: &TestSyncer) -> Vec<(String, u64, u64)> {
    syncer
        .notifier()
        .published()
        .into_iter()
        .map(|n| match n {
            Notice::TtlWarning(w) => (w.environment, w.lead_seconds, w.expires_at),
            other => panic!("sync publishes TTL warnings only: {other:?}"),
        })
        .collect()
}

async fn history_kinds(syncer: &TestSyncer, name: &str) -> Vec<String> {
    let page = syncer.store().history(name, 100, None).await.unwrap();
    page.items
        .into_iter()
        .rev()
        .map(|e| format!("{}: {}", e.kind, e.message))
        .collect()
}

#[tokio::test]
async fn a_ttl_warns_a_day_and_an_hour_ahead_then_destroys_through_down() {
    let syncer = syncer();
    apply(&syncer, &environment("pr-1", Some("26h")), T0).await;
    let expiry = T0 + 26 * 3600;

    // Not due before its first interval: nothing happens.
    let early = syncer.run(T0 + 60, "run-0", BUDGET).await.unwrap();
    assert_eq!(early.due, 0);

    // Two hours in: 24h left, so the day-ahead warning goes out, once.
    let run = syncer.run(T0 + 2 * 3600, "run-1", BUDGET).await.unwrap();
    assert_eq!((run.due, run.synced), (1, 1), "{run:?}");
    syncer
        .run(T0 + 2 * 3600 + 900, "run-2", BUDGET)
        .await
        .unwrap();
    assert_eq!(warnings(&syncer), [("pr-1".into(), 86_400, expiry)]);

    // Within the last hour: the hour-ahead warning, once.
    syncer.run(expiry - 3000, "run-3", BUDGET).await.unwrap();
    syncer.run(expiry - 2000, "run-4", BUDGET).await.unwrap();
    assert_eq!(
        warnings(&syncer),
        [
            ("pr-1".into(), 86_400, expiry),
            ("pr-1".into(), 3_600, expiry)
        ]
    );
    assert!(syncer.flows().started().is_empty(), "nothing destroyed yet");

    // Expired: environment-down starts, under a name fixed by the expiry.
    let run = syncer.run(expiry + 10, "run-5", BUDGET).await.unwrap();
    assert_eq!(run.expired, 1, "{run:?}");
    let started = syncer.flows().started();
    assert_eq!(started.len(), 1);
    let (operation, execution, input) = &started[0];
    assert_eq!(*operation, OperationKind::Down);
    assert_eq!(execution, &format!("ttl-pr-1-{expiry}"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(input).unwrap(),
        json!({"environment": "pr-1"})
    );

    // A second run before down takes the lease starts nothing new.
    syncer
        .run(expiry + 10 + 900, "run-6", BUDGET)
        .await
        .unwrap();
    assert_eq!(syncer.flows().started().len(), 1);

    let history = history_kinds(&syncer, "pr-1").await;
    assert_eq!(history.len(), 6, "one event per sync: {history:#?}");
    assert!(
        history[0].contains("TTL warning (24h lead)"),
        "{history:#?}"
    );
    assert!(history[4].starts_with("Synced: TTL expired: environment-down started (ttl-pr-1-"));
}

#[tokio::test]
async fn an_extended_ttl_does_not_destroy_and_warns_again() {
    let syncer = syncer();
    apply(&syncer, &environment("pr-2", Some("2h")), T0).await;
    syncer.run(T0 + 6000, "run-1", BUDGET).await.unwrap();
    assert_eq!(
        warnings(&syncer),
        [("pr-2".into(), 3_600, T0 + 7200)],
        "a TTL shorter than a day skips straight to the lead it is inside"
    );

    // The API's extension: expiry moves and the warnings start over.
    let mut record = syncer.store().get_sync("pr-2").await.unwrap().unwrap();
    record.value.ttl_extension += 86_400;
    record.value.warned_lead = None;
    syncer
        .store()
        .put_sync("pr-2", &record.value, Some(record.version))
        .await
        .unwrap();

    let run = syncer.run(T0 + 7200 + 60, "run-2", BUDGET).await.unwrap();
    assert_eq!((run.synced, run.expired), (1, 0), "{run:?}");
    assert!(syncer.flows().started().is_empty());
    assert_eq!(warnings(&syncer).len(), 2, "the day-ahead warning, anew");
    assert_eq!(
        warnings(&syncer)[1],
        ("pr-2".into(), 86_400, T0 + 7200 + 86_400)
    );
}

#[tokio::test]
async fn a_locked_environment_is_skipped_and_picked_up_next_time() {
    let syncer = syncer();
    apply(&syncer, &environment("staging", Some("1h")), T0).await;
    syncer
        .store()
        .acquire("staging", "up-staging-1-0", 600, T0 + 3600)
        .await
        .unwrap();

    let run = syncer.run(T0 + 3700, "run-1", BUDGET).await.unwrap();
    assert_eq!(run.skipped, 1, "{run:?}");
    assert!(syncer.flows().started().is_empty(), "no down while up runs");
    let record = syncer.store().get_sync("staging").await.unwrap().unwrap();
    assert_eq!(record.value.due_at, T0 + 3701, "due again at the next run");
    assert_eq!(record.value.claimed_by, None);

    syncer
        .store()
        .release("staging", "up-staging-1-0")
        .await
        .unwrap();
    let run = syncer.run(T0 + 3800, "run-2", BUDGET).await.unwrap();
    assert_eq!(run.expired, 1, "{run:?}");
    let history = history_kinds(&syncer, "staging").await;
    assert!(
        history[0].contains("skipped: up-staging-1-0 holds the lease"),
        "{history:?}"
    );
}

#[tokio::test]
async fn overlapping_runs_process_each_environment_once() {
    let syncer = syncer();
    for i in 0..5 {
        apply(&syncer, &environment(&format!("env-{i}"), None), T0).await;
    }
    let now = T0 + 900;
    // Run b read the same due page as run a, but claims after a did.
    let seen_by_b = syncer.store().due(now, 100, None).await.unwrap();
    assert_eq!(seen_by_b.items.len(), 5);
    let a = syncer.run(now, "run-a", BUDGET).await.unwrap();
    assert_eq!(a.synced, 5);
    for due in seen_by_b.items {
        let outcome = syncer.sync_due(due, now, "run-b").await.unwrap();
        assert_eq!(outcome, Outcome::Contended);
    }
    for i in 0..5 {
        let history = history_kinds(&syncer, &format!("env-{i}")).await;
        assert_eq!(history, ["Synced: in sync; no TTL"]);
    }
    // Nothing is due again until the interval has passed.
    assert_eq!(
        syncer
            .store()
            .due(now + 899, 100, None)
            .await
            .unwrap()
            .items
            .len(),
        0
    );
    assert_eq!(
        syncer
            .store()
            .due(now + 900, 100, None)
            .await
            .unwrap()
            .items
            .len(),
        5
    );
}

#[tokio::test]
async fn a_crashed_runs_claim_lapses() {
    let syncer = syncer();
    apply(&syncer, &environment("staging", None), T0).await;
    let mut record = syncer.store().get_sync("staging").await.unwrap().unwrap();
    // A run claimed it and died before writing its outcome.
    record.value.due_at = T0 + 900 + sync::CLAIM_SECONDS;
    record.value.claimed_by = Some("run-dead".into());
    syncer
        .store()
        .put_sync("staging", &record.value, Some(record.version))
        .await
        .unwrap();
    let during = syncer.run(T0 + 1000, "run-1", BUDGET).await.unwrap();
    assert_eq!(during.due, 0, "claimed: not due");
    let after = syncer
        .run(T0 + 900 + sync::CLAIM_SECONDS, "run-2", BUDGET)
        .await
        .unwrap();
    assert_eq!(after.synced, 1, "{after:?}");
}

#[tokio::test]
async fn every_page_of_due_environments_is_synced() {
    let syncer = syncer();
    for i in 0..250 {
        apply(&syncer, &environment(&format!("env-{i:03}"), None), T0).await;
    }
    let run = syncer.run(T0 + 900, "run-1", BUDGET).await.unwrap();
    assert_eq!(
        run,
        RunReport {
            due: 250,
            synced: 250,
            ..RunReport::default()
        }
    );
}

#[tokio::test]
async fn a_deleted_environment_loses_its_schedule() {
    let syncer = syncer();
    apply(&syncer, &environment("gone", Some("1h")), T0).await;
    let status = EnvironmentStatus::new(EnvironmentState::Deleted, "down done", T0 + 10);
    syncer
        .store()
        .put_status("gone", &status, None)
        .await
        .unwrap();
    let run = syncer.run(T0 + 7200, "run-1", BUDGET).await.unwrap();
    assert_eq!(run.unscheduled, 1, "{run:?}");
    assert!(
        syncer.flows().started().is_empty(),
        "nothing left to destroy"
    );
    assert_eq!(syncer.store().get_sync("gone").await.unwrap(), None);
}

#[tokio::test]
async fn a_refused_warning_is_published_at_the_next_run() {
    let syncer = syncer();
    apply(&syncer, &environment("pr-3", Some("30m")), T0).await;
    syncer.notifier().set_refusing(true);
    let run = syncer.run(T0 + 900, "run-1", BUDGET).await.unwrap();
    assert_eq!(run.failed.len(), 1, "{run:?}");
    assert!(
        run.failed[0].starts_with("pr-3: EventsUnavailable"),
        "{run:?}"
    );
    syncer.notifier().set_refusing(false);
    // The claim lapses, then the warning goes out.
    let run = syncer
        .run(T0 + 900 + sync::CLAIM_SECONDS, "run-2", BUDGET)
        .await
        .unwrap();
    assert_eq!(run.synced, 1, "{run:?}");
    assert_eq!(warnings(&syncer).len(), 1);
}

#[test]
fn the_function_takes_a_scheduled_event_or_one_environment() {
    let scheduled = json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": "2027-01-15T08:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/SyncSchedule"],
        "detail": {}
    });
    assert_eq!(
        parse_request(scheduled).unwrap(),
        Request::Scheduled {
            now: T0,
            run: "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa".into()
        }
    );
    assert_eq!(
        parse_request(json!({"environment": "staging"})).unwrap(),
        Request::One {
            environment: "staging".into()
        }
    );
    let cases = [
        (
            json!({"detail-type": "Scheduled Event", "source": "aws.scheduler", "resources": [], "detail": {}}),
            "missing field `time`",
        ),
        (
            json!({"detail-type": "Object Created", "source": "aws.s3", "resources": [], "detail": {}, "time": "2027-01-15T08:00:00Z"}),
            "detail-type",
        ),
        (json!({"environment": "Not_A_Name"}), "environment:"),
        (
            json!({"environment": "staging", "force": true}),
            "force: unknown field",
        ),
        (json!([1, 2]), "input:"),
        (json!({}), "environment: expected a name"),
    ];
    for (input, expected) in cases {
        let err = parse_request(input.clone()).unwrap_err();
        assert_eq!(err.name(), "InvalidInput", "{input}");
        assert!(err.to_string().contains(expected), "{input}: {err}");
    }
}

#[test]
fn every_error_reports_a_listed_name() {
    use strata_store::StoreError;
    let errors = [
        SyncError::InvalidInput("x".into()),
        SyncError::EnvironmentNotFound("x".into()),
        SyncError::EventsUnavailable("x".into()),
        SyncError::FlowsUnavailable("x".into()),
        SyncError::Store(StoreError::Aws("x".into())),
        SyncError::Store(StoreError::StaleVersion {
            item: "x".into(),
            expected: None,
        }),
    ];
    for error in errors {
        assert!(SyncError::NAMES.contains(&error.name()), "{error:?}");
    }
}
