//! An in-memory [`Store`](crate::Store) with the same semantics as DynamoDB's, for domain and
//! handler tests that do not need the emulator. Compiled for this crate's tests and behind
//! the feature `testing` (other crates' dev-dependencies turn it on), never shipped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use strata_core::{Component, ComponentStatus, Environment, EnvironmentStatus, Event};

use crate::keys::due_sort_key;
use crate::records::{next_version, store_spec};
use crate::{
    ApplyStore, DueSync, EnvironmentSummary, HistoryStore, ImageIndexStore, Lease, LeaseStore,
    Page, Result, SpecStore, StatusStore, StoreError, StoredSpec, SyncRecord, SyncStore, SyncView,
    Versioned, ViewStore,
};

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    specs: BTreeMap<String, StoredSpec>,
    statuses: BTreeMap<String, Versioned<EnvironmentStatus>>,
    components: BTreeMap<(String, Component), Versioned<ComponentStatus>>,
    /// (image, environment): the image index.
    images: BTreeSet<(String, String)>,
    events: BTreeMap<String, Vec<Event>>,
    leases: BTreeMap<String, Lease>,
    syncs: BTreeMap<String, Versioned<SyncRecord>>,
}

fn check_version(item: String, current: Option<u64>, expected: Option<u64>) -> Result<u64> {
    if current == expected {
        Ok(next_version(expected))
    } else {
        Err(StoreError::StaleVersion { item, expected })
    }
}

/// A versioned write of `value` at `key`, as DynamoDB's conditional put: over `expected`
/// (`None`: it must not exist yet), else `StaleVersion` naming `item`. Answers the version.
fn put_versioned<K: Ord, T>(
    items: &mut BTreeMap<K, Versioned<T>>,
    key: K,
    item: String,
    value: T,
    expected: Option<u64>,
) -> Result<u64> {
    let version = check_version(item, items.get(&key).map(|v| v.version), expected)?;
    items.insert(key, Versioned { value, version });
    Ok(version)
}

/// The lease on `name` that holds at `now` (one expiring exactly now still holds).
fn held(state: &State, name: &str, now: u64) -> Option<Lease> {
    state
        .leases
        .get(name)
        .filter(|held| held.expires_at >= now)
        .cloned()
}

impl MemoryStore {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SpecStore for MemoryStore {
    async fn get_spec(&self, name: &str) -> Result<Option<StoredSpec>> {
        Ok(self.state().specs.get(name).cloned())
    }

    async fn put_spec(
        &self,
        environment: &Environment,
        previous: Option<&StoredSpec>,
        now: u64,
    ) -> Result<StoredSpec> {
        let name = environment.name();
        store_spec(environment, previous, now, |stored| {
            let mut state = self.state();
            let current = state.specs.get(name).map(|s| s.version);
            let expected = previous.map(|p| p.version);
            let written = check_version(format!("{name}/SPEC"), current, expected).inspect(|_| {
                state.specs.insert(name.to_owned(), stored.clone());
            });
            std::future::ready(written)
        })
        .await
    }

    async fn list(&self, limit: u32, cursor: Option<&str>) -> Result<Page<EnvironmentSummary>> {
        let state = self.state();
        let limit = limit.clamp(1, 1000) as usize;
        let items: Vec<EnvironmentSummary> = state
            .specs
            .values()
            .filter(|s| cursor.is_none_or(|c| s.environment.name() > c))
            .take(limit)
            .map(|s| EnvironmentSummary {
                name: s.environment.name().to_owned(),
                generation: s.generation,
                updated_at: s.updated_at,
            })
            .collect();
        let next = match items.last() {
            Some(last) if state.specs.keys().any(|k| k.as_str() > last.name.as_str()) => {
                Some(last.name.clone())
            }
            _ => None,
        };
        Ok(Page { items, next })
    }
}

impl StatusStore for MemoryStore {
    async fn get_status(&self, name: &str) -> Result<Option<Versioned<EnvironmentStatus>>> {
        let state = self.state();
        Ok(state.statuses.get(name).cloned().map(|mut s| {
            s.value.components = state
                .components
                .iter()
                .filter(|((env, _), _)| env == name)
                .map(|((_, c), v)| (*c, v.value.clone()))
                .collect();
            s
        }))
    }

    async fn put_status(
        &self,
        name: &str,
        status: &EnvironmentStatus,
        previous_version: Option<u64>,
    ) -> Result<u64> {
        let mut value = status.clone();
        value.components.clear();
        let mut state = self.state();
        put_versioned(
            &mut state.statuses,
            name.to_owned(),
            format!("{name}/STATUS"),
            value,
            previous_version,
        )
    }

    async fn get_component(
        &self,
        name: &str,
        component: Component,
    ) -> Result<Option<Versioned<ComponentStatus>>> {
        Ok(self
            .state()
            .components
            .get(&(name.to_owned(), component))
            .cloned())
    }

    async fn put_component(
        &self,
        name: &str,
        component: Component,
        status: &ComponentStatus,
        previous_version: Option<u64>,
    ) -> Result<u64> {
        let key = (name.to_owned(), component);
        let mut state = self.state();
        put_versioned(
            &mut state.components,
            key,
            format!("{name}/{component}"),
            status.clone(),
            previous_version,
        )
    }
}

impl ViewStore for MemoryStore {
    async fn sync_view(&self, name: &str, now: u64) -> Result<SyncView> {
        let state = self.state();
        Ok(SyncView {
            spec: state.specs.get(name).cloned(),
            status: state.statuses.get(name).cloned(),
            app: state
                .components
                .get(&(name.to_owned(), Component::App))
                .map(|c| c.value.clone()),
            lease: held(&state, name, now),
        })
    }
}

impl ApplyStore for MemoryStore {}

impl HistoryStore for MemoryStore {
    async fn append_event(&self, name: &str, event: &Event) -> Result<()> {
        self.state()
            .events
            .entry(name.to_owned())
            .or_default()
            .push(event.clone());
        Ok(())
    }

    async fn history(&self, name: &str, limit: u32, cursor: Option<&str>) -> Result<Page<Event>> {
        let state = self.state();
        let mut events: Vec<Event> = state.events.get(name).cloned().unwrap_or_default();
        events.sort_by_key(|e| std::cmp::Reverse(e.at));
        // Shaped like the table's cursors (an event key), so the API's checks hold for both.
        let skip: usize = cursor
            .and_then(|c| c.strip_prefix("EVENT#"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let limit = limit.clamp(1, 1000) as usize;
        let items: Vec<Event> = events.iter().skip(skip).take(limit).cloned().collect();
        let next = (skip + items.len() < events.len())
            .then(|| format!("EVENT#{:020}", skip + items.len()));
        Ok(Page { items, next })
    }
}

impl LeaseStore for MemoryStore {
    async fn acquire(&self, name: &str, holder: &str, ttl_secs: u64, now: u64) -> Result<Lease> {
        let mut state = self.state();
        if let Some(held) = state.leases.get(name) {
            if held.holder != holder && held.expires_at >= now {
                return Err(StoreError::LockHeld {
                    environment: name.to_owned(),
                    holder: held.holder.clone(),
                    expires_at: held.expires_at,
                });
            }
        }
        let lease = Lease {
            environment: name.to_owned(),
            holder: holder.to_owned(),
            expires_at: now + ttl_secs,
        };
        state.leases.insert(name.to_owned(), lease.clone());
        Ok(lease)
    }

    async fn lease(&self, name: &str, now: u64) -> Result<Option<Lease>> {
        Ok(held(&self.state(), name, now))
    }

    async fn release(&self, name: &str, holder: &str) -> Result<()> {
        let mut state = self.state();
        match state.leases.get(name) {
            Some(held) if held.holder != holder => Err(StoreError::NotLockHolder {
                environment: name.to_owned(),
                caller: holder.to_owned(),
                holder: Some(held.holder.clone()),
            }),
            _ => {
                state.leases.remove(name);
                Ok(())
            }
        }
    }
}

impl SyncStore for MemoryStore {
    async fn get_sync(&self, name: &str) -> Result<Option<Versioned<SyncRecord>>> {
        Ok(self.state().syncs.get(name).cloned())
    }

    async fn put_sync(
        &self,
        name: &str,
        record: &SyncRecord,
        previous_version: Option<u64>,
    ) -> Result<u64> {
        let mut state = self.state();
        put_versioned(
            &mut state.syncs,
            name.to_owned(),
            format!("{name}/SYNC"),
            record.clone(),
            previous_version,
        )
    }

    async fn delete_sync(&self, name: &str) -> Result<()> {
        self.state().syncs.remove(name);
        Ok(())
    }

    async fn due(&self, now: u64, limit: u32, cursor: Option<&str>) -> Result<Page<DueSync>> {
        let state = self.state();
        let mut due: Vec<(String, DueSync)> = state
            .syncs
            .iter()
            .filter(|(_, s)| s.value.due_at <= now)
            .map(|(name, s)| {
                let key = due_sort_key(s.value.due_at, name);
                let entry = DueSync {
                    environment: name.clone(),
                    record: s.clone(),
                };
                (key, entry)
            })
            .filter(|(key, _)| cursor.is_none_or(|c| key.as_str() > c))
            .collect();
        due.sort_by(|a, b| a.0.cmp(&b.0));
        let limit = limit.clamp(1, 1000) as usize;
        let next = (due.len() > limit).then(|| due[limit - 1].0.clone());
        Ok(Page {
            items: due.into_iter().take(limit).map(|(_, d)| d).collect(),
            next,
        })
    }
}

impl ImageIndexStore for MemoryStore {
    async fn index_images(&self, name: &str, images: &[&str], dropped: &[&str]) -> Result<()> {
        let mut state = self.state();
        for image in images {
            state.images.insert(((*image).to_owned(), name.to_owned()));
        }
        for image in dropped {
            state.images.remove(&((*image).to_owned(), name.to_owned()));
        }
        Ok(())
    }

    async fn environments_using(&self, image: &str) -> Result<Vec<String>> {
        Ok(self
            .state()
            .images
            .iter()
            .filter(|(i, _)| i == image)
            .map(|(_, name)| name.clone())
            .collect())
    }
}
