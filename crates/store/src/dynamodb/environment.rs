//! The environment's own items on DynamoDB: the spec and its listing, the status and each
//! component's, and the reads that take several of them in one call.

use aws_sdk_dynamodb::types::KeysAndAttributes;
use strata_core::{Component, ComponentStatus, Environment, EnvironmentStatus};

use super::{DynamoStore, aws, page};
use crate::codec::{
    Item, body, get_n, get_s, lease_from_item, n, s, spec_from_item, status_from_items, to_body,
};
use crate::keys::{LIST_INDEX, LIST_PARTITION, component_sk, index_key, pk};
use crate::records::store_spec;
use crate::{
    EnvironmentRead, EnvironmentSummary, Page, Result, SpecStore, StatusStore, StoreError,
    StoredSpec, SyncView, Versioned, ViewStore,
};

/// The `SPEC` item's attributes (the keys and version are the versioned write's).
pub(super) fn spec_item(environment: &Environment, generation: u64, now: u64) -> Item {
    Item::from([
        ("body".into(), to_body(environment)),
        ("generation".into(), n(generation)),
        ("updatedAt".into(), n(now)),
        ("gsi1pk".into(), s(LIST_PARTITION)),
        ("gsi1sk".into(), s(environment.name())),
    ])
}

impl SpecStore for DynamoStore {
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
        let expected = previous.map(|p| p.version);
        store_spec(environment, previous, now, move |stored| {
            let item = spec_item(environment, stored.generation, now);
            self.put_versioned(environment.name(), "SPEC", item, expected)
        })
        .await
    }

    async fn list(&self, limit: u32, cursor: Option<&str>) -> Result<Page<EnvironmentSummary>> {
        // The cursor is the last name returned; the index key is rebuilt from it.
        let start = cursor.map(|name| index_key(name, "SPEC", ("gsi1", LIST_PARTITION), name));
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LIST_INDEX)
            .key_condition_expression("gsi1pk = :kind")
            .expression_attribute_values(":kind", s(LIST_PARTITION));
        page(query, limit, start, "gsi1sk", "cursor", |item| {
            let name = get_s(item, "gsi1sk", "index entry")?;
            Ok(EnvironmentSummary {
                name: name.to_owned(),
                generation: get_n(item, "generation", name)?,
                updated_at: get_n(item, "updatedAt", name)?,
            })
        })
        .await
    }
}

impl StatusStore for DynamoStore {
    async fn get_status(&self, name: &str) -> Result<Option<Versioned<EnvironmentStatus>>> {
        let items = self
            .query_partition(name, "begins_with(sk, :status)", &[(":status", "STATUS")])
            .await?;
        status_from_items(name, &items)
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
}

impl ViewStore for DynamoStore {
    async fn read(&self, name: &str, now: u64) -> Result<EnvironmentRead> {
        // The sort keys from LOCK to SYNC: LOCK, SPEC, STATUS, the components'
        // STATUS#COMPONENT#… and SYNC (not the EVENT#… history before them).
        let items = self
            .query_partition(
                name,
                "sk BETWEEN :from AND :to",
                &[(":from", "LOCK"), (":to", "SYNC")],
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
            scheduled: find("SYNC").is_some(),
        })
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
}
