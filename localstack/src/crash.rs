//! A Lambda that dies after its side effect and before it answers (the process killed, out
//! of memory, the sandbox timing out): the router lets the invocation run to its end, then
//! throws the answer away and reports what AWS Lambda reports for a runtime that exited.
//! Step Functions sees an `Unhandled` function error named `Runtime.ExitError`.
//!
//! Switched on for every function, each distinct invocation (function and payload) dies
//! once: its retry, sent with the same payload, gets through. So one `up` or `down` meets
//! the crash at every step it takes.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The error type AWS Lambda reports when the runtime process exits mid-invocation.
pub const EXIT_ERROR: &str = "Runtime.ExitError";

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

    /// Whether this invocation's answer is lost (the first of its kind while switched on).
    pub fn dies(&self, function: &str, payload: &[u8]) -> bool {
        if !self.on.load(Ordering::SeqCst) {
            return false;
        }
        let mut hasher = DefaultHasher::new();
        (function, payload).hash(&mut hasher);
        let first = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hasher.finish());
        if first {
            self.given.fetch_add(1, Ordering::SeqCst);
        }
        first
    }

    /// How many invocations died so far.
    pub fn given(&self) -> u32 {
        self.given.load(Ordering::SeqCst)
    }

    /// The payload Lambda answers for an invocation whose runtime exited.
    pub fn answer(request_id: &str) -> serde_json::Value {
        serde_json::json!({
            "errorType": EXIT_ERROR,
            "errorMessage": format!(
                "RequestId: {request_id} Error: Runtime exited with error: signal: killed (injected by the local stack after the function's work was done)"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_distinct_invocation_dies_once_and_only_while_switched_on() {
        let crashes = Crashes::default();
        assert!(!crashes.dies("network", b"{}"));
        crashes.set(true);
        assert!(crashes.dies("network", b"{}"));
        assert!(!crashes.dies("network", b"{}"), "the retry gets through");
        assert!(crashes.dies("storage", b"{}"));
        assert!(crashes.dies("network", b"{\"a\":1}"));
        crashes.set(false);
        assert!(!crashes.dies("network", b"{\"b\":1}"));
        assert_eq!(crashes.given(), 3);
    }
}
