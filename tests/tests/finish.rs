//! The end of an operation when the state table or the event bus stays down past every
//! retry: `Finish` is caught by `FinishFailed`, and `FinishFailed` by `Release`. Whatever
//! fails, the lease is given back at once (never held until its deadline), the outcome that
//! was recorded is kept, and the operation can be run again.

use aws_sdk_sfn::types::ExecutionStatus;
use strata_control::{Operations, SfnFlows};
use strata_core::EnvironmentState;
use strata_localstack::fidelity::Fault;
use strata_store::{DynamoStore, prelude::*};

use strata_testkit::local_stack;

/// Both finishes make 4 attempts each (one and three retries).
const ATTEMPTS: u32 = 4;

/// The state table refusing, past every attempt, the write of an item containing `text`.
fn put_item_refused(text: &str) -> Fault {
    Fault::json(
        "DynamoDB_20120810.PutItem",
        text,
        400,
        "AccessDeniedException",
    )
    .times(ATTEMPTS)
}

struct Finish {
    started: local_stack::Started,
    operations: Operations<DynamoStore, SfnFlows>,
    sfn: aws_sdk_sfn::Client,
}

impl Finish {
    async fn new() -> Self {
        let started = local_stack::start().await;
        let (operations, sfn) = started.operations();
        Self {
            started,
            operations,
            sfn,
        }
    }

    async fn prepare(&self, name: &str) {
        self.started.store_example(name).await;
    }

    /// Runs `up`; answers the execution's status and error, and the states it entered.
    async fn up(&self, name: &str) -> (ExecutionStatus, Option<String>, Vec<String>) {
        let ended = self
            .started
            .run(&self.operations, &self.sfn, name, false, "finish test")
            .await;
        let entered = local_stack::states_entered(&self.sfn, ended.execution_arn()).await;
        (
            ended.status().clone(),
            ended.error().map(str::to_owned),
            entered,
        )
    }

    async fn state(&self, name: &str) -> (EnvironmentState, String) {
        let status = self.started.store.get_status(name).await.unwrap().unwrap();
        (status.value.state, status.value.message)
    }

    /// The lease is free: anyone may take it (and give it back).
    async fn lease_is_free(&self, name: &str) {
        let store = &self.started.store;
        store
            .acquire(name, "probe", 60, strata_testkit::now())
            .await
            .unwrap_or_else(|e| panic!("{name}: the lease is still held: {e}"));
        store.release(name, "probe").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_table_or_event_bus_down_at_the_end_gives_the_lease_back_and_keeps_what_was_recorded()
 {
    let f = Finish::new().await;
    let stack = &f.started.stack;
    let done = "up of generation 1 done";

    // The bus refuses the Ready event past Finish's retries: the Ready status Finish wrote
    // stays, FinishFailed publishes it, and the execution names the bus's error.
    f.prepare("bus").await;
    let queue = strata_localstack::secrets::bus_queue(stack, "finish-events").await;
    stack.inject(
        Fault::json("AWSEvents.PutEvents", done, 400, "AccessDeniedException").times(ATTEMPTS),
    );
    let (status, error, entered) = f.up("bus").await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(error.as_deref(), Some("EventsUnavailable"), "{entered:?}");
    assert!(
        entered.ends_with(&["Finish".into(), "FinishFailed".into(), "Failed".into()]),
        "{entered:?}"
    );
    assert_eq!(f.state("bus").await, (EnvironmentState::Ready, done.into()));
    f.lease_is_free("bus").await;
    let events = strata_localstack::secrets::bus_events(stack, &queue, |events| {
        events.iter().any(|e| e["detail"]["state"] == "Ready")
    })
    .await;
    assert!(
        events
            .iter()
            .any(|e| e["detail"]["environment"] == "bus" && e["detail"]["state"] == "Ready"),
        "the Ready event was published after all: {events:?}"
    );
    assert_eq!(stack.pending_faults(), 0);

    // The table refuses Finish's status write: FinishFailed records why, gives the lease
    // back, and the next up converges.
    f.prepare("table").await;
    stack.inject(put_item_refused(done));
    let (status, error, entered) = f.up("table").await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(error.as_deref(), Some("StoreUnavailable"), "{entered:?}");
    let (state, message) = f.state("table").await;
    assert_eq!(state, EnvironmentState::Failed);
    assert!(
        message.starts_with("up failed: StoreUnavailable"),
        "{message}"
    );
    f.lease_is_free("table").await;
    assert_eq!(f.up("table").await.0, ExecutionStatus::Succeeded);
    assert_eq!(f.state("table").await.0, EnvironmentState::Ready);

    // The table refuses both finishes: Release gives the lease back all the same, and the
    // execution says the outcome is unrecorded.
    f.prepare("gone").await;
    stack.inject(put_item_refused(done));
    stack.inject(put_item_refused("up failed: StoreUnavailable"));
    let (status, error, entered) = f.up("gone").await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(error.as_deref(), Some("Unrecorded"), "{entered:?}");
    assert!(
        entered.ends_with(&[
            "Finish".into(),
            "FinishFailed".into(),
            "Release".into(),
            "Unrecorded".into()
        ]),
        "{entered:?}"
    );
    assert_eq!(stack.pending_faults(), 0);
    f.lease_is_free("gone").await;
    assert_eq!(f.up("gone").await.0, ExecutionStatus::Succeeded);
    assert_eq!(f.state("gone").await.0, EnvironmentState::Ready);
}
