//! Items to and from the store's types: attribute values, the JSON `body` each item
//! carries, and the items of a spec, status, lease, event and sync schedule.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use strata_core::{Component, ComponentStatus, EnvironmentStatus, Event};

use crate::keys::{DUE_PARTITION, due_sort_key, pk};
use crate::{Lease, Result, StoreError, StoredSpec, SyncRecord, Versioned};

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, key: &str, what: &str) -> Result<&'a str> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt {
            item: what.to_owned(),
            reason: format!("no string attribute {key}"),
        })
}

pub(crate) fn get_n(item: &Item, key: &str, what: &str) -> Result<u64> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt {
            item: what.to_owned(),
            reason: format!("no numeric attribute {key}"),
        })
}

pub(crate) fn body<T: serde::de::DeserializeOwned>(item: &Item, what: &str) -> Result<T> {
    serde_json::from_str(get_s(item, "body", what)?).map_err(|e| StoreError::Corrupt {
        item: what.to_owned(),
        reason: e.to_string(),
    })
}

pub(crate) fn to_body<T: Serialize>(value: &T) -> AttributeValue {
    s(serde_json::to_string(value).expect("domain types always serialise"))
}

/// The status, with its components, from the items of a query (others are passed over).
pub(crate) fn status_from_items(
    name: &str,
    items: &[Item],
) -> Result<Option<Versioned<EnvironmentStatus>>> {
    let mut status: Option<Versioned<EnvironmentStatus>> = None;
    let mut components = Vec::new();
    for item in items {
        let sk = get_s(item, "sk", name)?;
        let what = format!("{name}/{sk}");
        if sk == "STATUS" {
            status = Some(Versioned {
                value: body(item, &what)?,
                version: get_n(item, "version", &what)?,
            });
        } else if let Some(component) = sk
            .strip_prefix("STATUS#COMPONENT#")
            .and_then(|name| Component::parse(name).ok())
        {
            components.push((component, body::<ComponentStatus>(item, &what)?));
        }
    }
    Ok(status.map(|mut s| {
        s.value.components = components.into_iter().collect();
        s
    }))
}

pub(crate) fn spec_from_item(name: &str, item: &Item) -> Result<StoredSpec> {
    let what = format!("{name}/SPEC");
    Ok(StoredSpec {
        environment: body(item, &what)?,
        generation: get_n(item, "generation", &what)?,
        version: get_n(item, "version", &what)?,
        updated_at: get_n(item, "updatedAt", &what)?,
    })
}

/// The lease a `LOCK` item holds at `now`, if it has not expired.
pub(crate) fn lease_from_item(name: &str, item: &Item, now: u64) -> Result<Option<Lease>> {
    let lease = Lease {
        environment: name.to_owned(),
        holder: get_s(item, "holder", "LOCK")?.to_owned(),
        expires_at: get_n(item, "expiresAt", "LOCK")?,
    };
    // The same rule as `acquire`: a lease expiring exactly now still holds.
    Ok((lease.expires_at >= now).then_some(lease))
}

pub(crate) fn event_item(name: &str, event: &Event) -> Item {
    // Write time orders events within one second; the random tail keeps keys unique.
    let written = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let sk = format!(
        "EVENT#{:020}#{written:039}#{:08x}",
        event.at,
        random_suffix() as u32
    );
    Item::from([
        ("pk".into(), pk(name)),
        ("sk".into(), s(sk)),
        ("body".into(), to_body(event)),
    ])
}

pub(crate) fn sync_from_item(name: &str, item: &Item) -> Result<Versioned<SyncRecord>> {
    let what = format!("{name}/SYNC");
    Ok(Versioned {
        value: body(item, &what)?,
        version: get_n(item, "version", &what)?,
    })
}

/// A `SYNC` item without its key and version; the due index keys it by due time.
pub(crate) fn sync_item(name: &str, record: &SyncRecord) -> Item {
    Item::from([
        ("body".into(), to_body(record)),
        ("gsi2pk".into(), s(DUE_PARTITION)),
        ("gsi2sk".into(), s(due_sort_key(record.due_at, name))),
    ])
}

fn random_suffix() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}
