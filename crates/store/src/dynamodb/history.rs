//! The environment's history on DynamoDB: one `EVENT#…` item per event, read newest first.

use std::collections::HashMap;

use strata_core::Event;

use super::{DynamoStore, aws};
use crate::codec::{body, event_item, get_s, s};
use crate::keys::pk;
use crate::{HistoryStore, Page, Result};

impl HistoryStore for DynamoStore {
    async fn append_event(&self, name: &str, event: &Event) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(event_item(name, event)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(aws)?;
        Ok(())
    }

    async fn history(&self, name: &str, limit: u32, cursor: Option<&str>) -> Result<Page<Event>> {
        let start = cursor.map(|sk| HashMap::from([("pk".into(), pk(name)), ("sk".into(), s(sk))]));
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :event)")
            .expression_attribute_values(":pk", pk(name))
            .expression_attribute_values(":event", s("EVENT#"))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(aws)?;
        let items = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| body(item, &format!("{name}/EVENT")))
            .collect::<Result<Vec<Event>>>()?;
        let next = match out.last_evaluated_key {
            Some(key) => Some(get_s(&key, "sk", name)?.to_owned()),
            None => None,
        };
        Ok(Page { items, next })
    }
}
