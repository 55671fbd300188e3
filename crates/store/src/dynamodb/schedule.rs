//! The sync schedule on DynamoDB: the versioned `SYNC` item, and what is due found through
//! the `byDue` index, never by a scan.

use super::{DynamoStore, aws, page};
use crate::codec::{get_s, s, sync_from_item, sync_item};
use crate::keys::{DUE_INDEX, DUE_PARTITION, index_key, pk};
use crate::{DueSync, Page, Result, StoreError, SyncRecord, SyncStore, Versioned};

impl SyncStore for DynamoStore {
    async fn get_sync(&self, name: &str) -> Result<Option<Versioned<SyncRecord>>> {
        match self.get_item(name, "SYNC").await? {
            None => Ok(None),
            Some(item) => sync_from_item(name, &item).map(Some),
        }
    }

    async fn put_sync(
        &self,
        name: &str,
        record: &SyncRecord,
        previous_version: Option<u64>,
    ) -> Result<u64> {
        self.put_versioned(name, "SYNC", sync_item(name, record), previous_version)
            .await
    }

    async fn delete_sync(&self, name: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", pk(name))
            .key("sk", s("SYNC"))
            .send()
            .await
            .map_err(aws)?;
        Ok(())
    }

    async fn due(&self, now: u64, limit: u32, cursor: Option<&str>) -> Result<Page<DueSync>> {
        // The cursor is the last index key returned; the table key is rebuilt from its name.
        let start = match cursor {
            None => None,
            Some(key) => {
                let (_, name) = key.split_once('#').ok_or_else(|| StoreError::Corrupt {
                    item: "due cursor".into(),
                    reason: format!("{key} is not <dueAt>#<name>"),
                })?;
                Some(index_key(name, "SYNC", ("gsi2", DUE_PARTITION), key))
            }
        };
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE_INDEX)
            .key_condition_expression("gsi2pk = :due AND gsi2sk <= :upto")
            .expression_attribute_values(":due", s(DUE_PARTITION))
            // '~' sorts after every character of a name: everything due up to `now` inclusive.
            .expression_attribute_values(":upto", s(format!("{now:020}#~")));
        page(query, limit, start, "gsi2sk", "cursor", |item| {
            let key = get_s(item, "gsi2sk", "due index entry")?;
            let (_, name) = key.split_once('#').unwrap_or((key, key));
            Ok(DueSync {
                environment: name.to_owned(),
                record: sync_from_item(name, item)?,
            })
        })
        .await
    }
}
