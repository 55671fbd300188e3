//! Stopped executions stay stopped. On AWS, an execution is `ABORTED` from the moment
//! StopExecution answers, and whatever its in-flight task does afterwards is ignored. moto's
//! interpreter only marks the stop and lets the in-flight task finish: a task that then fails
//! (a fenced step does) overwrites the stop, and the execution ends `FAILED`. The router
//! remembers what it stopped and describes those executions as AWS would.

use std::collections::HashSet;
use std::sync::Mutex;

use bytes::Bytes;
use serde_json::Value;

/// The `executionArn` of a StopExecution or DescribeExecution body.
pub fn execution_arn(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("executionArn")?.as_str().map(str::to_owned)
}

/// The executions StopExecution has stopped, by ARN.
#[derive(Default)]
pub struct Stopped(Mutex<HashSet<String>>);

impl Stopped {
    pub fn record(&self, arn: String) {
        self.0.lock().expect("stopped executions").insert(arn);
    }

    pub fn contains(&self, arn: &str) -> bool {
        self.0.lock().expect("stopped executions").contains(arn)
    }
}

/// A DescribeExecution answer for a stopped execution: `ABORTED`, without the error, cause
/// or output a task finishing after the stop left. `None` when the body is not one.
pub fn as_aborted(body: &[u8]) -> Option<Bytes> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let described = value.as_object_mut()?;
    described.get("status")?;
    described.insert("status".into(), Value::from("ABORTED"));
    for key in ["error", "cause", "output", "outputDetails"] {
        described.remove(key);
    }
    serde_json::to_vec(&value).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_execution_that_failed_afterwards_is_described_aborted() {
        let failed = br#"{"executionArn":"arn:x","status":"FAILED","error":"Fenced","cause":"lost its claim","startDate":1.0}"#;
        let aborted: Value = serde_json::from_slice(&as_aborted(failed).unwrap()).unwrap();
        assert_eq!(aborted["status"], "ABORTED");
        assert_eq!(aborted["executionArn"], "arn:x");
        assert!(aborted.get("error").is_none() && aborted.get("cause").is_none());
        assert_eq!(aborted["startDate"], 1.0);
    }

    #[test]
    fn an_error_answer_is_left_alone() {
        assert_eq!(as_aborted(br#"{"__type":"ExecutionDoesNotExist"}"#), None);
        assert_eq!(
            execution_arn(br#"{"executionArn":"arn:y"}"#).as_deref(),
            Some("arn:y")
        );
    }
}
