//! The sync logic over the in-memory store, flows, bus and registry: TTL warnings and expiry,
//! extension, locked environments, overlapping runs, deleted environments, image versions
//! (report and deploy, one listing per repository per run, ECR pushes), drift, the
//! inventory, and the function's input.

use std::time::Duration;

use serde_json::json;
use strata_control::MemoryFlows;
use strata_core::drift::{FieldDrift, Observed};
use strata_core::events::Notice;
use strata_core::spec::{DriftPolicy, ImagePolicy};
use strata_core::status::{ComponentPhase, INVENTORY_LIMIT, InventoryItem};
use strata_core::{
    Component, ComponentStatus, Environment, EnvironmentState, EnvironmentStatus, ImageUpdate,
    OperationKind,
};
use strata_notify::MemoryNotifier;
use strata_registry::MemoryTags;
use strata_store::{MemoryStore, ensure_scheduled, prelude::*};
use strata_sync::{
    MemoryInventory, MemoryObserver, Observation, Outcome, RegistryError, Request, RunReport,
    SyncError, SyncRequest, Syncer, TagCache, parse_request,
};
use strata_testkit::Staging;

const T0: u64 = 1_800_000_000;
const BUDGET: Duration = Duration::from_secs(60);

type TestSyncer =
    Syncer<MemoryStore, MemoryFlows, MemoryNotifier, MemoryTags, MemoryObserver, MemoryInventory>;

fn syncer() -> TestSyncer {
    Syncer::new(
        MemoryStore::default(),
        MemoryFlows::default(),
        MemoryNotifier::default(),
        MemoryTags::default(),
        MemoryObserver::default(),
        MemoryInventory::default(),
    )
}

fn environment(name: &str, ttl: Option<&str>) -> Environment {
    Staging::new().named(name).ttl(ttl).build()
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

/// A sync of `name` at `at` (run `run`) skips: `holder`'s operation holds the lease.
async fn assert_skipped(syncer: &TestSyncer, name: &str, at: u64, run: &str, holder: &str) {
    let outcome = syncer.sync_now(name, at, run).await.unwrap();
    let holder = holder.to_owned();
    assert_eq!(outcome, Outcome::Skipped { holder });
}

/// The version of staging's stored status.
async fn stored_status_version(syncer: &TestSyncer) -> u64 {
    let status = syncer.store().get_status("staging").await.unwrap();
    status.unwrap().version
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

    // The sync reserved the lease for down: a second run before down begins skips.
    assert_eq!(
        syncer
            .store()
            .lease("pr-1", expiry + 10)
            .await
            .unwrap()
            .map(|l| l.holder),
        Some(execution.clone())
    );
    assert_skipped(&syncer, "pr-1", expiry + 70, "now-6", execution).await;
    assert_eq!(syncer.flows().started().len(), 1);

    let history = history_kinds(&syncer, "pr-1").await;
    assert_eq!(
        history.len(),
        7,
        "one event per sync, and the delete's request: {history:#?}"
    );
    assert!(
        history
            .iter()
            .any(|e| e.starts_with("ExpiryDeleteRequested: ")),
        "{history:#?}"
    );
    assert!(history[6].contains("holds the lease"), "{history:#?}");
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
        let outcome = syncer
            .sync_due(
                due,
                now,
                "run-b",
                &TagCache::default(),
                Observation::WhenDue,
            )
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::Contended);
    }
    for i in 0..5 {
        let history = history_kinds(&syncer, &format!("env-{i}")).await;
        assert_eq!(history, ["Synced: in sync; no TTL"]);
    }
    // Nothing is due again until the interval has passed.
    let store = syncer.store();
    let due = |at| async move { store.due(at, 100, None).await.unwrap().items.len() };
    assert_eq!(due(now + 899).await, 0);
    assert_eq!(due(now + 900).await, 5);
}

#[tokio::test]
async fn a_crashed_runs_claim_lapses() {
    let syncer = syncer();
    apply(&syncer, &environment("staging", None), T0).await;
    let mut record = syncer.store().get_sync("staging").await.unwrap().unwrap();
    // A run claimed it and died before writing its outcome.
    record.value.due_at = T0 + 900 + strata_sync::CLAIM_SECONDS;
    record.value.claimed_by = Some("run-dead".into());
    syncer
        .store()
        .put_sync("staging", &record.value, Some(record.version))
        .await
        .unwrap();
    let during = syncer.run(T0 + 1000, "run-1", BUDGET).await.unwrap();
    assert_eq!(during.due, 0, "claimed: not due");
    let after = syncer
        .run(T0 + 900 + strata_sync::CLAIM_SECONDS, "run-2", BUDGET)
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
        .run(T0 + 900 + strata_sync::CLAIM_SECONDS, "run-2", BUDGET)
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
    // EventBridge's ECR push event, as the EcrPush rule delivers it.
    let pushed = json!({
        "version": "0",
        "id": "13cde686-328b-6117-af20-0e5566167482",
        "detail-type": "ECR Image Action",
        "source": "aws.ecr",
        "account": "123456789012",
        "time": "2027-01-15T08:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "result": "SUCCESS",
            "repository-name": "shop/api",
            "image-digest": "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234",
            "action-type": "PUSH",
            "image-tag": "2.3.9"
        }
    });
    assert_eq!(
        parse_request(pushed.clone()).unwrap(),
        Request::Pushed {
            image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/api".into(),
            now: T0,
            run: "13cde686-328b-6117-af20-0e5566167482".into()
        }
    );
    let mut deleted = pushed.clone();
    deleted["detail"]["action-type"] = json!("DELETE");
    let mut nameless = pushed;
    nameless["detail"]
        .as_object_mut()
        .unwrap()
        .remove("repository-name");
    assert_eq!(
        parse_request(json!({"environment": "staging"})).unwrap(),
        Request::One(SyncRequest {
            environment: "staging".into(),
            run: None,
            requested_by: None,
        })
    );
    // What the API hands over is what the function reads.
    let handed = SyncRequest {
        environment: "staging".into(),
        run: Some("now-req-1".into()),
        requested_by: Some("arn:aws:iam::123456789012:user/alice".into()),
    };
    assert_eq!(
        parse_request(serde_json::to_value(&handed).unwrap()).unwrap(),
        Request::One(handed)
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
        (
            deleted,
            "detail: expected a successful PUSH, got SUCCESS DELETE",
        ),
        (nameless, "detail: missing field `repository-name`"),
        (json!({"environment": "Not_A_Name"}), "environment:"),
        (
            json!({"environment": "staging", "force": true}),
            "unknown field `force`",
        ),
        (json!([1, 2]), "input:"),
        (json!({}), "missing field `environment`"),
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

const UI: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/ui";
const API: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/api";

/// An environment Ready with ui 1.4.0 and api 2.3.1 serving (what the app step records),
/// under `policy`; its images indexed as the API's apply does.
async fn serving(syncer: &TestSyncer, name: &str, policy: ImagePolicy, at: u64) {
    let mut env = environment(name, None);
    env.spec.sync.images = policy;
    apply(syncer, &env, at).await;
    let store = syncer.store();
    store.index_images(name, &env.images(), &[]).await.unwrap();
    let previous = store.get_status(name).await.unwrap().map(|s| s.version);
    store
        .put_status(
            name,
            &EnvironmentStatus::new(EnvironmentState::Ready, "up of generation 1 done", at),
            previous,
        )
        .await
        .unwrap();
    set_serving(syncer, name, "1.4.0", "2.3.1").await;
}

async fn set_serving(syncer: &TestSyncer, name: &str, ui: &str, api: &str) {
    let store = syncer.store();
    let mut app = ComponentStatus::new(ComponentPhase::Ready, 1, 0);
    app.outputs
        .insert("service.ui.version".into(), ui.to_owned());
    app.outputs
        .insert("service.api.version".into(), api.to_owned());
    let previous = store
        .get_component(name, Component::App)
        .await
        .unwrap()
        .map(|c| c.version);
    store
        .put_component(name, Component::App, &app, previous)
        .await
        .unwrap();
}

fn updates_announced(syncer: &TestSyncer) -> Vec<(String, String, String, Option<String>)> {
    syncer
        .notifier()
        .published()
        .into_iter()
        .filter_map(|n| match n {
            Notice::UpdateAvailable(u) => {
                Some((u.environment, u.service, u.available, u.execution))
            }
            _ => None,
        })
        .collect()
}

async fn recorded_updates(syncer: &TestSyncer, name: &str) -> Vec<(String, String, String)> {
    let status = syncer.store().get_status(name).await.unwrap().unwrap();
    status
        .value
        .image_updates
        .into_iter()
        .map(|u: ImageUpdate| (u.service, u.deployed, u.available))
        .collect()
}

#[tokio::test]
async fn a_newer_image_is_announced_once_and_recorded_in_the_status_under_report() {
    let syncer = syncer();
    serving(&syncer, "staging", ImagePolicy::Report, T0).await;
    // ui ^1.4: 1.4.2 is newer; 1.5.0-rc.1 is a pre-release the constraint does not name.
    syncer
        .registries()
        .set(UI, &["1.3.0", "1.4.0", "v1.4.2", "1.5.0-rc.1", "latest"]);
    // api ~2.3: 2.3.1 is the newest within it (2.4.0 is not).
    syncer.registries().set(API, &["2.3.0", "2.3.1", "2.4.0"]);

    let run = syncer.run(T0 + 900, "run-1", BUDGET).await.unwrap();
    assert_eq!(run.synced, 1, "{run:?}");
    assert_eq!(
        updates_announced(&syncer),
        [("staging".into(), "ui".into(), "v1.4.2".into(), None)]
    );
    assert_eq!(
        recorded_updates(&syncer, "staging").await,
        [("ui".into(), "1.4.0".into(), "v1.4.2".into())]
    );
    assert!(
        syncer.flows().started().is_empty(),
        "report deploys nothing"
    );
    let history = history_kinds(&syncer, "staging").await;
    assert!(
        history
            .last()
            .unwrap()
            .contains("ui v1.4.2 available (serving 1.4.0)"),
        "{history:?}"
    );

    // The next sync finds the same: no second announcement, no status write.
    let status_version = stored_status_version(&syncer).await;
    syncer.run(T0 + 1800, "run-2", BUDGET).await.unwrap();
    assert_eq!(updates_announced(&syncer).len(), 1);
    assert_eq!(stored_status_version(&syncer).await, status_version);

    // Once a deploy serves it, the record is cleared; nothing is announced.
    set_serving(&syncer, "staging", "v1.4.2", "2.3.1").await;
    syncer.run(T0 + 2700, "run-3", BUDGET).await.unwrap();
    assert!(recorded_updates(&syncer, "staging").await.is_empty());
    assert_eq!(updates_announced(&syncer).len(), 1);
}

#[tokio::test]
async fn deploy_rolls_a_newer_image_out_through_the_app_only_up_once() {
    let syncer = syncer();
    serving(&syncer, "staging", ImagePolicy::Deploy, T0).await;
    syncer.registries().set(UI, &["1.4.0"]);
    syncer.registries().set(API, &["2.3.1", "2.3.4"]);

    let outcome = syncer.sync_now("staging", T0 + 60, "now-1").await.unwrap();
    let Outcome::Synced {
        rollout: Some(execution),
        updates,
        ..
    } = &outcome
    else {
        panic!("expected a rollout: {outcome:?}");
    };
    assert!(execution.starts_with("images-staging-1-"), "{execution}");
    assert_eq!(updates.len(), 1);
    let started = syncer.flows().started();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].0, OperationKind::Up);
    assert_eq!(started[0].1, *execution);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&started[0].2).unwrap(),
        json!({"environment": "staging", "scope": "application"})
    );
    assert_eq!(
        updates_announced(&syncer),
        [(
            "staging".into(),
            "api".into(),
            "2.3.4".into(),
            Some(execution.clone())
        )]
    );

    // A rollout that has not landed yet holds the lease: the sync skips, starting nothing.
    assert_skipped(&syncer, "staging", T0 + 120, "now-2", execution).await;
    assert_eq!(syncer.flows().started().len(), 1);
    // It ran (its Finish gives the lease back) and the versions it found are recorded.
    syncer.store().release("staging", execution).await.unwrap();
    syncer
        .sync_now("staging", T0 + 150, "now-2b")
        .await
        .unwrap();
    assert_eq!(syncer.flows().started().len(), 1, "the same updates, once");

    // A newer version still: a new rollout under its own name.
    syncer.registries().set(API, &["2.3.1", "2.3.4", "2.3.5"]);
    syncer.sync_now("staging", T0 + 180, "now-3").await.unwrap();
    let started = syncer.flows().started();
    assert_eq!(started.len(), 2);
    assert_ne!(started[1].1, *execution);
}

#[tokio::test]
async fn each_repository_is_listed_once_per_run() {
    let syncer = syncer();
    for name in ["pr-1", "pr-2", "pr-3"] {
        serving(&syncer, name, ImagePolicy::Report, T0).await;
    }
    syncer.registries().set(UI, &["1.4.0"]);
    syncer.registries().set(API, &["2.3.1"]);
    let run = syncer.run(T0 + 900, "run-1", BUDGET).await.unwrap();
    assert_eq!(run.synced, 3);
    assert_eq!(syncer.registries().listings(UI), 1);
    assert_eq!(syncer.registries().listings(API), 1);
    assert!(updates_announced(&syncer).is_empty(), "all up to date");
}

#[tokio::test]
async fn an_unreadable_repository_keeps_what_was_found_and_says_so() {
    let syncer = syncer();
    serving(&syncer, "staging", ImagePolicy::Report, T0).await;
    syncer.registries().set(UI, &["1.4.0", "1.4.1"]);
    syncer.registries().set(API, &["2.3.1"]);
    syncer.run(T0 + 900, "run-1", BUDGET).await.unwrap();
    assert_eq!(recorded_updates(&syncer, "staging").await.len(), 1);

    syncer
        .registries()
        .fail(UI, RegistryError::Unavailable("ECR throttled".into()));
    let outcome = syncer
        .sync_now("staging", T0 + 1000, "now-1")
        .await
        .unwrap();
    let Outcome::Synced { unreadable, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(unreadable, &["ui: ECR throttled".to_owned()]);
    assert_eq!(
        recorded_updates(&syncer, "staging").await,
        [("ui".into(), "1.4.0".into(), "1.4.1".into())],
        "the update found before stands"
    );
    assert_eq!(updates_announced(&syncer).len(), 1);
}

#[tokio::test]
async fn an_ecr_push_syncs_only_the_environments_using_that_repository() {
    let syncer = syncer();
    serving(&syncer, "shop", ImagePolicy::Deploy, T0).await;
    // "blog" runs other images.
    let mut blog = environment("blog", None);
    for service in &mut blog.spec.app.services {
        service.image = service.image.replace("shop/", "blog/");
    }
    apply(&syncer, &blog, T0).await;
    syncer
        .store()
        .index_images("blog", &blog.images(), &[])
        .await
        .unwrap();
    syncer.registries().set(UI, &["1.4.0"]);
    syncer.registries().set(API, &["2.3.1", "2.3.2"]);

    let pushed = json!({
        "version": "0", "id": "push-1", "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": "123456789012", "time": "2027-01-15T08:00:00Z", "region": "eu-west-1",
        "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": "shop/api", "action-type": "PUSH", "image-tag": "2.3.2"}
    });
    let report: RunReport =
        serde_json::from_value(strata_sync::handle(&syncer, pushed, 0).await.unwrap()).unwrap();
    assert_eq!((report.due, report.synced), (1, 1), "{report:?}");
    assert_eq!(
        syncer.flows().started().len(),
        1,
        "shop rolls api 2.3.2 out"
    );
    assert!(
        history_kinds(&syncer, "blog").await.is_empty(),
        "blog untouched"
    );
    assert_eq!(
        syncer
            .registries()
            .listings("123456789012.dkr.ecr.eu-west-1.amazonaws.com/blog/api"),
        0
    );
}

fn scaled_node_group() -> Observed {
    Observed::Drifted {
        fields: vec![FieldDrift::new(
            "nodegroup strata-staging-1/scalingConfig.desiredSize",
            2,
            5,
        )],
    }
}

fn drift_announced(syncer: &TestSyncer) -> Vec<(Vec<Component>, Option<String>)> {
    syncer
        .notifier()
        .published()
        .into_iter()
        .filter_map(|n| match n {
            Notice::Drifted(d) => {
                Some((d.components.iter().map(|c| c.component).collect(), d.repair))
            }
            _ => None,
        })
        .collect()
}

/// staging Ready and serving the newest tags, under `sync.drift: report` (the example's
/// policy is repair): generation 2.
async fn reporting_drift() -> TestSyncer {
    let syncer = syncer();
    serving(&syncer, "staging", ImagePolicy::Report, T0).await;
    syncer.registries().set(UI, &["1.4.0"]);
    syncer.registries().set(API, &["2.3.1"]);
    let stored = syncer.store().get_spec("staging").await.unwrap().unwrap();
    let mut env = stored.environment.clone();
    env.spec.sync.drift = DriftPolicy::Report;
    let stored = syncer
        .store()
        .put_spec(&env, Some(&stored), T0)
        .await
        .unwrap();
    assert_eq!(stored.generation, 2);
    syncer
}

#[tokio::test]
async fn drift_is_reported_once_recorded_and_cleared_when_gone() {
    let syncer = reporting_drift().await;
    syncer
        .observer()
        .set("staging", Component::Cluster, Ok(scaled_node_group()));
    syncer.observer().set(
        "staging",
        Component::Dns,
        Ok(Observed::Missing {
            resources: vec!["record staging.example.com.".into()],
        }),
    );

    let outcome = syncer.sync_now("staging", T0 + 60, "now-1").await.unwrap();
    let Outcome::Synced { drift, repair, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        drift.iter().map(|d| d.component).collect::<Vec<_>>(),
        [Component::Cluster, Component::Dns]
    );
    assert_eq!(repair, &None, "report repairs nothing");
    assert!(syncer.flows().started().is_empty());
    assert_eq!(
        drift_announced(&syncer),
        [(vec![Component::Cluster, Component::Dns], None)]
    );
    let history = history_kinds(&syncer, "staging").await;
    assert!(
        history.last().unwrap().contains(
            "cluster drifted: nodegroup strata-staging-1/scalingConfig.desiredSize is 5 (spec: 2)"
        ),
        "{history:?}"
    );
    let status = syncer.store().get_status("staging").await.unwrap().unwrap();
    assert_eq!(status.value.drift.len(), 2);
    assert_eq!(
        syncer.observer().calls(),
        7,
        "every component observed once"
    );

    // The same drift again: no second event, no status write.
    syncer.sync_now("staging", T0 + 120, "now-2").await.unwrap();
    assert_eq!(drift_announced(&syncer).len(), 1);
    let again = syncer.store().get_status("staging").await.unwrap().unwrap();
    assert_eq!(again.version, status.version);

    // Put right behind Strata's back: the record clears, nothing is announced.
    syncer
        .observer()
        .set("staging", Component::Cluster, Ok(Observed::InSync));
    syncer
        .observer()
        .set("staging", Component::Dns, Ok(Observed::InSync));
    syncer.sync_now("staging", T0 + 180, "now-3").await.unwrap();
    let status = syncer.store().get_status("staging").await.unwrap().unwrap();
    assert!(status.value.drift.is_empty());
    assert_eq!(drift_announced(&syncer).len(), 1);
    let stored = syncer.store().get_spec("staging").await.unwrap().unwrap();
    assert_eq!(
        stored.generation, 2,
        "the policy change was a new generation"
    );
}

#[tokio::test]
async fn repair_starts_up_once_and_unobservable_components_keep_their_record() {
    let syncer = syncer();
    serving(&syncer, "staging", ImagePolicy::Deploy, T0).await;
    syncer.registries().set(UI, &["1.4.0"]);
    syncer.registries().set(API, &["2.3.1"]);
    syncer
        .observer()
        .set("staging", Component::Cluster, Ok(scaled_node_group()));
    let status_version = stored_status_version(&syncer).await;

    let outcome = syncer.sync_now("staging", T0 + 60, "now-1").await.unwrap();
    let Outcome::Synced {
        repair: Some(repair),
        ..
    } = &outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(repair, &format!("repair-staging-1-{status_version}"));
    let started = syncer.flows().started();
    assert_eq!(started.len(), 1);
    assert_eq!(
        (started[0].0, started[0].1.as_str(), started[0].2.as_str()),
        (
            OperationKind::Up,
            repair.as_str(),
            r#"{"environment":"staging"}"#
        ),
        "a whole up: every component converges back to the spec"
    );
    assert_eq!(
        drift_announced(&syncer),
        [(vec![Component::Cluster], Some(repair.clone()))]
    );

    // The repair holds the lease until it ends (its Finish gives the lease back).
    assert_skipped(&syncer, "staging", T0 + 90, "now-1b", repair).await;
    syncer.store().release("staging", repair).await.unwrap();

    // The cluster's function fails to answer: the drift found before stands, and the sync
    // says why it could not look.
    syncer.observer().set(
        "staging",
        Component::Cluster,
        Err("AwsTransient: DescribeNodegroup: throttled".into()),
    );
    let outcome = syncer.sync_now("staging", T0 + 120, "now-2").await.unwrap();
    let Outcome::Synced {
        drift, unreadable, ..
    } = &outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(drift.len(), 1);
    assert_eq!(
        unreadable,
        &["drift of cluster: AwsTransient: DescribeNodegroup: throttled".to_owned()]
    );
    assert_eq!(syncer.flows().started().len(), 1, "nothing started twice");
}

fn resource(kind: &str, id: &str) -> InventoryItem {
    InventoryItem {
        id: id.to_owned(),
        resource_type: kind.to_owned(),
        state: None,
        attributes: Default::default(),
        tags: Default::default(),
    }
}

#[tokio::test]
async fn the_inventory_of_a_ready_environment_is_recorded_when_it_changes_and_kept_when_unreadable()
{
    let syncer = syncer();
    serving(&syncer, "staging", ImagePolicy::Report, T0).await;
    syncer.registries().set(UI, &["1.4.0"]);
    syncer.registries().set(API, &["2.3.1"]);
    let found = vec![
        resource("s3:bucket", "strata-staging-assets"),
        resource("ec2:vpc", "vpc-1"),
        resource("eks:cluster", "strata-staging"),
    ];
    syncer.inventory().set("staging", Ok(found));

    let outcome = syncer.sync_now("staging", T0 + 60, "now-1").await.unwrap();
    let Outcome::Synced { resources, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(*resources, Some(3));
    let status = syncer.store().get_status("staging").await.unwrap().unwrap();
    assert_eq!(
        status
            .value
            .inventory
            .iter()
            .map(|i| format!("{} {}", i.resource_type, i.id))
            .collect::<Vec<_>>(),
        [
            "ec2:vpc vpc-1",
            "eks:cluster strata-staging",
            "s3:bucket strata-staging-assets"
        ],
        "sorted by type and id"
    );

    // The same resources again: no status write.
    syncer.sync_now("staging", T0 + 120, "now-2").await.unwrap();
    let again = syncer.store().get_status("staging").await.unwrap().unwrap();
    assert_eq!(again.version, status.version);

    // Unreadable: what was recorded stays, and the outcome names why.
    syncer
        .inventory()
        .set("staging", Err("GetResources: throttled".into()));
    let outcome = syncer.sync_now("staging", T0 + 180, "now-3").await.unwrap();
    let Outcome::Synced { unreadable, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(unreadable, &["inventory: GetResources: throttled"]);
    let kept = syncer.store().get_status("staging").await.unwrap().unwrap();
    assert_eq!(kept.value.inventory, status.value.inventory);

    // More than the limit: the first by type and id, the rest counted.
    let many = (0..INVENTORY_LIMIT + 5)
        .map(|i| resource("ec2:subnet", &format!("subnet-{i:03}")))
        .collect();
    syncer.inventory().set("staging", Ok(many));
    syncer.sync_now("staging", T0 + 240, "now-4").await.unwrap();
    let bounded = syncer.store().get_status("staging").await.unwrap().unwrap();
    assert_eq!(bounded.value.inventory.len(), INVENTORY_LIMIT);
    assert_eq!(bounded.value.inventory_omitted, 5);
    assert_eq!(syncer.inventory().takings(), 4);
}

#[tokio::test]
async fn an_environment_not_ready_has_no_inventory_taken() {
    let syncer = syncer();
    apply(&syncer, &environment("staging", None), T0).await;
    syncer.sync_now("staging", T0 + 60, "now-1").await.unwrap();
    assert_eq!(syncer.inventory().takings(), 0);
}

#[tokio::test]
async fn the_schedule_reads_live_resources_hourly_after_an_operation_and_while_drifted() {
    let syncer = reporting_drift().await;
    let every = 900;
    let observed = |syncer: &TestSyncer| (syncer.observer().calls(), syncer.inventory().takings());

    // Never observed: the first scheduled run reads every component and the inventory.
    let mut now = T0 + every;
    syncer.run(now, "run-1", BUDGET).await.unwrap();
    assert_eq!(observed(&syncer), (7, 1));
    // Unchanged within the hour: the next runs read nothing live.
    for run in ["run-2", "run-3"] {
        now += every;
        syncer.run(now, run, BUDGET).await.unwrap();
    }
    assert_eq!(observed(&syncer), (7, 1));
    // A sync someone asks for reads it at once.
    let asked = now + 10;
    syncer.sync_now("staging", asked, "now-1").await.unwrap();
    assert_eq!(observed(&syncer), (14, 2));
    // An hour after the last reading, and not before, the schedule reads it again.
    now += every;
    syncer.run(now, "run-4", BUDGET).await.unwrap();
    assert_eq!(observed(&syncer), (14, 2));
    now = asked + strata_sync::OBSERVE_EVERY;
    syncer.run(now, "run-5", BUDGET).await.unwrap();
    assert_eq!(observed(&syncer), (21, 3));

    // An operation writes the status: the next run reads it, and while drift is recorded
    // every run does.
    let status = syncer.store().get_status("staging").await.unwrap().unwrap();
    let mut after_up = status.value.clone();
    after_up.updated_at = now + 1;
    syncer
        .store()
        .put_status("staging", &after_up, Some(status.version))
        .await
        .unwrap();
    syncer
        .observer()
        .set("staging", Component::Cluster, Ok(scaled_node_group()));
    now += every;
    syncer.run(now, "run-6", BUDGET).await.unwrap();
    assert_eq!(observed(&syncer), (28, 4));
    now += every;
    syncer.run(now, "run-7", BUDGET).await.unwrap();
    assert_eq!(observed(&syncer), (35, 5), "drift recorded: read again");
    syncer
        .observer()
        .set("staging", Component::Cluster, Ok(Observed::InSync));
    for run in ["run-8", "run-9"] {
        now += every;
        syncer.run(now, run, BUDGET).await.unwrap();
    }
    assert_eq!(
        observed(&syncer),
        (42, 6),
        "cleared, then quiet for an hour"
    );
}

#[tokio::test]
async fn a_custom_components_drift_is_read_through_the_custom_function_like_the_others() {
    let syncer = reporting_drift().await;
    let stored = syncer.store().get_spec("staging").await.unwrap().unwrap();
    let mut env = stored.environment.to_json();
    env["spec"]["components"] = serde_json::json!([{
        "name": "queue",
        "dependsOn": ["network"],
        "cloudFormation": {"template": "Resources: {Q: {Type: AWS::SQS::Queue}}"},
    }]);
    let env = strata_core::Environment::from_value(env).unwrap();
    syncer
        .store()
        .put_spec(&env, Some(&stored), T0)
        .await
        .unwrap();
    let queue = Component::parse("queue").unwrap();
    syncer.observer().set(
        "staging",
        queue,
        Ok(Observed::Drifted {
            fields: vec![strata_core::drift::FieldDrift {
                path: "Queue/VisibilityTimeout".into(),
                expected: "45".into(),
                observed: "10".into(),
            }],
        }),
    );
    let outcome = syncer.sync_now("staging", T0 + 60, "now-1").await.unwrap();
    let Outcome::Synced { drift, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        drift.iter().map(|d| d.component).collect::<Vec<_>>(),
        [queue]
    );
    assert_eq!(syncer.observer().calls(), 8, "the seven and the custom one");
}
