//! An apply's writes on DynamoDB: the spec, a new environment's schedule and the image
//! index's changes in one `TransactWriteItems`, so an apply answers in few calls and a
//! refused spec leaves nothing beside it written.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use strata_core::Environment;

use super::environment::spec_item;
use super::images::image_key;
use super::{DynamoStore, aws, version_condition, versioned};
use crate::codec::{Item, sync_item};
use crate::records::{SpecPut, spec_put};
use crate::traits::write_beside;
use crate::{ApplyStore, Result, SpecStore, SpecWrites, StoreError, StoredSpec};

/// The code a cancelled transaction gives each item whose condition failed.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";

impl ApplyStore for DynamoStore {
    async fn put_spec_with(
        &self,
        environment: &Environment,
        previous: Option<&StoredSpec>,
        now: u64,
        with: &SpecWrites,
    ) -> Result<StoredSpec> {
        let generation = match spec_put(previous, environment) {
            // No spec to write: what goes beside it, one write at a time.
            SpecPut::Unchanged(stored) => {
                write_beside(self, environment.name(), with).await?;
                return Ok(stored.clone());
            }
            SpecPut::Generation(generation) => generation,
        };
        if *with == SpecWrites::default() {
            return self.put_spec(environment, previous, now).await;
        }
        let name = environment.name();
        let expected = previous.map(|p| p.version);
        let mut schedule = with.schedule.as_ref();
        loop {
            let (spec, version) = versioned(
                name,
                "SPEC",
                spec_item(environment, generation, now),
                expected,
            );
            let mut items = vec![self.put(spec, expected)];
            if let Some(record) = schedule {
                items.push(self.put(
                    versioned(name, "SYNC", sync_item(name, record), None).0,
                    None,
                ));
            }
            for image in &with.index {
                items.push(
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(&self.table)
                                .set_item(Some(image_key(image, name)))
                                .build()
                                .expect("table and item are set"),
                        )
                        .build(),
                );
            }
            for image in &with.unindex {
                items.push(
                    TransactWriteItem::builder()
                        .delete(
                            Delete::builder()
                                .table_name(&self.table)
                                .set_key(Some(image_key(image, name)))
                                .build()
                                .expect("table and key are set"),
                        )
                        .build(),
                );
            }
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let failed = match &sent {
                Ok(_) => {
                    return Ok(StoredSpec {
                        environment: environment.clone(),
                        generation,
                        version,
                        updated_at: now,
                    });
                }
                Err(e) => match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                        cancelled
                            .cancellation_reasons()
                            .iter()
                            .map(|r| r.code() == Some(CONDITION_FAILED))
                            .collect::<Vec<_>>()
                    }
                    _ => Vec::new(),
                },
            };
            match failed.as_slice() {
                // Another writer stored the spec since it was read.
                [true, ..] => {
                    return Err(StoreError::StaleVersion {
                        item: format!("{name}/SPEC"),
                        expected,
                    });
                }
                // A concurrent maker made the schedule first: it wins; write the rest again.
                [false, true, ..] if schedule.is_some() => schedule = None,
                _ => return Err(aws(sent.expect_err("a failed transaction"))),
            }
        }
    }
}

impl DynamoStore {
    /// A versioned put of `item` (keys and version set) as a transaction's item.
    fn put(&self, item: Item, expected: Option<u64>) -> TransactWriteItem {
        let (condition, value) = version_condition(expected);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        let put = match value {
            Some(v) => put.expression_attribute_values(":expected", v),
            None => put,
        };
        TransactWriteItem::builder()
            .put(put.build().expect("table and item are set"))
            .build()
    }
}
