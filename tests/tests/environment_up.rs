//! `environment-up` end to end on the local stack: moto's interpreter runs the checked-in
//! definition, which invokes the real `lifecycle` binary through the router and cargo-lambda.

use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::json;
use strata_core::status::ComponentPhase;
use strata_core::{Component, ComponentStatus, Environment, EnvironmentState};
use strata_localstack::{LocalStack, Options};
use strata_store::{DynamoStore, Store};

struct Harness {
    stack: LocalStack,
    store: DynamoStore,
    sfn: aws_sdk_sfn::Client,
    up: String,
}

async fn harness() -> Harness {
    let stack = LocalStack::start(Options::default())
        .await
        .expect("the local stack starts");
    let config = stack.sdk_config();
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        stack.table_name("StateTable").unwrap(),
    );
    let up = stack
        .state_machine_arn("EnvironmentUpStateMachine")
        .unwrap()
        .to_owned();
    Harness {
        sfn: aws_sdk_sfn::Client::new(&config),
        stack,
        store,
        up,
    }
}

struct Ended {
    status: ExecutionStatus,
    error: Option<String>,
    cause: Option<String>,
    states_entered: Vec<String>,
}

impl Harness {
    async fn store_staging(&self) -> Environment {
        let path = format!("{}/../examples/staging.yaml", env!("CARGO_MANIFEST_DIR"));
        let env = Environment::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        self.store.put_spec(&env, None, 1).await.unwrap();
        env
    }

    /// Starts an execution with a deterministic name and waits for it to end.
    async fn run(&self, name: &str, input: serde_json::Value) -> Ended {
        let started = self
            .sfn
            .start_execution()
            .state_machine_arn(&self.up)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .unwrap();
        let arn = started.execution_arn;
        for _ in 0..600 {
            let described = self
                .sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .unwrap();
            if described.status != ExecutionStatus::Running {
                let history = self
                    .sfn
                    .get_execution_history()
                    .execution_arn(&arn)
                    .send()
                    .await
                    .unwrap();
                let states_entered = history
                    .events
                    .iter()
                    .filter_map(|e| e.state_entered_event_details())
                    .map(|d| d.name.clone())
                    .collect();
                return Ended {
                    status: described.status,
                    error: described.error,
                    cause: described.cause,
                    states_entered,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{name} did not end within a minute; logs in {}",
            self.stack.logs().display()
        );
    }

    async fn state(&self) -> (EnvironmentState, String) {
        let status = self
            .store
            .get_status("staging")
            .await
            .unwrap()
            .unwrap()
            .value;
        (status.state, status.message)
    }
}

#[tokio::test]
async fn up_is_ready_only_when_every_component_converged() {
    let h = harness().await;
    let env = h.store_staging().await;

    // No component handler has run: Finish refuses to call the environment Ready.
    let ended = h
        .run(
            "up-staging-1-a",
            json!({"environment": "staging", "pollSeconds": 0}),
        )
        .await;
    assert_eq!(ended.status, ExecutionStatus::Failed);
    assert_eq!(ended.error.as_deref(), Some("NotConverged"));
    let cause = ended.cause.unwrap_or_default();
    assert!(cause.contains("network, cluster"), "{cause}");
    assert_eq!(
        ended.states_entered,
        ["Begin", "Finish", "Converged?", "NotConverged"]
    );
    let (state, message) = h.state().await;
    assert_eq!(state, EnvironmentState::Failed);
    assert!(message.contains("not converged"), "{message}");

    // Every component of the spec recorded Ready at this generation: the same flow succeeds.
    for component in Component::ALL.into_iter().filter(|c| env.includes(*c)) {
        let status = ComponentStatus::new(ComponentPhase::Ready, 1, 2);
        h.store
            .put_component("staging", component, &status, None)
            .await
            .unwrap();
    }
    let ended = h
        .run("up-staging-1-b", json!({"environment": "staging"}))
        .await;
    assert_eq!(
        ended.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        ended.cause
    );
    let status = h.store.get_status("staging").await.unwrap().unwrap().value;
    assert_eq!(status.state, EnvironmentState::Ready);
    assert_eq!(status.observed_generation, 1);
    assert_eq!(status.operation.unwrap().execution, "up-staging-1-b");

    // Both executions released the lock, and the history tells what happened.
    h.store
        .acquire("staging", "someone", 60, lifecycle_now())
        .await
        .unwrap();
    let history = h.store.history("staging", 10, None).await.unwrap().items;
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["Ready", "OperationStarted", "Failed", "OperationStarted"]
    );
    assert!(history.iter().all(|e| {
        e.execution
            .as_deref()
            .is_some_and(|x| x.starts_with("up-staging-1-"))
    }));
}

fn lifecycle_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn a_held_lock_is_caught_by_its_error_type_and_nothing_changes() {
    let h = harness().await;
    h.store_staging().await;
    h.store
        .acquire("staging", "down-staging-1", 3600, lifecycle_now())
        .await
        .unwrap();

    let ended = h
        .run("up-staging-1", json!({"environment": "staging"}))
        .await;
    assert_eq!(ended.status, ExecutionStatus::Failed);
    assert_eq!(ended.error.as_deref(), Some("LockHeld"));
    // The Catch on the handler's errorType routed to the Locked state.
    assert_eq!(ended.states_entered, ["Begin", "Locked"]);
    let cause = ended.cause.unwrap_or_default();
    assert!(cause.contains("locked by down-staging-1"), "{cause}");

    // The lock still belongs to its holder and no status was written.
    let held = h
        .store
        .acquire("staging", "up-staging-2", 60, lifecycle_now())
        .await;
    assert!(held.is_err());
    assert!(h.store.get_status("staging").await.unwrap().is_none());
}

#[tokio::test]
async fn bad_console_input_fails_with_the_field_named() {
    let h = harness().await;
    h.store_staging().await;
    let cases = [
        (
            "bad-1",
            json!({"environment": "Staging!"}),
            "InvalidInput",
            "input.environment",
        ),
        (
            "bad-2",
            json!({"environment": "staging", "colour": "blue"}),
            "InvalidInput",
            "unknown field `colour`",
        ),
        (
            "bad-3",
            json!({}),
            "InvalidInput",
            "missing field `environment`",
        ),
        (
            "bad-4",
            json!({"environment": "staging", "pollSeconds": 9000}),
            "InvalidInput",
            "input.pollSeconds",
        ),
        (
            "bad-5",
            json!({"environment": "nowhere"}),
            "EnvironmentNotFound",
            "nowhere has no stored spec",
        ),
    ];
    for (name, input, error, cause) in cases {
        let ended = h.run(name, input).await;
        assert_eq!(ended.status, ExecutionStatus::Failed, "{name}");
        assert_eq!(ended.error.as_deref(), Some(error), "{name}");
        assert_eq!(ended.states_entered, ["Begin", "Rejected"], "{name}");
        let got = ended.cause.unwrap_or_default();
        assert!(got.contains(cause), "{name}: {got}");
    }
    // Rejected input touched nothing: no status, and the lock is free.
    assert!(h.store.get_status("staging").await.unwrap().is_none());
    h.store
        .acquire("staging", "x", 60, lifecycle_now())
        .await
        .unwrap();
}

/// Lambda's Invoke API, as moto's interpreter and the SDK call it: a function error is HTTP
/// 200 with `X-Amz-Function-Error` and the handler's own errorType (cargo-lambda says 500).
#[tokio::test]
async fn the_router_gives_function_errors_lambda_semantics() {
    use std::io::{Read, Write};
    let h = harness().await;
    let endpoint = h.stack.endpoint().trim_start_matches("http://").to_owned();
    let response = tokio::task::spawn_blocking(move || {
        let body = json!({"action": "begin", "operation": "up", "execution": "x",
                          "input": {"environment": "BAD"}})
        .to_string();
        let mut stream = std::net::TcpStream::connect(&endpoint).unwrap();
        write!(
            stream,
            "POST /2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Alifecycle/invocations HTTP/1.1\r\n\
             Host: {endpoint}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("\r\nx-amz-function-error: unhandled"),
        "{head}"
    );
    assert!(head.contains("\r\nx-amzn-requestid: "), "{head}");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["errorType"], "InvalidInput");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("input.environment:")
    );
}
