//! begin/finish against the in-memory store: input checks, idempotency, what a failure keeps.

use serde_json::{Value, json};
use strata_core::events::{Notice, StateChange};
use strata_core::status::ComponentPhase;
use strata_core::{Component, ComponentStatus, Environment, EnvironmentState};
use strata_notify::MemoryNotifier;
use strata_store::{MemoryStore, prelude::*};

const CONTROL_PLANE: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/strata/test";

async fn stored() -> (MemoryStore, Environment) {
    let env = Environment::parse(&strata_testkit::examples::text("preview.json")).unwrap();
    let store = MemoryStore::default();
    store.put_spec(&env, None, 1).await.unwrap();
    (store, env)
}

fn begin(execution: &str, input: Value) -> Value {
    json!({"action": "begin", "operation": "up", "execution": execution, "input": input})
}

/// One request to the lifecycle function under [`CONTROL_PLANE`], publishing to a bus no
/// test reads.
async fn handle(
    store: &MemoryStore,
    request: Value,
    now: u64,
) -> Result<Value, strata_lifecycle::LifecycleError> {
    strata_lifecycle::handle(
        store,
        &MemoryNotifier::default(),
        CONTROL_PLANE,
        request,
        now,
    )
    .await
}

async fn ready_everything(store: &MemoryStore, env: &Environment, generation: u64) {
    for component in env.components() {
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

/// pr-1234's up begun (`up-1`, at 10) and every component Ready: the context its finish
/// is given.
async fn begun_and_ready(store: &MemoryStore, env: &Environment) -> Value {
    let context = handle(store, begin("up-1", json!({"environment": "pr-1234"})), 10)
        .await
        .unwrap();
    ready_everything(store, env, 1).await;
    context
}

#[tokio::test]
async fn a_retried_begin_converges_without_a_second_event() {
    let (store, _) = stored().await;
    let first = handle(&store, begin("up-1", json!({"environment": "pr-1234"})), 10)
        .await
        .unwrap();
    let again = handle(&store, begin("up-1", json!({"environment": "pr-1234"})), 11)
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(first["generation"], 1);
    assert_eq!(first["pollSeconds"], strata_lifecycle::DEFAULT_POLL_SECONDS);
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
    let err = handle(&store, begin("up-2", json!({"environment": "pr-1234"})), 12)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "LockHeld");
    assert!(err.to_string().contains("locked by up-1"), "{err}");
}

#[tokio::test]
async fn finish_is_idempotent_and_ready_needs_every_component() {
    let (store, env) = stored().await;
    let context = begun_and_ready(&store, &env).await;
    let finish = json!({"action": "finish", "context": context});
    let done = handle(&store, finish.clone(), 20).await.unwrap();
    assert_eq!(done["state"], "Ready");
    // Retried after the lock was already released: same answer, no new event.
    let again = handle(&store, finish, 21).await.unwrap();
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
    let context = begun_and_ready(&store, &env).await;
    let cause = json!({"errorType": "ResourceNotOwned", "errorMessage": "vpc-1 lacks strata tags"})
        .to_string();
    let done = handle(
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
    handle(&store, begin("up-1", json!({"environment": "pr-1234"})), 10)
        .await
        .unwrap();
    status = store.get_status("pr-1234").await.unwrap();
    let context = strata_core::OperationContext {
        generation: 2,
        ..serde_json::from_value(
            handle(&store, begin("up-1", json!({"environment": "pr-1234"})), 10)
                .await
                .unwrap(),
        )
        .unwrap()
    };
    let missing = strata_lifecycle::unconverged(
        &status.unwrap().value,
        &context,
        &[Component::Network, Component::App],
    );
    assert_eq!(missing, [Component::Network, Component::App]);
}

#[tokio::test]
async fn the_application_scope_runs_on_ready_layers_only_and_earns_ready_for_its_own() {
    let (store, env) = stored().await;
    let scoped = json!({"environment": "pr-1234", "scope": "application"});
    // Nothing is Ready yet: refused, naming what is not, and the lease is free again.
    let err = handle(&store, begin("up-fast-1", scoped.clone()), 10)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "InvalidInput");
    assert!(
        err.to_string().starts_with(
            "input.scope: application needs every layer below Ready; not Ready: network"
        ),
        "{err}"
    );
    assert_eq!(store.lease("pr-1234", 10).await.unwrap(), None);
    let down =
        json!({"action": "begin", "operation": "down", "execution": "down-1", "input": scoped});
    let err = handle(&store, down, 10).await.unwrap_err();
    assert!(err.to_string().contains("only up takes a scope"), "{err}");

    // Everything Ready at generation 1; generation 2 changes only the app.
    ready_everything(&store, &env, 1).await;
    let ready = strata_core::EnvironmentStatus::new(EnvironmentState::Ready, "up done", 15);
    store.put_status("pr-1234", &ready, None).await.unwrap();
    let previous = store.get_spec("pr-1234").await.unwrap().unwrap();
    let mut changed = env.clone();
    changed.spec.app.services[0].replicas += 1;
    store.put_spec(&changed, Some(&previous), 20).await.unwrap();
    let context = handle(&store, begin("up-fast-2", scoped), 21)
        .await
        .unwrap();
    assert_eq!(context["scope"], "application");
    assert_eq!(context["generation"], 2);
    let status = store.get_status("pr-1234").await.unwrap().unwrap().value;
    assert!(
        status.message.ends_with("(application layer only)"),
        "{}",
        status.message
    );
    // Only the application layer reached generation 2: that is convergence for this scope...
    for component in [Component::App, Component::Dns]
        .into_iter()
        .filter(|c| env.includes(*c))
    {
        let version = store
            .get_component("pr-1234", component)
            .await
            .unwrap()
            .unwrap()
            .version;
        store
            .put_component(
                "pr-1234",
                component,
                &ComponentStatus::new(ComponentPhase::Ready, 2, 22),
                Some(version),
            )
            .await
            .unwrap();
    }
    let finished = handle(&store, json!({"action": "finish", "context": context}), 23)
        .await
        .unwrap();
    assert_eq!(finished["state"], "Ready", "{finished}");
    let status = store.get_status("pr-1234").await.unwrap().unwrap().value;
    assert_eq!(status.observed_generation, 2);
    // ...and not for a full up, which needs every layer at the generation.
    let mut full: strata_core::OperationContext = serde_json::from_value(context).unwrap();
    full.scope = strata_core::Scope::All;
    assert_eq!(
        strata_lifecycle::unconverged(&status, &full, &[Component::Network, Component::App]),
        [Component::Network]
    );
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
        let err = handle(&store, request.clone(), 1).await.unwrap_err();
        assert!(err.to_string().contains(expected), "{request}: {err}");
    }
    assert!(store.get_status("pr-1234").await.unwrap().is_none());
}

#[tokio::test]
async fn every_state_change_is_published_and_a_refused_publish_is_retried() {
    let (store, env) = stored().await;
    let events = MemoryNotifier::default();
    events.set_refusing(true);
    let begin_up = |now: u64| {
        let up = begin("up-1", json!({"environment": "pr-1234"}));
        strata_lifecycle::handle(&store, &events, CONTROL_PLANE, up, now)
    };
    // The bus refuses: begin fails retryable, with its status written; the retry publishes.
    let err = begin_up(10).await.unwrap_err();
    assert_eq!(err.name(), "EventsUnavailable");
    assert!(strata_lifecycle::LifecycleError::RETRYABLE.contains(&err.name()));
    events.set_refusing(false);
    let context = begin_up(11).await.unwrap();
    ready_everything(&store, &env, 1).await;
    // Finish with the bus down: the status is recorded and the lease released all the same
    // (a bus outage never holds the environment until the deadline); the retry publishes,
    // even once another operation holds the lease.
    events.set_refusing(true);
    let finish = json!({"action": "finish", "context": context});
    let err = strata_lifecycle::handle(&store, &events, CONTROL_PLANE, finish.clone(), 20)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "EventsUnavailable");
    assert_eq!(store.lease("pr-1234", 20).await.unwrap(), None);
    assert_eq!(
        store
            .get_status("pr-1234")
            .await
            .unwrap()
            .unwrap()
            .value
            .state,
        EnvironmentState::Ready
    );
    store.acquire("pr-1234", "down-2", 60, 20).await.unwrap();
    events.set_refusing(false);
    strata_lifecycle::handle(&store, &events, CONTROL_PLANE, finish, 21)
        .await
        .unwrap();
    assert_eq!(
        store.lease("pr-1234", 21).await.unwrap().unwrap().holder,
        "down-2",
        "the retry leaves the next operation's lease alone"
    );
    store.release("pr-1234", "down-2").await.unwrap();

    let changes: Vec<StateChange> = events
        .published()
        .into_iter()
        .map(|notice| match notice {
            Notice::StateChange(change) => change,
            other => panic!("the lifecycle publishes state changes only: {other:?}"),
        })
        .collect();
    let published: Vec<(EnvironmentState, String, u64)> = changes
        .iter()
        .map(|c| (c.state, c.execution.clone(), c.generation))
        .collect();
    assert_eq!(
        published,
        [
            (EnvironmentState::Progressing, "up-1".to_owned(), 1),
            (EnvironmentState::Ready, "up-1".to_owned(), 1)
        ]
    );
    let ready = &changes[1];
    assert_eq!(ready.environment, "pr-1234");
    assert_eq!(ready.message, "up of generation 1 done");
    assert_eq!(ready.at, 21);
    let detail = serde_json::to_value(ready).unwrap();
    let mut keys: Vec<&str> = detail
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "at",
            "environment",
            "execution",
            "generation",
            "message",
            "operation",
            "state"
        ]
    );
}

/// Ends the running operation by hand as `state`, with `component` in `phase`.
async fn ended_as(
    store: &MemoryStore,
    state: EnvironmentState,
    component: Component,
    phase: ComponentPhase,
) {
    let current = store.get_status("pr-1234").await.unwrap().unwrap();
    let mut status = current.value;
    if let Some(running) = &status.operation {
        store.release("pr-1234", &running.execution).await.unwrap();
    }
    status.state = state;
    status.operation = None;
    store
        .put_status("pr-1234", &status, Some(current.version))
        .await
        .unwrap();
    let previous = store
        .get_component("pr-1234", component)
        .await
        .unwrap()
        .map(|v| v.version);
    store
        .put_component(
            "pr-1234",
            component,
            &ComponentStatus::new(phase, 1, 2),
            previous,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn an_up_mints_the_incarnation_once_and_again_only_after_a_down_that_left_nothing() {
    let (store, _) = stored().await;
    let incarnation = || async {
        let status = store.get_status("pr-1234").await.unwrap().unwrap().value;
        status.incarnation.expect("an up records the incarnation")
    };
    let up = |execution: &'static str, at: u64| {
        handle(
            &store,
            begin(execution, json!({"environment": "pr-1234"})),
            at,
        )
    };
    up("up-1", 10).await.unwrap();
    let first = incarnation().await;
    assert_eq!(first.control_plane, CONTROL_PLANE);
    assert_eq!(first.since, 10);
    // A retried begin, and the next up of the living environment, keep it.
    up("up-1", 11).await.unwrap();
    assert_eq!(incarnation().await, first);
    for (ended, database, execution, at) in [
        (EnvironmentState::Ready, ComponentPhase::Ready, "up-2", 20),
        // A down that kept the database (onDelete: retain): the next up takes it back as
        // the same incarnation.
        (
            EnvironmentState::Deleted,
            ComponentPhase::Retained,
            "up-3",
            30,
        ),
    ] {
        ended_as(&store, ended, Component::Database, database).await;
        up(execution, at).await.unwrap();
        assert_eq!(incarnation().await, first);
    }

    // A down that left nothing: the name's next life is another incarnation.
    ended_as(
        &store,
        EnvironmentState::Deleted,
        Component::Database,
        ComponentPhase::Deleted,
    )
    .await;
    up("up-4", 40).await.unwrap();
    let second = incarnation().await;
    assert_ne!(second.id, first.id);
    assert_eq!(second.since, 40);
}

#[tokio::test]
async fn a_status_written_before_incarnations_reads_and_its_next_up_mints_one() {
    let (store, _) = stored().await;
    // As the previous release wrote it: no `incarnation` field.
    let old = json!({"state": "Ready", "message": "up of generation 1 succeeded",
        "observedGeneration": 1, "updatedAt": 5});
    let old: strata_core::EnvironmentStatus = serde_json::from_value(old).unwrap();
    assert_eq!(old.incarnation, None);
    store.put_status("pr-1234", &old, None).await.unwrap();
    handle(&store, begin("up-2", json!({"environment": "pr-1234"})), 10)
        .await
        .unwrap();
    let status = store.get_status("pr-1234").await.unwrap().unwrap().value;
    assert_eq!(status.incarnation.unwrap().control_plane, CONTROL_PLANE);
}

#[tokio::test]
async fn begin_places_the_custom_components_and_one_dropped_whose_resources_stand() {
    let base = strata_testkit::examples::staging_text();
    let lambda = "lambda: {functionArn: \"arn:aws:lambda:eu-west-1:123456789012:function:strata-component-x\"}";
    let with = |components: &str| {
        Environment::parse(&format!("{base}  components:\n{components}")).unwrap()
    };
    let old = with(&format!(
        "    - {{name: queue, dependsOn: [network], {lambda}}}\n    - {{name: smoke, dependsOn: [dns], {lambda}}}\n"
    ));
    let new = with(&format!(
        "    - {{name: queue, dependsOn: [network], {lambda}}}\n"
    ));
    let store = MemoryStore::default();
    store.put_spec(&new, None, 1).await.unwrap();
    // smoke was applied by an earlier up and still stands.
    let smoke = Component::parse("smoke").unwrap();
    let mut standing = ComponentStatus::new(ComponentPhase::Ready, 1, 2);
    standing.applied = Some(old.section(smoke));
    store
        .put_component("staging", smoke, &standing, None)
        .await
        .unwrap();
    let ready = strata_core::EnvironmentStatus::new(EnvironmentState::Ready, "up done", 2);
    store.put_status("staging", &ready, None).await.unwrap();

    let context = |input: Value| {
        let store = &store;
        async move {
            let answer = handle(
                store,
                begin(
                    &format!("up-{}", input["recreate"].as_array().map_or(0, Vec::len)),
                    input,
                ),
                10,
            )
            .await
            .unwrap();
            store
                .release("staging", answer["execution"].as_str().unwrap())
                .await
                .unwrap();
            answer
        }
    };
    let plain = context(json!({"environment": "staging"})).await;
    let custom = &plain["custom"];
    assert_eq!(custom["stages"]["s1"], json!(["queue"]));
    assert_eq!(
        custom["stages"]["s5"],
        json!(["smoke"]),
        "placed by what it applied, after dns"
    );
    assert_eq!(
        custom["stages"].as_object().unwrap().len(),
        8,
        "every stage is written"
    );
    assert_eq!(custom["tearingDown"], false);

    let recreate = context(json!({"environment": "staging", "recreate": ["queue"]})).await;
    assert_eq!(recreate["custom"]["teardown"]["s1"], json!(["queue"]));
    assert_eq!(recreate["custom"]["tearingDown"], true);
}

/// An up of pr-1234 with a post-deploy step (`required` or not) whose outcome is `outcome`,
/// finished: the status it ends with.
async fn finished_with_post_deploy(
    required: bool,
    outcome: Value,
) -> strata_core::EnvironmentStatus {
    let (store, env) = stored().await;
    let mut spec = env.to_json();
    spec["spec"]["postDeploy"] = json!({
        "lambda": {"functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:strata-component-smoke"},
        "required": required,
    });
    let env = Environment::from_value(spec).unwrap();
    let stored = store.get_spec(env.name()).await.unwrap();
    store.put_spec(&env, stored.as_ref(), 2).await.unwrap();
    let mut context = handle(&store, begin("up-1", json!({"environment": "pr-1234"})), 10)
        .await
        .unwrap();
    assert_eq!(
        context["postDeploy"], true,
        "the state machine's Choice reads it"
    );
    ready_everything(&store, &env, 2).await;
    context["postDeployed"] = outcome;
    handle(&store, json!({"action": "finish", "context": context}), 20)
        .await
        .unwrap();
    store.get_status("pr-1234").await.unwrap().unwrap().value
}

#[tokio::test]
async fn the_post_deploy_answer_is_kept_and_its_failure_warns_or_fails_as_required() {
    let function = "arn:aws:lambda:eu-west-1:123456789012:function:strata-component-smoke";
    let status = finished_with_post_deploy(
        false,
        json!({"functionArn": function, "succeeded": true, "output": {"smoke": "passed"}}),
    )
    .await;
    assert_eq!(status.state, EnvironmentState::Ready);
    assert_eq!(status.post_deploy_output, Some(json!({"smoke": "passed"})));
    assert_eq!(status.post_deploy_warning, None);

    let failed = json!({"functionArn": function, "succeeded": false, "error": "Unhandled: SmokeFailed: /health answered 503"});
    let status = finished_with_post_deploy(false, failed.clone()).await;
    assert_eq!(status.state, EnvironmentState::Ready);
    assert!(
        status.message.ends_with(&format!(
            "; warning: post-deploy {function} failed: Unhandled: SmokeFailed: /health answered 503"
        )),
        "{}",
        status.message
    );
    assert_eq!(
        status.post_deploy_warning.as_deref(),
        Some("Unhandled: SmokeFailed: /health answered 503")
    );
    assert_eq!(status.post_deploy_output, None);

    let status = finished_with_post_deploy(true, failed).await;
    assert_eq!(status.state, EnvironmentState::Failed);
    assert_eq!(
        status.message,
        format!(
            "up failed: post-deploy {function} failed: Unhandled: SmokeFailed: /health answered 503"
        )
    );
}

#[tokio::test]
async fn begin_runs_only_the_generation_its_decision_was_made_on() {
    let (store, env) = stored().await;
    // A spec stored after the API decided (generation 1) is not what it planned.
    let mut newer = env.clone();
    newer.spec.network.cidr = "10.61.0.0/20".into();
    let stored_spec = store.get_spec("pr-1234").await.unwrap();
    store
        .put_spec(&newer, stored_spec.as_ref(), 2)
        .await
        .unwrap();
    let decided = json!({"environment": "pr-1234", "generation": 1});
    // The API reserved the lease for the execution it started.
    store
        .acquire("pr-1234", "up-pr-1234-1-0", 300, 5)
        .await
        .unwrap();
    let err = handle(&store, begin("up-pr-1234-1-0", decided), 10)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "InvalidInput");
    assert!(
        err.to_string().starts_with(
            "input.generation: up was decided on generation 1, but generation 2 is stored"
        ),
        "{err}"
    );
    // Nothing was done, and the reservation is given back: no lease, no status.
    assert_eq!(store.lease("pr-1234", 10).await.unwrap(), None);
    assert!(store.get_status("pr-1234").await.unwrap().is_none());
    // The generation it was decided on begins.
    let current = json!({"environment": "pr-1234", "generation": 2});
    let context = handle(&store, begin("up-pr-1234-2-0", current), 10)
        .await
        .unwrap();
    assert_eq!(context["generation"], 2);
}
