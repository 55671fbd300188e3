//! The post-deploy step against the in-memory store and scripted Lambda and Secrets
//! Manager: what the function is sent, what of its answer is kept, and what is withheld.

use aws_sdk_lambda::operation::invoke::{InvokeError, InvokeOutput};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use strata_component::testing::context;
use strata_core::post_deploy::PostDeployRequest;
use strata_core::{Component, ComponentPhase, ComponentStatus, OperationKind};
use strata_store::{MemoryStore, prelude::*};
use strata_testkit::staging;

use super::*;
use crate::Clients;
use crate::tests::mocked;
use strata_component::testing::Fixed;

const FUNCTION: &str = "arn:aws:lambda:eu-west-1:123456789012:function:strata-component-smoke";
const MASTER: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1";
const PASSWORD: &str = "correct-horse-battery";
const PAYMENTS: &str = "pk_live_0123456789";

async fn store() -> MemoryStore {
    let mut env = staging().to_json();
    env["spec"]["postDeploy"] = serde_json::json!({"lambda": {"functionArn": FUNCTION}});
    let env = strata_core::Environment::from_value(env).unwrap();
    let store = MemoryStore::default();
    store.put_spec(&env, None, 1).await.unwrap();
    let status = strata_core::EnvironmentStatus::new(
        strata_core::EnvironmentState::Progressing,
        "up running",
        0,
    );
    store.put_status("staging", &status, None).await.unwrap();
    let mut database = ComponentStatus::new(ComponentPhase::Ready, 1, 0);
    database
        .outputs
        .insert("masterUserSecretArn".into(), MASTER.into());
    database.outputs.insert("address".into(), "db.local".into());
    store
        .put_component("staging", Component::Database, &database, None)
        .await
        .unwrap();
    store
}

fn secrets() -> Rule {
    mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_output(|| {
        GetSecretValueOutput::builder()
            .secret_string(format!(
                r#"{{"username": "app", "password": "{PASSWORD}", "key": "{PAYMENTS}"}}"#
            ))
            .build()
    })
}

async fn run_with(answer: Rule) -> Result<PostDeployOutcome, ComponentError> {
    let secrets = secrets();
    let clients = Clients {
        secrets: Fixed(mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&secrets]
        )),
        ..mocked(&[&answer])
    };
    let store = store().await;
    run(&store, &clients, &context(OperationKind::Up, 1, 0)).await
}

fn answers(body: &'static str) -> Rule {
    mock!(aws_sdk_lambda::Client::invoke).then_output(move || {
        InvokeOutput::builder()
            .status_code(200)
            .payload(Blob::new(body))
            .build()
    })
}

#[tokio::test]
async fn the_function_gets_the_outputs_and_its_answer_is_kept() {
    let answer = mock!(aws_sdk_lambda::Client::invoke)
        .match_requests(|r| {
            let sent: PostDeployRequest =
                serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
            r.function_name() == Some(FUNCTION)
                && sent.environment == "staging"
                && sent.outputs["database"]["address"] == "db.local"
        })
        .then_output(|| {
            InvokeOutput::builder()
                .status_code(200)
                .payload(Blob::new(r#"{"smoke": "passed", "checks": 4}"#))
                .build()
        });
    let outcome = run_with(answer).await.unwrap();
    assert!(outcome.succeeded, "{outcome:?}");
    assert_eq!(
        outcome.output,
        Some(serde_json::json!({"smoke": "passed", "checks": 4}))
    );
}

#[tokio::test]
async fn an_answer_or_error_holding_a_secret_is_withheld_and_fails_the_step() {
    let leak = answers(r#"{"dsn": "postgres://app:correct-horse-battery@db.local/app"}"#);
    let outcome = run_with(leak).await.unwrap();
    assert!(!outcome.succeeded);
    assert_eq!(outcome.output, None);
    let why = outcome.error.unwrap();
    assert_eq!(
        why,
        "its answer holds a secret value of the environment (the database master secret): nothing of it is kept"
    );

    let loud = mock!(aws_sdk_lambda::Client::invoke).then_output(|| {
        InvokeOutput::builder()
            .status_code(200)
            .function_error("Unhandled")
            .payload(Blob::new(format!(
                r#"{{"errorType": "Boom", "errorMessage": "login with {PASSWORD} refused"}}"#
            )))
            .build()
    });
    let outcome = run_with(loud).await.unwrap();
    let why = outcome.error.unwrap();
    assert!(!why.contains(PASSWORD), "{why}");
    assert!(why.starts_with("its error message was withheld:"), "{why}");
}

#[tokio::test]
async fn a_function_that_cannot_be_invoked_is_a_failed_outcome_and_throttling_an_error() {
    let missing = mock!(aws_sdk_lambda::Client::invoke).then_error(|| {
        InvokeError::generic(
            aws_sdk_lambda::error::ErrorMetadata::builder()
                .code("ResourceNotFoundException")
                .message("Function not found")
                .build(),
        )
    });
    let outcome = run_with(missing).await.unwrap();
    assert!(!outcome.succeeded);
    assert!(outcome.error.unwrap().contains("ResourceNotFoundException"),);

    let throttled = mock!(aws_sdk_lambda::Client::invoke).then_error(|| {
        InvokeError::generic(
            aws_sdk_lambda::error::ErrorMetadata::builder()
                .code("TooManyRequestsException")
                .build(),
        )
    });
    let error = run_with(throttled).await.unwrap_err();
    assert_eq!(error.name(), "AwsTransient");
}
