//! The in-memory [`Inventory`] and [`Observer`] for the sync's tests and its scale bench:
//! compiled for this crate's unit tests and behind the feature `testing`, which the crate's
//! own dev-dependency on itself turns on for `tests/` and `benches/`, so the deployed
//! function never links them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use strata_core::drift::{ComponentDrift, Observed};
use strata_core::status::{EnvironmentStatus, InventoryItem};
use strata_core::{Component, Environment};

use crate::inventory::Inventory;
use crate::observe::Observer;

/// An in-memory [`Inventory`] for tests: the items set per environment; counts takings.
#[derive(Debug, Default)]
pub struct MemoryInventory {
    items: Mutex<BTreeMap<String, Result<Vec<InventoryItem>, String>>>,
    takings: Mutex<u64>,
}

impl MemoryInventory {
    pub fn set(&self, environment: &str, items: Result<Vec<InventoryItem>, String>) {
        self.items
            .lock()
            .expect("not poisoned")
            .insert(environment.to_owned(), items);
    }

    pub fn takings(&self) -> u64 {
        *self.takings.lock().expect("not poisoned")
    }
}

impl Inventory for MemoryInventory {
    async fn take(
        &self,
        env: &Environment,
        _status: &EnvironmentStatus,
    ) -> Result<Vec<InventoryItem>, String> {
        *self.takings.lock().expect("not poisoned") += 1;
        self.items
            .lock()
            .expect("not poisoned")
            .get(env.name())
            .cloned()
            .unwrap_or(Ok(Vec::new()))
    }
}

/// An in-memory [`Observer`] for tests: in sync unless told otherwise; counts observations.
#[derive(Debug, Default)]
pub struct MemoryObserver {
    observed: Mutex<BTreeMap<(String, Component), Result<Observed, String>>>,
    calls: Mutex<u64>,
}

impl MemoryObserver {
    pub fn set(&self, environment: &str, component: Component, observed: Result<Observed, String>) {
        self.observed
            .lock()
            .expect("not poisoned")
            .insert((environment.to_owned(), component), observed);
    }

    pub fn calls(&self) -> u64 {
        *self.calls.lock().expect("not poisoned")
    }
}

impl Observer for MemoryObserver {
    async fn observe(
        &self,
        environment: &str,
        component: Component,
    ) -> Result<ComponentDrift, String> {
        *self.calls.lock().expect("not poisoned") += 1;
        let observed = self
            .observed
            .lock()
            .expect("not poisoned")
            .get(&(environment.to_owned(), component))
            .cloned()
            .unwrap_or(Ok(Observed::InSync))?;
        Ok(ComponentDrift {
            component,
            observed,
        })
    }
}
