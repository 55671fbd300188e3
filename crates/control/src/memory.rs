//! The in-memory [`Flows`] and [`SyncRequests`] for the handlers' tests (api, sync, this
//! crate's own): compiled for this crate's tests and behind the feature `testing`, which
//! other crates' dev-dependencies turn on, so no shipped function links them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use strata_core::OperationKind;

use crate::flows::{FlowError, Flows, Run, execution_arn};
use crate::sync_requests::{SyncRequest, SyncRequests};

/// An in-memory [`Flows`] for handler tests: records what was started, by name once; what
/// it started runs until stopped or [`end`](Self::end)ed.
#[derive(Debug, Default)]
pub struct MemoryFlows {
    started: Mutex<Vec<(OperationKind, String, String)>>,
    ended: Mutex<BTreeMap<String, String>>,
    unavailable: Mutex<bool>,
}

impl MemoryFlows {
    /// Ends a started execution with `status` (`SUCCEEDED`, `ABORTED`, …).
    pub fn end(&self, execution: &str, status: &str) {
        self.ended
            .lock()
            .expect("not poisoned")
            .insert(execution.to_owned(), status.to_owned());
    }

    /// The executions stopped so far.
    pub fn stopped(&self) -> Vec<String> {
        self.ended
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|(_, status)| *status == "ABORTED")
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Every execution started so far: operation, name, input.
    pub fn started(&self) -> Vec<(OperationKind, String, String)> {
        self.started.lock().expect("not poisoned").clone()
    }

    /// Makes every later start fail as Step Functions throttling would.
    pub fn set_unavailable(&self, unavailable: bool) {
        *self.unavailable.lock().expect("not poisoned") = unavailable;
    }
}

impl Flows for MemoryFlows {
    async fn start(
        &self,
        operation: OperationKind,
        execution: &str,
        input: &str,
    ) -> Result<String, FlowError> {
        if *self.unavailable.lock().expect("not poisoned") {
            return Err(FlowError::Unavailable("ThrottlingException".into()));
        }
        let mut started = self.started.lock().expect("not poisoned");
        if !started.iter().any(|(_, name, _)| name == execution) {
            started.push((operation, execution.to_owned(), input.to_owned()));
        }
        Ok(execution_arn(
            &format!(
                "arn:aws:states:us-east-1:123456789012:stateMachine:environment-{}",
                operation.name()
            ),
            execution,
        ))
    }

    async fn stop(
        &self,
        operation: OperationKind,
        execution: &str,
        _cause: &str,
    ) -> Result<Run, FlowError> {
        if self.run(operation, execution).await? == Run::Running {
            self.end(execution, "ABORTED");
            return Ok(Run::Ended("ABORTED".into()));
        }
        self.run(operation, execution).await
    }

    async fn run(&self, _operation: OperationKind, execution: &str) -> Result<Run, FlowError> {
        if *self.unavailable.lock().expect("not poisoned") {
            return Err(FlowError::Unavailable("ThrottlingException".into()));
        }
        if let Some(status) = self.ended.lock().expect("not poisoned").get(execution) {
            return Ok(Run::Ended(status.clone()));
        }
        let started = self.started.lock().expect("not poisoned");
        Ok(if started.iter().any(|(_, name, _)| name == execution) {
            Run::Running
        } else {
            Run::Missing
        })
    }
}

/// An in-memory [`SyncRequests`] for handler tests: records each request.
#[derive(Debug, Default)]
pub struct MemorySyncRequests {
    requested: Mutex<Vec<SyncRequest>>,
}

impl MemorySyncRequests {
    pub fn requested(&self) -> Vec<SyncRequest> {
        self.requested.lock().expect("not poisoned").clone()
    }
}

impl SyncRequests for MemorySyncRequests {
    async fn request(&self, request: &SyncRequest) -> Result<(), FlowError> {
        self.requested
            .lock()
            .expect("not poisoned")
            .push(request.clone());
        Ok(())
    }
}
