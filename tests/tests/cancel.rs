//! Cancelling an operation end to end on the local stack: the real state machines, the real
//! Lambda binaries, started and stopped through `strata-control`'s `Operations` as the API
//! does. AWS's ten-minute EKS create is played by the router's delay (the cluster answers
//! CREATING until the delay is cleared).

use std::time::{Duration, Instant};

use strata_control::{Operations, Run, SfnFlows};
use strata_core::status::ComponentPhase;
use strata_core::{Component, EnvironmentState};
use strata_store::{DynamoStore, prelude::*};

use strata_testkit::local_stack;

type Ops = Operations<DynamoStore, SfnFlows>;

struct Stack {
    started: local_stack::Started,
    operations: Ops,
    sfn: aws_sdk_sfn::Client,
    eks: aws_sdk_eks::Client,
}

async fn stack() -> Stack {
    let started = local_stack::start().await;
    let (operations, sfn) = started.operations();
    let regional = started.regional("eu-west-1");
    Stack {
        eks: aws_sdk_eks::Client::new(&regional),
        started,
        operations,
        sfn,
    }
}

use strata_testkit::now;

impl Stack {
    /// The example as `name`, stored, with its cluster held CREATING.
    async fn slow(&self, name: &str) {
        let env = strata_testkit::example_as(name);
        self.started.stand_in_and_store(&env, 1).await;
        self.started
            .stack
            .delay(local_stack::cluster_creating(name, 1_000_000));
    }

    /// The example as `name`, its `up` started and held creating the cluster; answers the
    /// execution's name.
    async fn stuck_creating(&self, name: &str) -> String {
        self.slow(name).await;
        let execution = self.apply(name).await;
        self.cluster_creating(name).await;
        execution
    }

    /// Starts `up` of the stored generation as the API would; answers the execution's name.
    async fn apply(&self, name: &str) -> String {
        self.started
            .start(&self.operations, name, false, "tester")
            .await
    }

    /// Waits until the cluster component is recorded Creating.
    async fn cluster_creating(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(240);
        while Instant::now() < deadline {
            let recorded = self
                .started
                .store
                .get_component(name, Component::Cluster)
                .await;
            if recorded
                .unwrap()
                .is_some_and(|c| c.value.phase == ComponentPhase::Creating)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{name}: the cluster never began creating");
    }

    /// Waits for the `up` execution to end; answers its status.
    async fn ended(&self, execution: &str) -> String {
        let arn = strata_control::execution_arn(&self.started.up, execution);
        let described = local_stack::ended(&self.sfn, &arn).await;
        format!(
            "{} {:?}",
            described.status.as_str(),
            described.cause.unwrap_or_default()
        )
    }

    async fn history_kinds(&self, name: &str) -> Vec<String> {
        let page = self.started.store.history(name, 50, None).await.unwrap();
        page.items.into_iter().map(|e| e.kind).collect()
    }

    async fn clusters(&self) -> Vec<String> {
        let listed = self.eks.list_clusters().send().await.unwrap();
        listed.clusters.unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_frees_a_stuck_create_and_the_next_up_resumes_with_one_cluster() {
    let s = stack().await;
    let first = s.stuck_creating("stuck").await;

    let clock = Instant::now();
    let cancelled = s
        .operations
        .cancel("stuck", "alice", now())
        .await
        .unwrap()
        .expect("an operation was running");
    println!("cancel answered in {:?}", clock.elapsed());
    assert_eq!(cancelled.execution, first);
    assert_eq!(cancelled.run, Run::Ended("ABORTED".into()));
    assert!(
        cancelled
            .in_flight
            .contains(&("cluster".to_owned(), ComponentPhase::Creating)),
        "{:?}",
        cancelled.in_flight
    );
    assert_eq!(s.started.store.lease("stuck", now()).await.unwrap(), None);
    let status = s.started.status("stuck").await;
    assert_eq!(status.state, EnvironmentState::Cancelled);
    assert!(
        status.message.contains("cancelled by alice")
            && status.message.contains("cluster (creating)"),
        "{}",
        status.message
    );
    assert!(s.ended(&first).await.starts_with("ABORTED"));
    assert!(
        s.history_kinds("stuck")
            .await
            .contains(&"OperationCancelled".to_owned())
    );
    // Nothing runs now: a second cancel says so.
    assert_eq!(
        s.operations.cancel("stuck", "alice", now()).await.unwrap(),
        None
    );

    // EKS finishes the create; the next up resumes and converges with the one cluster.
    s.started.stack.clear_delays();
    let second = s.apply("stuck").await;
    assert_ne!(second, first);
    assert!(s.ended(&second).await.starts_with("SUCCEEDED"));
    let status = s.started.status("stuck").await;
    assert_eq!(status.state, EnvironmentState::Ready, "{}", status.message);
    assert_eq!(s.clusters().await, ["strata-stuck"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_execution_stopped_in_the_console_leaves_a_lease_the_next_operation_recovers() {
    let s = stack().await;
    let first = s.stuck_creating("stopped").await;

    // Stopped by hand: Finish never runs, the lease stays.
    s.sfn
        .stop_execution()
        .execution_arn(strata_control::execution_arn(&s.started.up, &first))
        .send()
        .await
        .unwrap();
    assert!(s.ended(&first).await.starts_with("ABORTED"));
    let lease = s
        .started
        .store
        .lease("stopped", now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.holder, first);

    s.started.stack.clear_delays();
    let second = s.apply("stopped").await;
    assert_ne!(second, first);
    assert!(s.ended(&second).await.starts_with("SUCCEEDED"));
    let kinds = s.history_kinds("stopped").await;
    assert!(kinds.contains(&"LeaseRecovered".to_owned()), "{kinds:?}");
    let status = s.started.status("stopped").await;
    assert_eq!(status.state, EnvironmentState::Ready, "{}", status.message);
    assert_eq!(s.clusters().await, ["strata-stopped"]);
}
