//! Execution names, starting, cancelling and recovering operations, on the in-memory store.

use super::*;
use crate::MemoryFlows;
use strata_store::{MemoryStore, prelude::*};

fn update(service: &str, available: &str) -> ImageUpdate {
    ImageUpdate {
        service: service.into(),
        deployed: "1.0.0".into(),
        available: available.into(),
        found_at: 0,
    }
}

#[test]
fn every_execution_name_comes_from_its_trigger() {
    let v = |generation, status_version| (generation, status_version);
    let (g, s) = v(3, 7);
    let names = [
        Trigger::Apply {
            generation: g,
            status_version: s,
        },
        Trigger::Delete {
            generation: g,
            status_version: s,
        },
        Trigger::Rollback {
            generation: g,
            status_version: s,
        },
        Trigger::Repair {
            generation: g,
            status_version: s,
        },
        Trigger::Expiry { expires_at: 1_800 },
    ]
    .map(|t| t.execution("pr-1"));
    assert_eq!(
        names,
        [
            "up-pr-1-3-7",
            "down-pr-1-3-7",
            "rollback-pr-1-3-7",
            "repair-pr-1-3-7",
            "ttl-pr-1-1800"
        ]
    );
    let a = [update("web", "1.1.0")];
    let b = [update("web", "1.2.0")];
    let rollout = |updates| Trigger::Rollout {
        generation: 3,
        updates,
    };
    assert_eq!(rollout(&a).execution("pr-1"), rollout(&a).execution("pr-1"));
    assert_ne!(rollout(&a).execution("pr-1"), rollout(&b).execution("pr-1"));
    assert!(rollout(&a).execution("pr-1").starts_with("images-pr-1-3-"));
}

#[test]
fn the_same_request_is_recognised_whatever_the_status_was() {
    let apply = Trigger::Apply {
        generation: 2,
        status_version: 9,
    };
    assert!(apply.started("web", "up-web-2-4"));
    assert!(!apply.started("web", "up-web-3-4"));
    assert!(!apply.started("web", "down-web-2-4"));
    assert!(!apply.started("web", "up-web-2"));
}

#[tokio::test]
async fn a_start_that_fails_gives_the_lease_back_and_records_nothing() {
    let operations = Operations::new(MemoryStore::default(), MemoryFlows::default());
    let launch = Launch {
        environment: "web",
        trigger: Trigger::Delete {
            generation: 1,
            status_version: 0,
        },
        scope: Scope::All,
        recreate: Vec::new(),
        message: "delete requested".into(),
    };
    operations.flows().set_unavailable(true);
    let refused = operations.start(&launch, "alice", 100).await;
    assert!(matches!(refused, Err(StartError::Flows(_))), "{refused:?}");
    assert_eq!(operations.store().lease("web", 100).await.unwrap(), None);

    operations.flows().set_unavailable(false);
    let started = operations.start(&launch, "alice", 100).await.unwrap();
    assert_eq!(started.execution, "down-web-1-0");
    let lease = operations.store().lease("web", 100).await.unwrap().unwrap();
    assert_eq!(lease.holder, "down-web-1-0");
    let history = operations.store().history("web", 10, None).await.unwrap();
    assert_eq!(history.items.len(), 1);
    assert_eq!(history.items[0].kind, "DeleteRequested");
    assert_eq!(history.items[0].actor, "alice");

    // Someone else's start is refused while the lease is held, naming the holder.
    let other = Launch {
        trigger: Trigger::Expiry { expires_at: 90 },
        ..launch.clone()
    };
    match operations.start(&other, "sync/run-1", 101).await {
        Err(StartError::Held { holder, .. }) => assert_eq!(holder, "down-web-1-0"),
        other => panic!("expected the lease held, got {other:?}"),
    }
    assert_eq!(operations.flows().started().len(), 1);
}

fn apply(status_version: u64) -> Launch<'static> {
    Launch {
        environment: "web",
        trigger: Trigger::Apply {
            generation: 1,
            status_version,
        },
        scope: Scope::All,
        recreate: Vec::new(),
        message: "apply".into(),
    }
}

/// What Begin and a component step leave: the operation running, the cluster creating.
async fn begun(operations: &Operations<MemoryStore, MemoryFlows>, execution: &str) {
    use strata_core::{Component, ComponentStatus, EnvironmentStatus, Operation};
    let store = operations.store();
    let current = store.get_status("web").await.unwrap();
    let mut status = EnvironmentStatus::new(EnvironmentState::Progressing, "up", 100);
    status.operation = Some(Operation {
        kind: OperationKind::Up,
        execution: execution.into(),
        generation: 1,
        started_at: 100,
    });
    store
        .put_status("web", &status, current.map(|c| c.version))
        .await
        .unwrap();
    for (component, phase) in [
        (Component::Network, ComponentPhase::Ready),
        (Component::Cluster, ComponentPhase::Creating),
    ] {
        let previous = store.get_component("web", component).await.unwrap();
        store
            .put_component(
                "web",
                component,
                &ComponentStatus::new(phase, 1, 100),
                previous.map(|p| p.version),
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn cancel_stops_the_execution_fences_it_and_frees_the_environment() {
    let operations = Operations::new(MemoryStore::default(), MemoryFlows::default());
    assert_eq!(operations.cancel("web", "alice", 100).await.unwrap(), None);

    let started = operations.start(&apply(0), "alice", 100).await.unwrap();
    begun(&operations, &started.execution).await;
    let cancelled = operations.cancel("web", "bob", 110).await.unwrap().unwrap();
    assert_eq!(cancelled.execution, "up-web-1-0");
    assert_eq!(cancelled.run, Run::Ended("ABORTED".into()));
    assert_eq!(
        cancelled.in_flight,
        [("cluster".to_owned(), ComponentPhase::Creating)]
    );
    assert_eq!(operations.flows().stopped(), ["up-web-1-0"]);
    assert_eq!(operations.store().lease("web", 110).await.unwrap(), None);
    let status = operations.store().get_status("web").await.unwrap().unwrap();
    assert_eq!(status.value.state, EnvironmentState::Cancelled);
    assert_eq!(
        status.value.message,
        "up cancelled: cancelled by bob; in flight: cluster (creating)"
    );
    let history = operations.store().history("web", 10, None).await.unwrap();
    let kinds: Vec<&str> = history.items.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"OperationCancelled"), "{kinds:?}");

    // A stop that cannot be made leaves everything as it was.
    let again = operations
        .start(&apply(status.version), "alice", 120)
        .await
        .unwrap();
    begun(&operations, &again.execution).await;
    operations.flows().set_unavailable(true);
    assert!(matches!(
        operations.cancel("web", "bob", 121).await,
        Err(StartError::Flows(_))
    ));
    let lease = operations.store().lease("web", 121).await.unwrap().unwrap();
    assert_eq!(lease.holder, again.execution);
}

#[tokio::test]
async fn a_lease_left_by_an_ended_execution_is_recovered_one_still_running_is_not() {
    let operations = Operations::new(MemoryStore::default(), MemoryFlows::default());
    let first = operations.start(&apply(0), "alice", 100).await.unwrap();
    begun(&operations, &first.execution).await;

    // Running: refused, naming it.
    match operations.start(&apply(1), "alice", 110).await {
        Err(StartError::Held { holder, .. }) => assert_eq!(holder, first.execution),
        other => panic!("expected held, got {other:?}"),
    }
    // Stopped in the console: its lease is recovered and the new operation starts.
    operations.flows().end(&first.execution, "ABORTED");
    let second = operations.start(&apply(1), "alice", 120).await.unwrap();
    let lease = operations.store().lease("web", 120).await.unwrap().unwrap();
    assert_eq!(lease.holder, second.execution);
    let history = operations.store().history("web", 10, None).await.unwrap();
    let recovered = history
        .items
        .iter()
        .find(|e| e.kind == "LeaseRecovered")
        .expect("the recovery is in the history");
    assert_eq!(
        recovered.execution.as_deref(),
        Some(first.execution.as_str())
    );
    assert!(
        recovered.message.contains("ended ABORTED"),
        "{}",
        recovered.message
    );
}

#[test]
fn the_machine_of_an_execution_follows_its_name() {
    for (name, operation) in [
        ("up-web-1-0", OperationKind::Up),
        ("rollback-web-1-0", OperationKind::Up),
        ("repair-web-1-0", OperationKind::Up),
        ("images-web-1-00ff", OperationKind::Up),
        ("down-web-1-0", OperationKind::Down),
        ("ttl-web-1800", OperationKind::Down),
    ] {
        assert_eq!(operation_of(name), operation, "{name}");
    }
}
