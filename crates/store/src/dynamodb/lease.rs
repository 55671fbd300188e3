//! The lease lock on DynamoDB: one conditional write of the `LOCK` item takes or gives it
//! back, and a refusal names the holder.

use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::{DynamoStore, aws};
use crate::codec::{get_n, get_s, lease_from_item, n, s};
use crate::keys::pk;
use crate::{Lease, LeaseStore, Result, StoreError};

impl LeaseStore for DynamoStore {
    async fn acquire(&self, name: &str, holder: &str, ttl_secs: u64, now: u64) -> Result<Lease> {
        let expires_at = now + ttl_secs;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", pk(name))
            .item("sk", s("LOCK"))
            .item("holder", s(holder))
            .item("acquiredAt", n(now))
            .item("expiresAt", n(expires_at))
            .condition_expression(
                "attribute_not_exists(pk) OR expiresAt < :now OR holder = :holder",
            )
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":holder", s(holder))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Lease {
                environment: name.to_owned(),
                holder: holder.to_owned(),
                expires_at,
            }),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                    failure,
                )) => {
                    let held = failure.item.clone().unwrap_or_default();
                    Err(StoreError::LockHeld {
                        environment: name.to_owned(),
                        holder: get_s(&held, "holder", "LOCK")
                            .unwrap_or("(unknown)")
                            .to_owned(),
                        expires_at: get_n(&held, "expiresAt", "LOCK").unwrap_or(0),
                    })
                }
                _ => Err(aws(e)),
            },
        }
    }

    async fn lease(&self, name: &str, now: u64) -> Result<Option<Lease>> {
        match self.get_item(name, "LOCK").await? {
            Some(item) => lease_from_item(name, &item, now),
            None => Ok(None),
        }
    }

    async fn release(&self, name: &str, holder: &str) -> Result<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", pk(name))
            .key("sk", s("LOCK"))
            .condition_expression("attribute_not_exists(pk) OR holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(
                    failure,
                )) => Err(StoreError::NotLockHolder {
                    environment: name.to_owned(),
                    caller: holder.to_owned(),
                    holder: failure
                        .item
                        .as_ref()
                        .and_then(|i| get_s(i, "holder", "LOCK").ok())
                        .map(str::to_owned),
                }),
                _ => Err(aws(e)),
            },
        }
    }
}
