//! The environment's history on DynamoDB: one `EVENT#…` item per event, read newest first.

use std::collections::HashMap;

use strata_core::Event;

use super::{DynamoStore, aws, page};
use crate::codec::{body, event_item, s};
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
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :event)")
            .expression_attribute_values(":pk", pk(name))
            .expression_attribute_values(":event", s("EVENT#"))
            .scan_index_forward(false);
        page(query, limit, start, "sk", name, |item| {
            body(item, &format!("{name}/EVENT"))
        })
        .await
    }
}
