//! The step runner on the in-memory store, with a scripted cluster handler.

use std::sync::Mutex;

use serde_json::json;
use strata_component::{ComponentError, ComponentHandler, Progress, Step, run};
use strata_core::status::ComponentPhase;
use strata_core::{
    Awaited, Component, ComponentStatus, EnvironmentState, EnvironmentStatus, Operation,
    OperationKind,
};
use strata_store::{MemoryStore, prelude::*};

/// Answers each call with the next scripted outcome and counts the calls.
struct Scripted {
    outcomes: Mutex<Vec<Result<Progress, ComponentError>>>,
}

impl Scripted {
    fn new(mut outcomes: Vec<Result<Progress, ComponentError>>) -> Self {
        outcomes.reverse();
        Self {
            outcomes: Mutex::new(outcomes),
        }
    }

    fn left(&self) -> usize {
        self.outcomes.lock().unwrap().len()
    }

    fn next(&self) -> Result<Progress, ComponentError> {
        self.outcomes
            .lock()
            .unwrap()
            .pop()
            .expect("a scripted outcome")
    }
}

impl ComponentHandler for Scripted {
    fn component(&self) -> Component {
        Component::Cluster
    }

    async fn apply(&self, _: &Step<'_>) -> Result<Progress, ComponentError> {
        self.next()
    }

    async fn destroy(&self, _: &Step<'_>) -> Result<Progress, ComponentError> {
        self.next()
    }
}

async fn environment(network: Option<ComponentPhase>) -> MemoryStore {
    let env = strata_testkit::staging();
    let store = MemoryStore::default();
    store.put_spec(&env, None, 1).await.unwrap();
    let mut status = EnvironmentStatus::new(EnvironmentState::Progressing, "", 1);
    status.operation = Some(Operation {
        kind: OperationKind::Up,
        execution: "up-staging-1".into(),
        generation: 1,
        started_at: 0,
    });
    store.put_status("staging", &status, None).await.unwrap();
    if let Some(phase) = network {
        let network = ComponentStatus::new(phase, 1, 1);
        store
            .put_component("staging", Component::Network, &network, None)
            .await
            .unwrap();
    }
    store
}

/// The cluster's recorded status, if any.
async fn cluster(store: &MemoryStore) -> Option<ComponentStatus> {
    let recorded = store.get_component("staging", Component::Cluster).await;
    recorded.unwrap().map(|v| v.value)
}

/// A step still creating that learnt the cluster's name.
fn naming_the_cluster() -> Progress {
    let mut creating = Progress::waiting(ComponentPhase::Creating);
    creating
        .resource_ids
        .insert("clusterName".into(), "strata-staging".into());
    creating
}

fn request(action: &str, started_at: u64) -> serde_json::Value {
    json!({"action": action, "context": {
        "environment": "staging", "operation": "up", "execution": "up-staging-1",
        "generation": 1, "pollSeconds": 0, "deadlineSeconds": 600, "startedAt": started_at}})
}

#[tokio::test]
async fn progress_is_recorded_and_ready_claims_the_generation() {
    let store = environment(Some(ComponentPhase::Ready)).await;
    let mut ready = Progress::finished(ComponentPhase::Ready);
    ready
        .outputs
        .insert("endpoint".into(), "https://eks.local".into());
    let handler = Scripted::new(vec![Ok(naming_the_cluster()), Ok(ready)]);

    let first = run(&store, &handler, request("apply", 100), 100)
        .await
        .unwrap();
    assert!(!first.done);
    let recorded = cluster(&store).await.unwrap();
    assert_eq!(recorded.phase, ComponentPhase::Creating);
    assert_eq!(recorded.observed_generation, 0, "not converged yet");

    let second = run(&store, &handler, request("apply", 100), 130)
        .await
        .unwrap();
    assert!(second.done);
    let recorded = cluster(&store).await.unwrap();
    assert_eq!(recorded.outputs["endpoint"], "https://eks.local");
    assert_eq!(recorded.phase, ComponentPhase::Ready);
    assert_eq!(recorded.observed_generation, 1);
    // Ids learnt in an earlier step are kept.
    assert_eq!(recorded.resource_ids["clusterName"], "strata-staging");
}

#[tokio::test]
async fn a_handler_error_is_recorded_with_its_name_and_keeps_what_was_known() {
    let store = environment(Some(ComponentPhase::Ready)).await;
    let handler = Scripted::new(vec![
        Ok(naming_the_cluster()),
        Err(ComponentError::AwsRejected(
            "CreateNodegroup: limit exceeded".into(),
        )),
    ]);
    run(&store, &handler, request("apply", 100), 100)
        .await
        .unwrap();
    let err = run(&store, &handler, request("apply", 100), 110)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "AwsRejected");
    let recorded = cluster(&store).await.unwrap();
    assert_eq!(recorded.phase, ComponentPhase::Failed);
    let last = recorded.last_error.unwrap();
    assert_eq!(
        (last.error.as_str(), last.cause.as_str()),
        ("AwsRejected", "CreateNodegroup: limit exceeded")
    );
    assert_eq!(recorded.resource_ids["clusterName"], "strata-staging");
}

#[tokio::test]
async fn past_the_deadline_the_handler_is_not_called() {
    let store = environment(Some(ComponentPhase::Ready)).await;
    let handler = Scripted::new(vec![Ok(Progress::finished(ComponentPhase::Ready))]);
    let err = run(&store, &handler, request("apply", 100), 100 + 601)
        .await
        .unwrap_err();
    assert_eq!(err, ComponentError::DeadlineExceeded(600));
    assert_eq!(handler.left(), 1);
    let recorded = cluster(&store).await.unwrap();
    assert_eq!(recorded.last_error.unwrap().error, "DeadlineExceeded");
}

#[tokio::test]
async fn apply_waits_for_dependencies_and_destroy_for_dependents() {
    let store = environment(Some(ComponentPhase::Creating)).await;
    let handler = Scripted::new(vec![Ok(Progress::finished(ComponentPhase::Deleted))]);
    let err = run(&store, &handler, request("apply", 100), 100)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "DependencyNotReady");
    assert!(err.to_string().contains("cluster needs network"), "{err}");

    let config = ComponentStatus::new(ComponentPhase::Ready, 1, 1);
    store
        .put_component("staging", Component::Config, &config, None)
        .await
        .unwrap();
    let err = run(&store, &handler, request("destroy", 100), 100)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "DependentsRemain");
    assert_eq!(handler.left(), 1, "the handler was never called");

    let gone = ComponentStatus::new(ComponentPhase::Deleted, 1, 2);
    store
        .put_component("staging", Component::Config, &gone, Some(1))
        .await
        .unwrap();
    let done = run(&store, &handler, request("destroy", 100), 100)
        .await
        .unwrap();
    assert_eq!(done.phase, ComponentPhase::Deleted);
}

#[tokio::test]
async fn bad_requests_are_refused_before_anything_is_read() {
    let store = environment(None).await;
    let handler = Scripted::new(vec![]);
    let err = run(&store, &handler, json!({"action": "apply"}), 1)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "InvalidInput");
    assert!(err.to_string().contains("missing field `context`"), "{err}");
    assert!(cluster(&store).await.is_none());
}

#[tokio::test]
async fn a_step_of_an_ended_or_other_operation_touches_nothing() {
    let store = environment(Some(ComponentPhase::Ready)).await;
    let handler = Scripted::new(vec![Ok(Progress::finished(ComponentPhase::Ready))]);
    // Another execution's step (e.g. one that outlived its failed Parallel branch).
    let mut stray = request("apply", 0);
    stray["context"]["execution"] = json!("up-staging-0");
    let err = run(&store, &handler, stray, 1).await.unwrap_err();
    assert_eq!(err.name(), "NotLockHolder");

    // This execution's own step, once the operation has ended (FinishFailed ran).
    let mut status = store.get_status("staging").await.unwrap().unwrap();
    status.value.state = EnvironmentState::Failed;
    store
        .put_status("staging", &status.value, Some(status.version))
        .await
        .unwrap();
    let err = run(&store, &handler, request("apply", 0), 1)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "NotLockHolder");
    assert_eq!(handler.left(), 1, "the handler was never called");
    assert!(cluster(&store).await.is_none(), "nothing was recorded");
}

#[tokio::test]
async fn the_step_answers_how_long_to_wait_from_what_it_waits_on() {
    let store = environment(Some(ComponentPhase::Ready)).await;
    let creating = || Progress::waiting(ComponentPhase::Creating);
    let handler = Scripted::new(vec![
        Ok(creating().awaiting(Awaited::ClusterCreate)),
        Ok(creating().awaiting(Awaited::ClusterCreate)),
        Ok(creating().awaiting(Awaited::NodeGroupCreate)),
        Ok(creating()),
        Ok(Progress::finished(ComponentPhase::Ready)),
    ]);
    // An execution begun before clockScale existed runs on AWS's clock (scale 1).
    let mut step = request("apply", 100);
    step["context"]["pollSeconds"] = json!(5);
    let mut waits = Vec::new();
    for _ in 0..5 {
        let result = run(&store, &handler, step.clone(), 100).await.unwrap();
        let waiting = cluster(&store).await.unwrap().waiting;
        waits.push((result.wait_seconds, waiting.map(|w| w.waited_seconds)));
    }
    assert_eq!(
        waits,
        [
            // Half of EKS's typical 12 minutes, then half of what is left.
            (360, Some(360)),
            (180, Some(540)),
            // Something new to wait on starts over: half of a node group's 3 minutes.
            (90, Some(90)),
            // Waiting on nothing named: one poll interval.
            (5, None),
            (0, None),
        ]
    );

    // The plain local stack (clockScale 0) makes everything at once: one interval each.
    let handler = Scripted::new(vec![Ok(creating().awaiting(Awaited::ClusterCreate))]);
    step["context"]["clockScale"] = json!(0);
    let result = run(&store, &handler, step, 100).await.unwrap();
    assert_eq!(result.wait_seconds, 5);
}
