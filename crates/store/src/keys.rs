//! The table's key schema: the index names and partitions, and the partition, sort and
//! index keys every item is stored under (the table in the crate's doc).

use aws_sdk_dynamodb::types::AttributeValue;
use strata_core::Component;

use crate::codec::{Item, s};

/// The GSI that lists environments without a scan.
pub const LIST_INDEX: &str = "byKind";
pub(crate) const LIST_PARTITION: &str = "Environment";
/// The GSI that finds the environments due for a sync without a scan.
pub const DUE_INDEX: &str = "byDue";

/// Whether `cursor` can be a page cursor of [`HistoryStore::history`] (the sort key of the
/// last event returned): anything else would be sent to DynamoDB as a start key it refuses.
///
/// [`HistoryStore::history`]: crate::HistoryStore::history
pub fn is_history_cursor(cursor: &str) -> bool {
    cursor.len() <= 200
        && cursor
            .strip_prefix("EVENT#")
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_hexdigit() || b == b'#'))
}
pub(crate) const DUE_PARTITION: &str = "Due";

pub(crate) fn due_sort_key(due_at: u64, name: &str) -> String {
    format!("{due_at:020}#{name}")
}

pub(crate) fn pk(name: &str) -> AttributeValue {
    AttributeValue::S(format!("ENV#{name}"))
}

pub(crate) fn component_sk(component: Component) -> String {
    format!("STATUS#COMPONENT#{}", component.name())
}

/// The full key of an index entry (a query's start key): the table key `ENV#<name>`/`sk`
/// and the index's `<prefix>pk`/`<prefix>sk`.
pub(crate) fn index_key(
    name: &str,
    sk: &str,
    (prefix, partition): (&str, &str),
    sort: &str,
) -> Item {
    Item::from([
        ("pk".into(), pk(name)),
        ("sk".into(), s(sk)),
        (format!("{prefix}pk"), s(partition)),
        (format!("{prefix}sk"), s(sort)),
    ])
}
