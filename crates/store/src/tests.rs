//! Adapter tests with scripted DynamoDB responses: the failure paths the emulator cannot
//! produce on demand.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::operation::delete_item::{DeleteItemError, DeleteItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use strata_core::{EnvironmentState, EnvironmentStatus};

use super::*;

fn held_by(holder: &str) -> ConditionalCheckFailedException {
    ConditionalCheckFailedException::builder()
        .message("The conditional request failed")
        .item("holder", AttributeValue::S(holder.into()))
        .item("expiresAt", AttributeValue::N("1700000600".into()))
        .build()
}

#[tokio::test]
async fn a_held_lock_names_its_holder() {
    let rule = mock!(Client::put_item)
        .then_error(|| PutItemError::ConditionalCheckFailedException(held_by("up-staging-3")));
    let client = mock_client!(aws_sdk_dynamodb, [&rule]);
    let store = DynamoStore::new(client, "t");
    let err = store
        .acquire("staging", "up-staging-4", 600, 1_700_000_000)
        .await;
    assert_eq!(
        err,
        Err(StoreError::LockHeld {
            environment: "staging".into(),
            holder: "up-staging-3".into(),
            expires_at: 1_700_000_600,
        })
    );
}

#[tokio::test]
async fn only_the_holder_releases() {
    let rule = mock!(Client::delete_item)
        .then_error(|| DeleteItemError::ConditionalCheckFailedException(held_by("other")));
    let client = mock_client!(aws_sdk_dynamodb, [&rule]);
    let err = DynamoStore::new(client, "t").release("staging", "me").await;
    assert_eq!(
        err.unwrap_err().name(),
        "NotLockHolder",
        "a release by a non-holder is refused"
    );

    let ok = mock!(Client::delete_item).then_output(|| DeleteItemOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, [&ok]);
    assert!(
        DynamoStore::new(client, "t")
            .release("staging", "me")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_stale_write_is_rejected_not_retried() {
    let rule = mock!(Client::put_item).then_error(|| {
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().build(),
        )
    });
    let client = mock_client!(aws_sdk_dynamodb, [&rule]);
    let status = EnvironmentStatus::new(EnvironmentState::Ready, "ok", 1);
    let err = DynamoStore::new(client, "t")
        .put_status("staging", &status, Some(4))
        .await;
    assert_eq!(
        err,
        Err(StoreError::StaleVersion {
            item: "staging/STATUS".into(),
            expected: Some(4)
        })
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn throttling_is_retried_then_succeeds() {
    let throttled = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;
    let rule = mock!(Client::put_item)
        .sequence()
        .http_status(400, Some(throttled.to_owned()))
        .times(2)
        .output(|| PutItemOutput::builder().build())
        .build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule], |c| {
        c.retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        )
    });
    let lease = DynamoStore::new(client, "t")
        .acquire("staging", "up-staging-1", 600, 1_000)
        .await
        .unwrap();
    assert_eq!(lease.expires_at, 1_600);
    assert_eq!(rule.num_calls(), 3);
}
