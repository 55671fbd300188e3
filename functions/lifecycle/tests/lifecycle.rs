//! begin/finish against the in-memory store: input checks, idempotency, what a failure keeps.

use serde_json::{Value, json};
use strata_core::status::ComponentPhase;
use strata_core::{Component, ComponentStatus, Environment, EnvironmentState, OperationKind};
use strata_store::{MemoryStore, Store};

async fn stored() -> (MemoryStore, Environment) {
    let path = format!("{}/../../examples/preview.json", env!("CARGO_MANIFEST_DIR"));
    let env = Environment::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    let store = MemoryStore::default();
    store.put_spec(&env, None, 1).await.unwrap();
    (store, env)
}

fn begin(execution: &str, input: Value) -> Value {
    json!({"action": "begin", "operation": "up", "execution": execution, "input": input})
}

async fn ready_everything(store: &MemoryStore, env: &Environment, generation: u64) {
    for component in Component::ALL.into_iter().filter(|c| env.includes(*c)) {
        let status = ComponentStatus::new(ComponentPhase::Ready, generation, 2);
        let previous = store
            .get_component(env.name(), component)
            .await
            .unwrap()
            .map(|v| v.version);
        store
            .put_component(env.name(), component, &status, previous)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_retried_begin_converges_without_a_second_event() {
    let (store, _) = stored().await;
    let first = lifecycle::handle(&store, begin("up-1", json!({"environment": "pr-1234"})), 10)
        .await
        .unwrap();
    let again = lifecycle::handle(&store, begin("up-1", json!({"environment": "pr-1234"})), 11)
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(first["generation"], 1);
    assert_eq!(first["pollSeconds"], lifecycle::DEFAULT_POLL_SECONDS);
    assert_eq!(
        store
            .history("pr-1234", 10, None)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let status = store.get_status("pr-1234").await.unwrap().unwrap().value;
    assert_eq!(status.state, EnvironmentState::Progressing);

    // A second execution meets the lock.
    let err = lifecycle::handle(&store, begin("up-2", json!({"environment": "pr-1234"})), 12)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "LockHeld");
    assert!(err.to_string().contains("locked by up-1"), "{err}");
}

#[tokio::test]
async fn finish_is_idempotent_and_ready_needs_every_component() {
    let (store, env) = stored().await;
    let context = lifecycle::handle(&store, begin("up-1", json!({"environment": "pr-1234"})), 10)
        .await
        .unwrap();
    ready_everything(&store, &env, 1).await;
    let finish = json!({"action": "finish", "context": context});
    let done = lifecycle::handle(&store, finish.clone(), 20).await.unwrap();
    assert_eq!(done["state"], "Ready");
    // Retried after the lock was already released: same answer, no new event.
    let again = lifecycle::handle(&store, finish, 21).await.unwrap();
    assert_eq!(again["state"], "Ready");
    let kinds: Vec<String> = store
        .history("pr-1234", 10, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["Ready", "OperationStarted"]);
    let status = store.get_status("pr-1234").await.unwrap().unwrap().value;
    assert_eq!(status.observed_generation, 1);
    store.acquire("pr-1234", "next", 60, 22).await.unwrap();
}

#[tokio::test]
async fn a_caught_failure_ends_failed_with_the_message_and_frees_the_lock() {
    let (store, env) = stored().await;
    let context = lifecycle::handle(&store, begin("up-1", json!({"environment": "pr-1234"})), 10)
        .await
        .unwrap();
    ready_everything(&store, &env, 1).await;
    let cause = json!({"errorType": "ResourceNotOwned", "errorMessage": "vpc-1 lacks strata tags"})
        .to_string();
    let done = lifecycle::handle(
        &store,
        json!({"action": "finish", "context": context, "error": {"Error": "ResourceNotOwned", "Cause": cause}}),
        20,
    )
    .await
    .unwrap();
    assert_eq!(done["state"], "Failed");
    assert_eq!(
        done["message"],
        "up failed: ResourceNotOwned: vpc-1 lacks strata tags"
    );
    let status = store.get_status("pr-1234").await.unwrap().unwrap().value;
    // A failed operation does not claim the generation; component records are kept.
    assert_eq!(status.observed_generation, 0);
    assert_eq!(status.components.len(), 4);
    store.acquire("pr-1234", "next", 60, 22).await.unwrap();
}

#[tokio::test]
async fn components_behind_the_generation_are_not_converged() {
    let (store, env) = stored().await;
    ready_everything(&store, &env, 1).await;
    let mut status = store.get_status("pr-1234").await.unwrap();
    assert!(
        status.is_none(),
        "component writes do not create the environment status"
    );
    lifecycle::handle(&store, begin("up-1", json!({"environment": "pr-1234"})), 10)
        .await
        .unwrap();
    status = store.get_status("pr-1234").await.unwrap();
    let missing = lifecycle::unconverged(
        &status.unwrap().value,
        OperationKind::Up,
        2,
        &[Component::Network, Component::App],
    );
    assert_eq!(missing, [Component::Network, Component::App]);
}

#[tokio::test]
async fn bad_requests_name_what_is_wrong() {
    let (store, _) = stored().await;
    for (request, expected) in [
        (
            json!({"action": "explode"}),
            "request: unknown variant `explode`",
        ),
        (begin("e", json!("staging")), "input: must be an object"),
        (
            begin("e", json!({"environment": "a--b"})),
            "input.environment: must not contain two hyphens",
        ),
        (
            begin("e", json!({"environment": "pr-1234", "deadlineSeconds": 5})),
            "input.deadlineSeconds",
        ),
        (
            begin("e", json!({"environment": "pr-9"})),
            "environment pr-9 has no stored spec",
        ),
    ] {
        let err = lifecycle::handle(&store, request.clone(), 1)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{request}: {err}");
    }
    assert!(store.get_status("pr-1234").await.unwrap().is_none());
}
