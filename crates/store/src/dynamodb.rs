//! The [`Store`](crate::Store) on DynamoDB: the client and table, the primitive reads and
//! versioned writes every part builds on, and the SDK's errors as [`StoreError`]s.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;

use crate::codec::{Item, get_s, n, s};
use crate::keys::pk;
use crate::records::next_version;
use crate::{Page, Result, StoreError};

mod apply;
mod environment;
mod history;
mod images;
mod lease;
mod schedule;

/// The [`Store`](crate::Store) on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// The error's code and message, or its chain of causes; never the SDK's Debug form, which
/// carries the raw HTTP response.
fn aws<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(e) = &err {
        let meta = e.err();
        return StoreError::Aws(format!(
            "{}: {}",
            meta.code().unwrap_or("UnknownError"),
            meta.message().unwrap_or("no message")
        ));
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    StoreError::Aws(text)
}

/// One page of `query` (its table, index and key condition set): at most `limit` items (1
/// to 1,000) from `start`, each read by `read`, and when more remain the cursor, the last
/// item's `cursor` attribute (`what` says whose in an error).
async fn page<T>(
    query: QueryFluentBuilder,
    limit: u32,
    start: Option<Item>,
    cursor: &str,
    what: &str,
    read: impl Fn(&Item) -> Result<T>,
) -> Result<Page<T>> {
    let out = query
        .limit(limit.clamp(1, 1000) as i32)
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(aws)?;
    let items = out
        .items
        .unwrap_or_default()
        .iter()
        .map(read)
        .collect::<Result<Vec<T>>>()?;
    let next = match out.last_evaluated_key {
        Some(key) => Some(get_s(&key, cursor, what)?.to_owned()),
        None => None,
    };
    Ok(Page { items, next })
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// A versioned put of one item: `expected` None means the item must not exist.
    async fn put_versioned(
        &self,
        name: &str,
        sk: &str,
        item: Item,
        expected: Option<u64>,
    ) -> Result<u64> {
        let (item, version) = versioned(name, sk, item, expected);
        let (condition, value) = version_condition(expected);
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        let request = match value {
            Some(v) => request.expression_attribute_values(":expected", v),
            None => request,
        };
        match request.send().await {
            Ok(_) => Ok(version),
            Err(e) if is_condition_failure_put(&e) => Err(StoreError::StaleVersion {
                item: format!("{name}/{sk}"),
                expected,
            }),
            Err(e) => Err(aws(e)),
        }
    }

    /// Every item of `name`'s partition whose sort key meets `condition` (with its
    /// `values`), read consistently, through every page.
    async fn query_partition(
        &self,
        name: &str,
        condition: &str,
        values: &[(&str, &str)],
    ) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(format!("pk = :pk AND {condition}"))
                .expression_attribute_values(":pk", pk(name));
            for &(key, value) in values {
                query = query.expression_attribute_values(key, s(value));
            }
            let out = query
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(aws)?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    async fn get_item(&self, name: &str, sk: &str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk(name))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(aws)?;
        Ok(out.item)
    }
}

/// `item` with its keys and the version a write over `expected` gives it (1 for a new item).
fn versioned(name: &str, sk: &str, mut item: Item, expected: Option<u64>) -> (Item, u64) {
    let version = next_version(expected);
    item.insert("pk".into(), pk(name));
    item.insert("sk".into(), s(sk));
    item.insert("version".into(), n(version));
    (item, version)
}

/// The condition of a versioned write over `expected` (`None`: the item must not exist),
/// and the `:expected` value it names.
fn version_condition(
    expected: Option<u64>,
) -> (
    &'static str,
    Option<aws_sdk_dynamodb::types::AttributeValue>,
) {
    match expected {
        None => ("attribute_not_exists(pk)", None),
        Some(v) => ("version = :expected", Some(n(v))),
    }
}

fn is_condition_failure_put(
    e: &SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError, impl std::fmt::Debug>,
) -> bool {
    e.as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}
