//! Environment state in one DynamoDB table, behind the narrow [`Store`] trait.
//!
//! Key design (see ARCHITECTURE.md): partition `pk = ENV#<name>`, sort key `sk`:
//!
//! | sk                              | holds                                   |
//! |---------------------------------|-----------------------------------------|
//! | `SPEC`                          | the spec, its generation; `gsi1pk/gsi1sk` list it |
//! | `STATUS`                        | environment status (without components) |
//! | `STATUS#COMPONENT#<component>`  | one component's status                  |
//! | `LOCK`                          | the lease: holder, expiresAt            |
//! | `EVENT#<at:020>#<random>`       | one history event                       |
//! | `SYNC`                          | the sync schedule: due time, TTL origin; `gsi2pk/gsi2sk` |
//!
//! Every item but the lock and the append-only events carries a `version`; every write is
//! conditional on the version read (optimistic concurrency). Listing queries the `byKind`
//! index (`gsi1pk = Environment`, `gsi1sk = <name>`), never scans. One query with
//! `begins_with(sk, "STATUS")` reads a whole status. Sync finds what is due by querying the
//! `byDue` index (`gsi2pk = Due`, `gsi2sk = <dueAt:020>#<name>`), never by a scan.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnValuesOnConditionCheckFailure,
};
use serde::{Deserialize, Serialize};
use strata_core::{
    Component, ComponentStatus, Environment, EnvironmentState, EnvironmentStatus, Event,
};

mod memory;
pub use memory::MemoryStore;

/// The GSI that lists environments without a scan.
pub const LIST_INDEX: &str = "byKind";
const LIST_PARTITION: &str = "Environment";
/// The GSI that finds the environments due for a sync without a scan.
pub const DUE_INDEX: &str = "byDue";

/// Whether `cursor` can be a page cursor of [`Store::history`] (the sort key of the last
/// event returned): anything else would be sent to DynamoDB as a start key it refuses.
pub fn is_history_cursor(cursor: &str) -> bool {
    cursor.len() <= 200
        && cursor
            .strip_prefix("EVENT#")
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_hexdigit() || b == b'#'))
}
const DUE_PARTITION: &str = "Due";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{item} was changed by someone else (expected version {expected:?}); read it again")]
    StaleVersion { item: String, expected: Option<u64> },
    #[error("environment {environment} is locked by {holder} until {expires_at}")]
    LockHeld {
        environment: String,
        holder: String,
        expires_at: u64,
    },
    #[error("environment {environment}'s lock is held by {holder:?}, not by {caller}")]
    NotLockHolder {
        environment: String,
        caller: String,
        holder: Option<String>,
    },
    #[error("stored item {item} is unreadable: {reason}")]
    Corrupt { item: String, reason: String },
    #[error("DynamoDB: {0}")]
    Aws(String),
}

impl StoreError {
    /// Stable names, used as Lambda error types by the handlers.
    pub fn name(&self) -> &'static str {
        match self {
            StoreError::StaleVersion { .. } => "StaleVersion",
            StoreError::LockHeld { .. } => "LockHeld",
            StoreError::NotLockHolder { .. } => "NotLockHolder",
            StoreError::Corrupt { .. } => "CorruptState",
            StoreError::Aws(_) => "StoreUnavailable",
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A value with the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredSpec {
    pub environment: Environment,
    /// Goes up by one each time the spec's content changes.
    pub generation: u64,
    pub version: u64,
    pub updated_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSummary {
    pub name: String,
    pub generation: u64,
    pub updated_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub environment: String,
    pub holder: String,
    pub expires_at: u64,
}

/// One page of a listing; `next` is an opaque cursor for the following page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// What putting `environment` over `previous` amounts to.
enum SpecPut<'a> {
    /// The content is the same: nothing is written, the stored spec stands.
    Unchanged(&'a StoredSpec),
    /// The content differs (or is new): written with this generation.
    Generation(u64),
}

/// An environment's sync schedule. Written when its spec is first stored, claimed by the sync
/// run that processes it, and removed once the environment is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRecord {
    /// When the environment was created (the first spec stored): its TTL counts from here.
    pub created_at: u64,
    /// When the next sync is due; while a run holds a claim, when that claim lapses.
    pub due_at: u64,
    /// Seconds added to the TTL through the API.
    #[serde(default)]
    pub ttl_extension: u64,
    /// The shortest TTL warning lead (seconds) already published for the current expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warned_lead: Option<u64>,
    /// The sync run that claimed it (until `due_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<u64>,
    /// When drift and the inventory were last read from the live resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<u64>,
}

impl SyncRecord {
    pub fn new(created_at: u64, due_at: u64) -> Self {
        Self {
            created_at,
            due_at,
            ttl_extension: 0,
            warned_lead: None,
            claimed_by: None,
            last_synced_at: None,
            observed_at: None,
        }
    }
}

/// One environment due for a sync, with the record's version (to claim it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSync {
    pub environment: String,
    pub record: Versioned<SyncRecord>,
}

/// What a sync reads of one environment, in one call: its spec, its status (without the
/// components), the app's component status (the versions serving) and the lease held now.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncView {
    pub spec: Option<StoredSpec>,
    pub status: Option<Versioned<EnvironmentStatus>>,
    pub app: Option<ComponentStatus>,
    pub lease: Option<Lease>,
}

impl SyncView {
    pub fn state(&self) -> Option<EnvironmentState> {
        self.status.as_ref().map(|s| s.value.state)
    }
}

/// Makes `name`'s sync schedule unless it has one: created now (the TTL's origin), first due
/// one `every_secs` later. A concurrent maker wins harmlessly.
pub async fn ensure_scheduled<S: Store>(
    store: &S,
    name: &str,
    now: u64,
    every_secs: u64,
) -> Result<()> {
    if store.get_sync(name).await?.is_some() {
        return Ok(());
    }
    match store
        .put_sync(name, &SyncRecord::new(now, now + every_secs), None)
        .await
    {
        Ok(_) | Err(StoreError::StaleVersion { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

fn due_sort_key(due_at: u64, name: &str) -> String {
    format!("{due_at:020}#{name}")
}

fn spec_put<'a>(previous: Option<&'a StoredSpec>, environment: &Environment) -> SpecPut<'a> {
    match previous {
        Some(p) if p.environment == *environment => SpecPut::Unchanged(p),
        Some(p) => SpecPut::Generation(p.generation + 1),
        None => SpecPut::Generation(1),
    }
}

/// An environment's spec, status and lease, read together.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentRead {
    pub spec: Option<StoredSpec>,
    pub status: Option<Versioned<EnvironmentStatus>>,
    pub lease: Option<Lease>,
}

/// What Strata stores about environments. Time is passed in (seconds since the epoch) so
/// that leases and history are testable.
pub trait Store: Send + Sync {
    fn get_spec(&self, name: &str) -> impl Future<Output = Result<Option<StoredSpec>>> + Send;

    /// The spec, the status and the lease held at `now`, for a reader that wants all three
    /// (`GET /environments/{name}`). DynamoDB reads them in one query.
    fn read(&self, name: &str, now: u64) -> impl Future<Output = Result<EnvironmentRead>> + Send {
        async move {
            let (spec, status, lease) = tokio::try_join!(
                self.get_spec(name),
                self.get_status(name),
                self.lease(name, now)
            )?;
            Ok(EnvironmentRead {
                spec,
                status,
                lease,
            })
        }
    }

    /// Writes `environment` over `previous` (what the caller read; `None` for a new one).
    /// The generation goes up only when the content changes; an unchanged spec writes nothing.
    fn put_spec(
        &self,
        environment: &Environment,
        previous: Option<&StoredSpec>,
        now: u64,
    ) -> impl Future<Output = Result<StoredSpec>> + Send;

    /// The status with every component's status assembled in.
    fn get_status(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Versioned<EnvironmentStatus>>>> + Send;

    /// Writes the environment-level status; its `components` are stored by
    /// [`Store::put_component`] and ignored here.
    fn put_status(
        &self,
        name: &str,
        status: &EnvironmentStatus,
        previous_version: Option<u64>,
    ) -> impl Future<Output = Result<u64>> + Send;

    fn get_component(
        &self,
        name: &str,
        component: Component,
    ) -> impl Future<Output = Result<Option<Versioned<ComponentStatus>>>> + Send;

    fn put_component(
        &self,
        name: &str,
        component: Component,
        status: &ComponentStatus,
        previous_version: Option<u64>,
    ) -> impl Future<Output = Result<u64>> + Send;

    fn append_event(&self, name: &str, event: &Event) -> impl Future<Output = Result<()>> + Send;

    /// Newest first.
    fn history(
        &self,
        name: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<Event>>> + Send;

    /// By name.
    fn list(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<EnvironmentSummary>>> + Send;

    /// Takes the lease when it is free, expired, or already `holder`'s (a retried step).
    fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl_secs: u64,
        now: u64,
    ) -> impl Future<Output = Result<Lease>> + Send;

    /// The lease held now (unexpired at `now`), if any: who runs an operation on `name`.
    fn lease(&self, name: &str, now: u64) -> impl Future<Output = Result<Option<Lease>>> + Send;

    /// Gives the lease back; only its holder may. Releasing a lease nobody holds is a no-op,
    /// so a retried release converges.
    fn release(&self, name: &str, holder: &str) -> impl Future<Output = Result<()>> + Send;

    fn get_sync(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Versioned<SyncRecord>>>> + Send;

    /// A versioned write of the schedule (`None`: it must not exist yet). A sync run claims an
    /// environment by writing its record over the version it found due: of two overlapping
    /// runs, exactly one wins.
    fn put_sync(
        &self,
        name: &str,
        record: &SyncRecord,
        previous_version: Option<u64>,
    ) -> impl Future<Output = Result<u64>> + Send;

    fn delete_sync(&self, name: &str) -> impl Future<Output = Result<()>> + Send;

    /// The spec, state and lease of `name` in one call (a sync's whole view of an unchanged
    /// environment).
    fn sync_view(&self, name: &str, now: u64) -> impl Future<Output = Result<SyncView>> + Send;

    /// Points the image index at `name` for each of `images` and away from each of
    /// `dropped` (images its previous spec used and this one does not). Idempotent.
    fn index_images(
        &self,
        name: &str,
        images: &[&str],
        dropped: &[&str],
    ) -> impl Future<Output = Result<()>> + Send;

    /// The environments whose spec uses `image` (the index an ECR push reads), by name.
    fn environments_using(&self, image: &str) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// The environments whose sync is due at `now`, earliest first; the cursor is opaque.
    fn due(
        &self,
        now: u64,
        limit: u32,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<DueSync>>> + Send;
}

/// The [`Store`] on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn pk(name: &str) -> AttributeValue {
    AttributeValue::S(format!("ENV#{name}"))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn component_sk(component: Component) -> String {
    format!("STATUS#COMPONENT#{}", component.name())
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

type Item = HashMap<String, AttributeValue>;

fn get_s<'a>(item: &'a Item, key: &str, what: &str) -> Result<&'a str> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt {
            item: what.to_owned(),
            reason: format!("no string attribute {key}"),
        })
}

fn get_n(item: &Item, key: &str, what: &str) -> Result<u64> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt {
            item: what.to_owned(),
            reason: format!("no numeric attribute {key}"),
        })
}

fn body<T: serde::de::DeserializeOwned>(item: &Item, what: &str) -> Result<T> {
    serde_json::from_str(get_s(item, "body", what)?).map_err(|e| StoreError::Corrupt {
        item: what.to_owned(),
        reason: e.to_string(),
    })
}

fn to_body<T: Serialize>(value: &T) -> AttributeValue {
    s(serde_json::to_string(value).expect("domain types always serialise"))
}

/// The status, with its components, from the items of a query (others are passed over).
fn status_from_items(name: &str, items: &[Item]) -> Result<Option<Versioned<EnvironmentStatus>>> {
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

fn spec_from_item(name: &str, item: &Item) -> Result<StoredSpec> {
    let what = format!("{name}/SPEC");
    Ok(StoredSpec {
        environment: body(item, &what)?,
        generation: get_n(item, "generation", &what)?,
        version: get_n(item, "version", &what)?,
        updated_at: get_n(item, "updatedAt", &what)?,
    })
}

/// The lease a `LOCK` item holds at `now`, if it has not expired.
fn lease_from_item(name: &str, item: &Item, now: u64) -> Result<Option<Lease>> {
    let lease = Lease {
        environment: name.to_owned(),
        holder: get_s(item, "holder", "LOCK")?.to_owned(),
        expires_at: get_n(item, "expiresAt", "LOCK")?,
    };
    // The same rule as `acquire`: a lease expiring exactly now still holds.
    Ok((lease.expires_at >= now).then_some(lease))
}

fn event_item(name: &str, event: &Event) -> Item {
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

fn sync_from_item(name: &str, item: &Item) -> Result<Versioned<SyncRecord>> {
    let what = format!("{name}/SYNC");
    Ok(Versioned {
        value: body(item, &what)?,
        version: get_n(item, "version", &what)?,
    })
}

/// The full key of an index entry (a query's start key): the table key `ENV#<name>`/`sk`
/// and the index's `<prefix>pk`/`<prefix>sk`.
fn index_key(name: &str, sk: &str, (prefix, partition): (&str, &str), sort: &str) -> Item {
    Item::from([
        ("pk".into(), pk(name)),
        ("sk".into(), s(sk)),
        (format!("{prefix}pk"), s(partition)),
        (format!("{prefix}sk"), s(sort)),
    ])
}

/// A `SYNC` item without its key and version; the due index keys it by due time.
fn sync_item(name: &str, record: &SyncRecord) -> Item {
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
        mut item: Item,
        expected: Option<u64>,
    ) -> Result<u64> {
        let version = expected.map_or(1, |v| v + 1);
        item.insert("pk".into(), pk(name));
        item.insert("sk".into(), s(sk));
        item.insert("version".into(), n(version));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = match expected {
            None => request.condition_expression("attribute_not_exists(pk)"),
            Some(v) => request
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(v)),
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

fn is_condition_failure_put(
    e: &SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError, impl std::fmt::Debug>,
) -> bool {
    e.as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

impl Store for DynamoStore {
    async fn get_spec(&self, name: &str) -> Result<Option<StoredSpec>> {
        match self.get_item(name, "SPEC").await? {
            Some(item) => spec_from_item(name, &item).map(Some),
            None => Ok(None),
        }
    }

    async fn put_spec(
        &self,
        environment: &Environment,
        previous: Option<&StoredSpec>,
        now: u64,
    ) -> Result<StoredSpec> {
        let generation = match spec_put(previous, environment) {
            SpecPut::Unchanged(stored) => return Ok(stored.clone()),
            SpecPut::Generation(generation) => generation,
        };
        let name = environment.name();
        let item = Item::from([
            ("body".into(), to_body(environment)),
            ("generation".into(), n(generation)),
            ("updatedAt".into(), n(now)),
            ("gsi1pk".into(), s(LIST_PARTITION)),
            ("gsi1sk".into(), s(name)),
        ]);
        let version = self
            .put_versioned(name, "SPEC", item, previous.map(|p| p.version))
            .await?;
        Ok(StoredSpec {
            environment: environment.clone(),
            generation,
            version,
            updated_at: now,
        })
    }

    async fn get_status(&self, name: &str) -> Result<Option<Versioned<EnvironmentStatus>>> {
        let items = self
            .query_partition(name, "begins_with(sk, :status)", &[(":status", "STATUS")])
            .await?;
        status_from_items(name, &items)
    }

    async fn read(&self, name: &str, now: u64) -> Result<EnvironmentRead> {
        // The sort keys from LOCK to STATUS#…: LOCK, SPEC, STATUS and the components'
        // STATUS#COMPONENT#… (not the EVENT#… history before them, nor SYNC after).
        let items = self
            .query_partition(
                name,
                "sk BETWEEN :from AND :to",
                &[(":from", "LOCK"), (":to", "STATUS$")],
            )
            .await?;
        let find = |sk: &str| {
            items.iter().find(|i| {
                i.get("sk")
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|v| v == sk)
            })
        };
        let spec = find("SPEC").map(|i| spec_from_item(name, i)).transpose()?;
        let lease = match find("LOCK") {
            Some(item) => lease_from_item(name, item, now)?,
            None => None,
        };
        Ok(EnvironmentRead {
            spec,
            status: status_from_items(name, &items)?,
            lease,
        })
    }

    async fn put_status(
        &self,
        name: &str,
        status: &EnvironmentStatus,
        previous_version: Option<u64>,
    ) -> Result<u64> {
        let mut stripped = status.clone();
        stripped.components.clear();
        let item = Item::from([("body".into(), to_body(&stripped))]);
        self.put_versioned(name, "STATUS", item, previous_version)
            .await
    }

    async fn get_component(
        &self,
        name: &str,
        component: Component,
    ) -> Result<Option<Versioned<ComponentStatus>>> {
        let sk = component_sk(component);
        let what = format!("{name}/{sk}");
        match self.get_item(name, &sk).await? {
            None => Ok(None),
            Some(item) => Ok(Some(Versioned {
                value: body(&item, &what)?,
                version: get_n(&item, "version", &what)?,
            })),
        }
    }

    async fn put_component(
        &self,
        name: &str,
        component: Component,
        status: &ComponentStatus,
        previous_version: Option<u64>,
    ) -> Result<u64> {
        let item = Item::from([("body".into(), to_body(status))]);
        self.put_versioned(name, &component_sk(component), item, previous_version)
            .await
    }

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

    async fn list(&self, limit: u32, cursor: Option<&str>) -> Result<Page<EnvironmentSummary>> {
        // The cursor is the last name returned; the index key is rebuilt from it.
        let start = cursor.map(|name| index_key(name, "SPEC", ("gsi1", LIST_PARTITION), name));
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LIST_INDEX)
            .key_condition_expression("gsi1pk = :kind")
            .expression_attribute_values(":kind", s(LIST_PARTITION))
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(aws)?;
        let items = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let name = get_s(item, "gsi1sk", "index entry")?;
                Ok(EnvironmentSummary {
                    name: name.to_owned(),
                    generation: get_n(item, "generation", name)?,
                    updated_at: get_n(item, "updatedAt", name)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next = match out.last_evaluated_key {
            Some(key) => Some(get_s(&key, "gsi1sk", "cursor")?.to_owned()),
            None => None,
        };
        Ok(Page { items, next })
    }

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

    async fn index_images(&self, name: &str, images: &[&str], dropped: &[&str]) -> Result<()> {
        let key = |image: &str| {
            [
                ("pk".to_owned(), s(format!("IMAGE#{image}"))),
                ("sk".to_owned(), pk(name)),
            ]
        };
        for image in images {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(Item::from(key(image))))
                .send()
                .await
                .map_err(aws)?;
        }
        for image in dropped {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(Item::from(key(image))))
                .send()
                .await
                .map_err(aws)?;
        }
        Ok(())
    }

    async fn environments_using(&self, image: &str) -> Result<Vec<String>> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :image")
            .expression_attribute_values(":image", s(format!("IMAGE#{image}")))
            .into_paginator()
            .items()
            .send();
        let mut names = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(aws)?;
            let sk = get_s(&item, "sk", image)?;
            let name = sk.strip_prefix("ENV#").ok_or_else(|| StoreError::Corrupt {
                item: format!("IMAGE#{image}"),
                reason: format!("sk {sk} is not ENV#<name>"),
            })?;
            names.push(name.to_owned());
        }
        Ok(names)
    }

    async fn sync_view(&self, name: &str, now: u64) -> Result<SyncView> {
        // One BatchGetItem by key, not a Query: a key lookup stays O(1) on the emulator too
        // (moto's Query walks the whole table), and it is one call on DynamoDB either way.
        let app = component_sk(Component::App);
        let keys = ["LOCK", "SPEC", "STATUS", app.as_str()]
            .map(|sk| Item::from([("pk".into(), pk(name)), ("sk".into(), s(sk))]));
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(keys.to_vec()))
            .consistent_read(true)
            .build()
            .expect("keys are set");
        let mut items = Vec::new();
        for attempt in 0.. {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(aws)?;
            if let Some(mut responses) = out.responses {
                items.extend(responses.remove(&self.table).unwrap_or_default());
            }
            // DynamoDB may leave keys unprocessed under load: ask again for those, backing off.
            match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                Some(rest) if !rest.keys.is_empty() => {
                    if attempt == 3 {
                        return Err(StoreError::Aws(format!(
                            "{name}: BatchGetItem left keys unprocessed after {attempt} retries"
                        )));
                    }
                    request = rest;
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                _ => break,
            }
        }
        let mut view = SyncView {
            spec: None,
            status: None,
            app: None,
            lease: None,
        };
        for item in &items {
            match get_s(item, "sk", name)? {
                "LOCK" => view.lease = lease_from_item(name, item, now)?,
                "SPEC" => view.spec = Some(spec_from_item(name, item)?),
                "STATUS" => {
                    view.status = Some(Versioned {
                        value: body(item, &format!("{name}/STATUS"))?,
                        version: get_n(item, "version", name)?,
                    });
                }
                sk if sk == app => view.app = Some(body(item, &format!("{name}/{sk}"))?),
                _ => {}
            }
        }
        Ok(view)
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
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE_INDEX)
            .key_condition_expression("gsi2pk = :due AND gsi2sk <= :upto")
            .expression_attribute_values(":due", s(DUE_PARTITION))
            // '~' sorts after every character of a name: everything due up to `now` inclusive.
            .expression_attribute_values(":upto", s(format!("{now:020}#~")))
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(aws)?;
        let items = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let key = get_s(item, "gsi2sk", "due index entry")?;
                let (_, name) = key.split_once('#').unwrap_or((key, key));
                Ok(DueSync {
                    environment: name.to_owned(),
                    record: sync_from_item(name, item)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next = match out.last_evaluated_key {
            Some(key) => Some(get_s(&key, "gsi2sk", "cursor")?.to_owned()),
            None => None,
        };
        Ok(Page { items, next })
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

#[cfg(test)]
mod tests;
