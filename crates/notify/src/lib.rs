//! Putting Strata's events on the stack's EventBridge bus: the lifecycle, api and sync
//! functions publish through [`Notifier`]; tests use `MemoryNotifier` (`memory.rs`, behind
//! the feature `testing`).

use std::future::Future;

use strata_core::events::{Notice, SOURCE};

#[cfg(any(test, feature = "testing"))]
mod memory;
#[cfg(any(test, feature = "testing"))]
pub use memory::MemoryNotifier;

pub trait Notifier: Send + Sync {
    /// Puts one notice on the bus; an error says why it was not accepted.
    fn publish(&self, notice: &Notice) -> impl Future<Output = Result<(), String>> + Send;
}

/// The stack's EventBridge bus (`EVENT_BUS_NAME`).
#[derive(Debug, Clone)]
pub struct EventBus {
    client: aws_sdk_eventbridge::Client,
    name: String,
}

impl EventBus {
    pub fn new(client: aws_sdk_eventbridge::Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }
}

impl Notifier for EventBus {
    async fn publish(&self, notice: &Notice) -> Result<(), String> {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.name)
            .source(SOURCE)
            .detail_type(notice.detail_type())
            .detail(notice.detail())
            .resources(format!("strata:environment/{}", notice.environment()))
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| strata_core::error_chain(&e))?;
        // PutEvents answers 200 with per-entry failures (throttling among them).
        match out.entries().first().and_then(|e| e.error_code()) {
            Some(code) if out.failed_entry_count() > 0 => Err(format!(
                "{code}: {}",
                out.entries()[0].error_message().unwrap_or_default()
            )),
            _ => Ok(()),
        }
    }
}
