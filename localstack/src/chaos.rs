//! The fault matrix's side of the router: every call a function makes is recorded by its IAM
//! action (the call sites a clean run reaches), and a chaos injected for an action answers
//! its next call with a fault as AWS would show it: throttling, a 5xx, a connection dropped
//! before the request got through (a timeout), or one dropped after the emulator carried it
//! out (the response lost).

use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::iam::{self, Protocol};

/// One way a call goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChaosKind {
    /// The service's throttling error (retryable).
    Throttle,
    /// 500 InternalFailure.
    ServerError,
    /// The connection closes before the request reaches the service.
    Timeout,
    /// The service carries the request out; the connection closes before the answer.
    LostResponse,
}

impl ChaosKind {
    pub const ALL: [ChaosKind; 4] = [
        ChaosKind::Throttle,
        ChaosKind::ServerError,
        ChaosKind::Timeout,
        ChaosKind::LostResponse,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ChaosKind::Throttle => "throttle",
            ChaosKind::ServerError => "5xx",
            ChaosKind::Timeout => "timeout",
            ChaosKind::LostResponse => "lost response",
        }
    }
}

/// A chaos waiting for a call of `action` (e.g. `ec2:CreateVpc`) by `caller` (a function
/// binary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chaos {
    pub caller: String,
    pub action: String,
    pub kind: ChaosKind,
}

/// What the router does with a call a chaos matched.
pub enum Verdict {
    /// Answer this instead.
    Answer(Response<Full<Bytes>>),
    /// Close the connection without an answer.
    Drop,
    /// Carry it out, then close the connection.
    DropAfter,
}

/// A call a function made: the binary and the IAM action.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    pub caller: String,
    pub action: String,
}

#[derive(Default)]
pub struct ChaosLayer {
    calls: Mutex<Vec<Call>>,
    waiting: Mutex<Vec<Chaos>>,
    hit: Mutex<Vec<Chaos>>,
}

impl ChaosLayer {
    /// Records the call and answers the first chaos waiting for it, if any.
    pub fn on_call(
        &self,
        caller: &str,
        parts: &hyper::http::request::Parts,
        body: &[u8],
    ) -> Option<Verdict> {
        let (action, protocol) = iam::action(parts, body).ok()?;
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Call {
                caller: caller.to_owned(),
                action: action.clone(),
            });
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let i = waiting
            .iter()
            .position(|c| c.caller == caller && c.action == action)?;
        let chaos = waiting.remove(i);
        let verdict = match chaos.kind {
            ChaosKind::Throttle => Verdict::Answer(throttled(protocol)),
            ChaosKind::ServerError => Verdict::Answer(iam::error(
                protocol,
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "injected by the local stack's fault matrix",
            )),
            ChaosKind::Timeout => Verdict::Drop,
            ChaosKind::LostResponse => Verdict::DropAfter,
        };
        self.hit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(chaos);
        Some(verdict)
    }

    pub fn inject(&self, chaos: Chaos) {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(chaos);
    }

    /// The calls recorded since the last take, in order.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The chaos that met its call since the last take; the ones still waiting are dropped.
    pub fn take_hit(&self) -> Vec<Chaos> {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        std::mem::take(&mut *self.hit.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The service's own throttling answer.
fn throttled(protocol: Protocol) -> Response<Full<Bytes>> {
    let message = "Rate exceeded (injected by the local stack's fault matrix)";
    match protocol {
        Protocol::Ec2 => iam::error(
            protocol,
            StatusCode::SERVICE_UNAVAILABLE,
            "RequestLimitExceeded",
            message,
        ),
        Protocol::S3 => iam::error(
            protocol,
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            message,
        ),
        Protocol::Json => iam::error(
            protocol,
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            message,
        ),
        Protocol::QueryXml => iam::error(protocol, StatusCode::BAD_REQUEST, "Throttling", message),
    }
}
