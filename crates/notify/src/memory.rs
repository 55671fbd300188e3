//! The in-memory [`Notifier`] for tests: compiled for this crate's tests and behind the
//! feature `testing`, which other crates' dev-dependencies turn on, so no shipped function
//! links it.

use std::sync::Mutex;

use strata_core::events::Notice;

use crate::Notifier;

/// An in-memory [`Notifier`] for tests: keeps what was published, or refuses on demand.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    published: Mutex<Vec<Notice>>,
    refusing: Mutex<bool>,
}

impl MemoryNotifier {
    pub fn published(&self) -> Vec<Notice> {
        self.published.lock().expect("not poisoned").clone()
    }

    pub fn set_refusing(&self, refusing: bool) {
        *self.refusing.lock().expect("not poisoned") = refusing;
    }
}

impl Notifier for MemoryNotifier {
    async fn publish(&self, notice: &Notice) -> Result<(), String> {
        if *self.refusing.lock().expect("not poisoned") {
            return Err("ThrottlingException: Rate exceeded".into());
        }
        self.published
            .lock()
            .expect("not poisoned")
            .push(notice.clone());
        Ok(())
    }
}
