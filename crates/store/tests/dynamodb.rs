//! The store against a real DynamoDB emulator (moto), with the table the template declares.

use std::collections::BTreeSet;

use strata_core::status::ComponentPhase;
use strata_core::{
    Component, ComponentStatus, Environment, EnvironmentState, EnvironmentStatus, Event,
};
use strata_localstack::{LocalStack, Options};
use strata_store::{DynamoStore, SpecWrites, StoreError, SyncRecord, prelude::*};

async fn store() -> (LocalStack, DynamoStore) {
    let stack = LocalStack::start(Options {
        lambdas: false,
        ..Options::default()
    })
    .await
    .expect("the local stack starts");
    let client = aws_sdk_dynamodb::Client::new(&stack.sdk_config());
    let table = stack
        .table_name("StateTable")
        .expect("the template declares StateTable");
    let store = DynamoStore::new(client, table);
    (stack, store)
}

fn environment(name: &str) -> Environment {
    strata_testkit::Staging::new().named(name).build()
}

#[tokio::test]
async fn specs_are_versioned_and_generations_count_changes() {
    let (_stack, store) = store().await;
    assert_eq!(store.get_spec("staging").await.unwrap(), None);

    let first = store
        .put_spec(&environment("staging"), None, 100)
        .await
        .unwrap();
    assert_eq!((first.generation, first.version), (1, 1));
    assert_eq!(
        store.get_spec("staging").await.unwrap().as_ref(),
        Some(&first)
    );

    // An identical spec writes nothing and keeps the generation.
    let same = store
        .put_spec(&environment("staging"), Some(&first), 200)
        .await
        .unwrap();
    assert_eq!(same, first);

    let mut bigger = environment("staging");
    bigger.spec.database.as_mut().unwrap().storage_gib = 50;
    let second = store.put_spec(&bigger, Some(&first), 300).await.unwrap();
    assert_eq!((second.generation, second.version), (2, 2));

    // A writer still holding the first version is refused, and nothing is lost.
    let mut other = environment("staging");
    other.spec.app.services[0].replicas = 5;
    let stale = store.put_spec(&other, Some(&first), 400).await;
    assert!(
        matches!(stale, Err(StoreError::StaleVersion { .. })),
        "{stale:?}"
    );
    assert_eq!(store.get_spec("staging").await.unwrap(), Some(second));

    // Creating over an existing environment is refused too.
    let fresh = store.put_spec(&other, None, 500).await;
    assert!(matches!(
        fresh,
        Err(StoreError::StaleVersion { expected: None, .. })
    ));
}

#[tokio::test]
async fn exactly_one_of_many_concurrent_acquirers_wins() {
    let (_stack, store) = store().await;
    let attempts = (0..16).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .acquire("staging", &format!("exec-{i}"), 600, 1_000)
                .await
        })
    });
    let mut winners = Vec::new();
    let mut refusals = Vec::new();
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(lease) => winners.push(lease.holder),
            Err(StoreError::LockHeld {
                holder, expires_at, ..
            }) => refusals.push((holder, expires_at)),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(refusals.len(), 15);
    // Every refusal names the one holder (read from the failed condition's ALL_OLD item).
    assert!(
        refusals
            .iter()
            .all(|(h, at)| *h == winners[0] && *at == 1_600),
        "{refusals:?}"
    );
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_only_the_holder_releases() {
    let (_stack, store) = store().await;
    store.acquire("staging", "exec-a", 10, 1_000).await.unwrap();
    // The holder may re-acquire (a retried step) and extends its lease.
    assert_eq!(
        store
            .acquire("staging", "exec-a", 10, 1_005)
            .await
            .unwrap()
            .expires_at,
        1_015
    );

    let held = store.acquire("staging", "exec-b", 10, 1_010).await;
    assert!(matches!(held, Err(StoreError::LockHeld { ref holder, .. }) if holder == "exec-a"));
    // Reading the lease says who holds it until it expires, and nobody after.
    let read = store.lease("staging", 1_015).await.unwrap().unwrap();
    assert_eq!((read.holder.as_str(), read.expires_at), ("exec-a", 1_015));
    assert_eq!(store.lease("staging", 1_016).await.unwrap(), None);
    let taken = store.acquire("staging", "exec-b", 10, 1_016).await.unwrap();
    assert_eq!(taken.holder, "exec-b");

    // The old holder can no longer release what it lost.
    let refused = store.release("staging", "exec-a").await;
    assert_eq!(
        refused,
        Err(StoreError::NotLockHolder {
            environment: "staging".into(),
            caller: "exec-a".into(),
            holder: Some("exec-b".into()),
        })
    );
    store.release("staging", "exec-b").await.unwrap();
    // Releasing a free lease converges; the lease is then free for anyone.
    store.release("staging", "exec-b").await.unwrap();
    assert_eq!(store.lease("staging", 1_017).await.unwrap(), None);
    store.acquire("staging", "exec-c", 10, 1_017).await.unwrap();
    // Leases are per environment.
    store
        .acquire("production", "exec-d", 10, 1_017)
        .await
        .unwrap();
}

/// The network Ready in generation 1, its VPC recorded.
fn network_ready() -> ComponentStatus {
    ComponentStatus {
        phase: ComponentPhase::Ready,
        resource_ids: [("vpcId".to_owned(), "vpc-123".to_owned())].into(),
        outputs: Default::default(),
        last_error: None,
        observed_generation: 1,
        updated_at: 11,
        applied: None,
        waiting: None,
    }
}

#[tokio::test]
async fn status_and_components_are_versioned_separately_and_read_together() {
    let (_stack, store) = store().await;
    let status = EnvironmentStatus::new(EnvironmentState::Progressing, "up started", 10);
    let v1 = store.put_status("staging", &status, None).await.unwrap();
    let component = network_ready();
    let c1 = store
        .put_component("staging", Component::Network, &component, None)
        .await
        .unwrap();
    store
        .put_component("staging", Component::Storage, &component, None)
        .await
        .unwrap();
    // A custom component's status is an item like the others, read back by its name.
    let queue = Component::parse("queue").unwrap();
    store
        .put_component("staging", queue, &component, None)
        .await
        .unwrap();
    // Parallel branches write their own items: a status write does not conflict with them.
    let mut ready = status.clone();
    ready.state = EnvironmentState::Ready;
    let v2 = store.put_status("staging", &ready, Some(v1)).await.unwrap();
    assert_eq!(v2, v1 + 1);

    let read = store.get_status("staging").await.unwrap().unwrap();
    assert_eq!(read.version, v2);
    assert_eq!(read.value.state, EnvironmentState::Ready);
    assert_eq!(
        read.value.components.keys().copied().collect::<Vec<_>>(),
        vec![Component::Network, Component::Storage, queue]
    );
    assert_eq!(
        read.value.components[&Component::Network].resource_ids["vpcId"],
        "vpc-123"
    );

    let stale = store
        .put_component("staging", Component::Network, &component, None)
        .await;
    assert!(matches!(stale, Err(StoreError::StaleVersion { .. })));
    let stale = store.put_status("staging", &status, Some(v1)).await;
    assert!(matches!(stale, Err(StoreError::StaleVersion { .. })));
    assert_eq!(
        store
            .get_component("staging", Component::Network)
            .await
            .unwrap()
            .unwrap()
            .version,
        c1
    );
}

#[tokio::test]
async fn history_is_newest_first_and_paginated() {
    let (_stack, store) = store().await;
    for at in 1..=7u64 {
        let event = Event {
            at,
            kind: "SpecApplied".into(),
            message: format!("event {at}"),
            actor: "arn:aws:iam::123456789012:user/alice".into(),
            execution: None,
        };
        store.append_event("staging", &event).await.unwrap();
    }
    store
        .append_event(
            "other",
            &Event {
                at: 99,
                kind: "x".into(),
                message: "x".into(),
                actor: "x".into(),
                execution: None,
            },
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .history("staging", 3, cursor.as_deref())
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|e| e.at));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, vec![7, 6, 5, 4, 3, 2, 1]);
}

#[tokio::test]
async fn listing_pages_through_every_environment_by_name() {
    let (_stack, store) = store().await;
    let names = ["alpha", "bravo", "charlie", "delta", "echo"];
    for name in names.iter().rev() {
        store.put_spec(&environment(name), None, 1).await.unwrap();
    }
    // Status items must not show up in the listing.
    store
        .put_status(
            "alpha",
            &EnvironmentStatus::new(EnvironmentState::Ready, "", 1),
            None,
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list(2, cursor.as_deref()).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|s| s.name));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, names);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), names.len());
}

#[tokio::test]
async fn sync_schedules_are_found_due_by_the_index_and_claimed_once() {
    use strata_store::{SyncRecord, ensure_scheduled};
    let (_stack, store) = store().await;
    // Due at 100 + i*10 for env-i; env-9 is due last.
    for i in 0..10u64 {
        let name = format!("env-{i}");
        store
            .put_sync(&name, &SyncRecord::new(0, 100 + i * 10), None)
            .await
            .unwrap();
    }
    // Making a schedule that exists changes nothing (the TTL origin stays).
    ensure_scheduled(&store, "env-0", 5_000, 900).await.unwrap();
    assert_eq!(
        store.get_sync("env-0").await.unwrap().unwrap().value,
        SyncRecord::new(0, 100)
    );

    // Everything due at 145, earliest first, a page of two at a time.
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.due(145, 2, cursor.as_deref()).await.unwrap();
        names.extend(page.items.iter().map(|d| d.environment.clone()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(names, ["env-0", "env-1", "env-2", "env-3", "env-4"]);

    // Two runs claim env-0 from the same read: exactly one wins.
    let due = store.due(100, 10, None).await.unwrap().items;
    assert_eq!(due.len(), 1);
    let mut claimed = due[0].record.value.clone();
    claimed.due_at = 400;
    claimed.claimed_by = Some("run-a".into());
    let first = store
        .put_sync("env-0", &claimed, Some(due[0].record.version))
        .await;
    claimed.claimed_by = Some("run-b".into());
    let second = store
        .put_sync("env-0", &claimed, Some(due[0].record.version))
        .await;
    assert!(first.is_ok());
    assert_eq!(second.unwrap_err().name(), "StaleVersion");
    // Claimed: no longer due until the claim lapses.
    let due_now: Vec<String> = store
        .due(145, 100, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|d| d.environment)
        .collect();
    assert_eq!(due_now, ["env-1", "env-2", "env-3", "env-4"]);

    store.delete_sync("env-1").await.unwrap();
    assert_eq!(store.get_sync("env-1").await.unwrap(), None);
    assert_eq!(store.due(115, 100, None).await.unwrap().items.len(), 0);
    // Removing a schedule that is gone converges.
    store.delete_sync("env-1").await.unwrap();
}

#[tokio::test]
async fn a_sync_reads_spec_status_app_and_lease_in_one_call() {
    let (_stack, store) = store().await;
    let env = environment("pr-1");
    let spec = store.put_spec(&env, None, 100).await.unwrap();
    let status = EnvironmentStatus::new(EnvironmentState::Ready, "up done", 100);
    let status_version = store.put_status("pr-1", &status, None).await.unwrap();
    let mut app = ComponentStatus::new(ComponentPhase::Ready, 1, 100);
    app.outputs
        .insert("service.ui.version".into(), "1.4.0".into());
    store
        .put_component("pr-1", Component::App, &app, None)
        .await
        .unwrap();
    store.acquire("pr-1", "up-pr-1-2-0", 60, 100).await.unwrap();

    let view = store.sync_view("pr-1", 150).await.unwrap();
    assert_eq!(view.spec, Some(spec));
    assert_eq!(view.state(), Some(EnvironmentState::Ready));
    assert_eq!(view.status.map(|s| s.version), Some(status_version));
    assert_eq!(view.app, Some(app));
    assert_eq!(view.lease.map(|l| l.holder).as_deref(), Some("up-pr-1-2-0"));
    // Past its expiry the lease no longer holds; an unknown environment is all None.
    assert_eq!(store.sync_view("pr-1", 161).await.unwrap().lease, None);
    let nothing = store.sync_view("pr-2", 150).await.unwrap();
    assert_eq!(
        (nothing.spec, nothing.status, nothing.app, nothing.lease),
        (None, None, None, None)
    );
}

#[tokio::test]
async fn the_image_index_names_the_environments_using_a_repository() {
    let (_stack, store) = store().await;
    let ui = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/ui";
    let api = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/api";
    store.index_images("pr-1", &[ui, api], &[]).await.unwrap();
    store.index_images("pr-2", &[ui], &[]).await.unwrap();
    // Idempotent: indexing again changes nothing.
    store.index_images("pr-2", &[ui], &[]).await.unwrap();
    assert_eq!(
        store.environments_using(ui).await.unwrap(),
        ["pr-1", "pr-2"]
    );
    assert_eq!(store.environments_using(api).await.unwrap(), ["pr-1"]);
    store.index_images("pr-1", &[api], &[ui]).await.unwrap();
    assert_eq!(store.environments_using(ui).await.unwrap(), ["pr-2"]);
    assert!(
        store
            .environments_using("nothing/here")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn one_read_gives_the_spec_the_status_with_its_components_and_the_lease() {
    let (_stack, store) = store().await;
    let env = environment("staging");
    store.put_spec(&env, None, 5).await.unwrap();
    let status = EnvironmentStatus::new(EnvironmentState::Progressing, "up started", 10);
    store.put_status("staging", &status, None).await.unwrap();
    let component = network_ready();
    store
        .put_component("staging", Component::Network, &component, None)
        .await
        .unwrap();
    // Items on either side of the range the read queries: history before, sync after.
    store
        .append_event(
            "staging",
            &Event {
                at: 12,
                kind: "SpecApplied".into(),
                message: "applied".into(),
                actor: "test".into(),
                execution: None,
            },
        )
        .await
        .unwrap();
    strata_store::ensure_scheduled(&store, "staging", 12, 3600)
        .await
        .unwrap();
    let lease = store.acquire("staging", "up-1", 60, 20).await.unwrap();

    let read = store.read("staging", 30).await.unwrap();
    assert_eq!(read.spec, store.get_spec("staging").await.unwrap());
    assert_eq!(read.status, store.get_status("staging").await.unwrap());
    assert_eq!(
        read.status.unwrap().value.components[&Component::Network].resource_ids["vpcId"],
        "vpc-123"
    );
    assert_eq!(read.lease, Some(lease));
    // The lease has expired by 100: no holder.
    assert_eq!(store.read("staging", 100).await.unwrap().lease, None);
    let nobody = store.read("nobody", 30).await.unwrap();
    assert_eq!(
        (nobody.spec, nobody.status, nobody.lease),
        (None, None, None)
    );
}

#[tokio::test]
async fn an_apply_writes_spec_schedule_and_index_together_or_none_of_them() {
    let (_stack, store) = store().await;
    let due = |store: &DynamoStore| {
        let store = store.clone();
        async move {
            store
                .get_sync("atomic")
                .await
                .unwrap()
                .unwrap()
                .value
                .due_at
        }
    };
    let using = |store: &DynamoStore, image: &'static str| {
        let store = store.clone();
        async move { store.environments_using(image).await.unwrap() }
    };
    let env = environment("atomic");
    let with = |images: &[&str], unindex: &[&str]| SpecWrites {
        schedule: Some(SyncRecord::new(100, 1000)),
        index: images.iter().map(|i| (*i).to_owned()).collect(),
        unindex: unindex.iter().map(|i| (*i).to_owned()).collect(),
    };

    // A new environment: the spec, its schedule and its images, one transaction.
    let first = store
        .put_spec_with(&env, None, 100, &with(&["shop/api", "shop/ui"], &[]))
        .await
        .unwrap();
    assert_eq!((first.generation, first.version), (1, 1));
    let read = store.read("atomic", 100).await.unwrap();
    assert!(read.scheduled, "the schedule was made with the spec");
    assert_eq!(read.spec.as_ref(), Some(&first));
    assert_eq!(due(&store).await, 1000);
    assert_eq!(using(&store, "shop/ui").await, ["atomic"]);

    // A writer holding no version (it read before the first) is refused, and nothing of
    // what goes beside its spec is written: not its image, not its schedule.
    let mut other = environment("atomic");
    other.spec.database.as_mut().unwrap().storage_gib = 77;
    let stale = store
        .put_spec_with(&other, None, 200, &with(&["shop/other"], &["shop/ui"]))
        .await;
    assert!(
        matches!(stale, Err(StoreError::StaleVersion { .. })),
        "{stale:?}"
    );
    assert_eq!(
        store.get_spec("atomic").await.unwrap().as_ref(),
        Some(&first)
    );
    assert!(using(&store, "shop/other").await.is_empty());
    assert_eq!(using(&store, "shop/ui").await, ["atomic"]);
    assert_eq!(due(&store).await, 1000);

    // A schedule made in between (a concurrent first apply) wins; the spec still lands.
    let second = store
        .put_spec_with(
            &other,
            Some(&first),
            300,
            &with(&["shop/other"], &["shop/ui"]),
        )
        .await
        .unwrap();
    assert_eq!((second.generation, second.version), (2, 2));
    assert_eq!(due(&store).await, 1000);
    assert_eq!(using(&store, "shop/other").await, ["atomic"]);
    assert!(using(&store, "shop/ui").await.is_empty());
}
