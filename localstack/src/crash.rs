//! A Lambda that dies after its side effect and before it answers (the process killed, out
//! of memory, the sandbox timing out): the router lets the invocation run to its end, then
//! throws the answer away and reports what AWS Lambda reports then, in turn: a runtime that
//! exited (`Runtime.ExitError`), a function out of time (`Sandbox.Timedout`), and a failure
//! Lambda names no cause for (Step Functions' `Lambda.Unknown`), each as an `Unhandled`
//! function error.
//!
//! Switched on for every function, each distinct invocation (function and payload) dies
//! once: its retry, sent with the same payload, gets through. So one `up` or `down` meets
//! the crash at every step it takes.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The error types the lost answers carry, in turn.
pub const KINDS: [(&str, &str); 3] = [
    (
        "Runtime.ExitError",
        "Runtime exited with error: signal: killed",
    ),
    ("Sandbox.Timedout", "Task timed out after 120.00 seconds"),
    ("Lambda.Unknown", "the function failed without a cause"),
];

#[derive(Default)]
pub struct Crashes {
    on: AtomicBool,
    seen: Mutex<HashSet<u64>>,
    given: AtomicU32,
}

impl Crashes {
    /// From now on (or no longer), every distinct invocation dies once after its work.
    pub fn set(&self, on: bool) {
        self.on.store(on, Ordering::SeqCst);
    }

    /// Whether this invocation's answer is lost (the first of its kind while switched on):
    /// the answer to give instead.
    pub fn dies(&self, function: &str, payload: &[u8], request_id: &str) -> Option<String> {
        if !self.on.load(Ordering::SeqCst) {
            return None;
        }
        let mut hasher = DefaultHasher::new();
        (function, payload).hash(&mut hasher);
        let first = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hasher.finish());
        if !first {
            return None;
        }
        let (error_type, why) = KINDS[self.given.fetch_add(1, Ordering::SeqCst) as usize % 3];
        let answer = serde_json::json!({
            "errorType": error_type,
            "errorMessage": format!(
                "RequestId: {request_id} Error: {why} (injected by the local stack after the function's work was done)"
            ),
        });
        Some(answer.to_string())
    }

    /// How many invocations died so far.
    pub fn given(&self) -> u32 {
        self.given.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_distinct_invocation_dies_once_and_only_while_switched_on() {
        let crashes = Crashes::default();
        let dies = |function: &str, payload: &[u8]| crashes.dies(function, payload, "r");
        assert_eq!(dies("network", b"{}"), None);
        crashes.set(true);
        assert!(
            dies("network", b"{}")
                .unwrap()
                .contains("Runtime.ExitError")
        );
        assert_eq!(dies("network", b"{}"), None, "the retry gets through");
        assert!(dies("storage", b"{}").unwrap().contains("Sandbox.Timedout"));
        assert!(
            dies("network", b"{\"a\":1}")
                .unwrap()
                .contains("Lambda.Unknown")
        );
        crashes.set(false);
        assert_eq!(dies("network", b"{\"b\":1}"), None);
        assert_eq!(crashes.given(), 3);
    }
}
