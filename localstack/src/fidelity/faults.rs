//! The tests' faults and delays: answers the router gives instead of moto's, or rewrites of
//! moto's, for the next requests that match.

use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response};
use serde_json::json;

/// A fault the router answers instead of the emulator, for the reliability tests: the next
/// `times` requests that match get `status` with an error in the service's own protocol.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The operation: a query protocol's `Action=` (EC2, RDS), or `METHOD /path` for REST
    /// services (S3, EKS), the path without its query.
    pub operation: String,
    /// A string the request's path or body must contain (e.g. the environment's name), so
    /// a fault hits only the environment a test means.
    pub containing: String,
    pub times: u32,
    pub status: u16,
    pub code: String,
    protocol: Protocol,
}

#[derive(Debug, Clone, Copy)]
enum Protocol {
    Ec2,
    Query,
    RestJson,
    RestXml,
    /// awsJson (DynamoDB, EventBridge): the operation is the `X-Amz-Target` header.
    Json,
}

impl Fault {
    fn new(protocol: Protocol, operation: &str, containing: &str, status: u16, code: &str) -> Self {
        Self {
            operation: operation.to_owned(),
            containing: containing.to_owned(),
            times: 1,
            status,
            code: code.to_owned(),
            protocol,
        }
    }

    /// An EC2 error (`<Response><Errors><Error>…`) for `Action=<action>`.
    pub fn ec2(action: &str, containing: &str, status: u16, code: &str) -> Self {
        Self::new(Protocol::Ec2, action, containing, status, code)
    }

    /// An awsQuery error (`<ErrorResponse><Error>…`, RDS and the like) for `Action=<action>`.
    pub fn query(action: &str, containing: &str, status: u16, code: &str) -> Self {
        Self::new(Protocol::Query, action, containing, status, code)
    }

    /// A restJson error (EKS and the like) for `METHOD /path`.
    pub fn rest_json(operation: &str, containing: &str, status: u16, code: &str) -> Self {
        Self::new(Protocol::RestJson, operation, containing, status, code)
    }

    /// An awsJson error (`{"__type": …}`, DynamoDB, EventBridge) for the `X-Amz-Target`
    /// operation, e.g. `AWSEvents.PutEvents`.
    pub fn json(target: &str, containing: &str, status: u16, code: &str) -> Self {
        Self::new(Protocol::Json, target, containing, status, code)
    }

    /// An S3 error (`<Error><Code>…`) for `METHOD /path`.
    pub fn s3(operation: &str, containing: &str, status: u16, code: &str) -> Self {
        Self::new(Protocol::RestXml, operation, containing, status, code)
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    fn matches(&self, method: &Method, path: &str, target: Option<&str>, body: &str) -> bool {
        match self.protocol {
            Protocol::Json => {
                target == Some(self.operation.as_str()) && body.contains(&self.containing)
            }
            _ => request_matches(
                self.protocol,
                &self.operation,
                &self.containing,
                method,
                path,
                body,
            ),
        }
    }

    fn response(&self) -> Response<Full<Bytes>> {
        self.response_with(&format!("injected by the local stack: {}", self.code))
    }

    pub(crate) fn response_with(&self, message: &str) -> Response<Full<Bytes>> {
        let (content_type, body) = match self.protocol {
            Protocol::Ec2 => (
                "text/xml",
                format!(
                    "<Response><Errors><Error><Code>{}</Code><Message>{message}</Message></Error></Errors><RequestID>fault</RequestID></Response>",
                    self.code
                ),
            ),
            Protocol::Query => (
                "text/xml",
                format!(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>{}</Code><Message>{message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>",
                    self.code
                ),
            ),
            Protocol::RestXml => (
                "application/xml",
                format!(
                    "<Error><Code>{}</Code><Message>{message}</Message><RequestId>fault</RequestId></Error>",
                    self.code
                ),
            ),
            Protocol::RestJson => (
                "application/json",
                json!({ "message": message }).to_string(),
            ),
            Protocol::Json => (
                "application/x-amz-json-1.1",
                json!({ "__type": self.code, "message": message }).to_string(),
            ),
        };
        Response::builder()
            .status(self.status)
            .header("content-type", content_type)
            .header("x-amzn-ErrorType", &self.code)
            .header("x-amzn-RequestId", "fault")
            .body(Full::new(Bytes::from(body)))
            .expect("fault codes are header-safe")
    }
}

/// Whether a request is `operation` (see [`Fault::operation`]) and mentions `containing`.
fn request_matches(
    protocol: Protocol,
    operation: &str,
    containing: &str,
    method: &Method,
    path: &str,
    body: &str,
) -> bool {
    let is_operation = match protocol {
        Protocol::Ec2 | Protocol::Query => body
            .split('&')
            .any(|pair| pair == format!("Action={operation}")),
        // S3 addresses a bucket as `/bucket/` as well as `/bucket`.
        Protocol::RestJson | Protocol::RestXml | Protocol::Json => {
            let path = match path.trim_end_matches('/') {
                "" => "/",
                trimmed => trimmed,
            };
            format!("{method} {path}") == operation
        }
    };
    is_operation && (path.contains(containing) || body.contains(containing))
}

/// A delay: the next `times` answers to a matching request come back with `from` replaced
/// by `to` — an RDS instance still `creating`, a cluster still `CREATING` — although moto
/// made the resource at once. This is how the state machines' poll loops are tested end to
/// end.
#[derive(Debug, Clone)]
pub struct Delay {
    protocol: Protocol,
    operation: String,
    containing: String,
    from: String,
    to: String,
    pub times: u32,
}

impl Delay {
    /// For an awsQuery call (RDS and the like): `Action=<action>`.
    pub fn query(action: &str, containing: &str, from: &str, to: &str) -> Self {
        Self::new(Protocol::Query, action, containing, from, to)
    }

    /// For a restJson call (EKS and the like): `METHOD /path`.
    pub fn rest_json(operation: &str, containing: &str, from: &str, to: &str) -> Self {
        Self::new(Protocol::RestJson, operation, containing, from, to)
    }

    fn new(protocol: Protocol, operation: &str, containing: &str, from: &str, to: &str) -> Self {
        Self {
            protocol,
            operation: operation.to_owned(),
            containing: containing.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            times: 1,
        }
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }
}

/// The delays not yet used up.
#[derive(Default)]
pub struct Delays(Mutex<Vec<Delay>>);

impl Delays {
    pub fn add(&self, delay: Delay) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(delay);
    }

    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The rewrite (from, to) for this request's answer, if a delay matches (using it once).
    pub fn take(&self, method: &Method, path: &str, body: &[u8]) -> Option<(String, String)> {
        let mut delays = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let body = String::from_utf8_lossy(body);
        let i = delays.iter().position(|d| {
            request_matches(d.protocol, &d.operation, &d.containing, method, path, &body)
        })?;
        let rewrite = (delays[i].from.clone(), delays[i].to.clone());
        delays[i].times -= 1;
        if delays[i].times == 0 {
            delays.remove(i);
        }
        Some(rewrite)
    }

    pub fn pending(&self) -> u32 {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|d| d.times)
            .sum()
    }
}

/// The faults waiting to be answered, first match first.
#[derive(Default)]
pub struct Faults(Mutex<Vec<Fault>>);

impl Faults {
    pub fn inject(&self, fault: Fault) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(fault);
    }

    /// The injected answer for this request, if a fault matches (and is used up by it).
    pub fn take(
        &self,
        method: &Method,
        path: &str,
        target: Option<&str>,
        body: &[u8],
    ) -> Option<Response<Full<Bytes>>> {
        let mut faults = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let body = String::from_utf8_lossy(body);
        let i = faults
            .iter()
            .position(|f| f.matches(method, path, target, &body))?;
        let response = faults[i].response();
        faults[i].times -= 1;
        if faults[i].times == 0 {
            faults.remove(i);
        }
        Some(response)
    }

    /// How many injected answers are still waiting to be given.
    pub fn pending(&self) -> u32 {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|f| f.times)
            .sum()
    }
}

#[cfg(test)]
mod fault_tests {
    use super::*;

    #[test]
    fn a_fault_hits_only_its_operation_and_environment_and_only_as_often_as_asked() {
        let faults = Faults::default();
        faults.inject(Fault::ec2("CreateVpc", "f-network", 400, "InvalidParameterValue").times(2));
        faults.inject(Fault::s3(
            "PUT /strata-f-storage-assets",
            "",
            503,
            "SlowDown",
        ));
        let vpc = b"Action=CreateVpc&TagSpecification.1.Tag.1.Value=f-network";
        assert!(
            faults
                .take(&Method::POST, "/", None, b"Action=CreateVpc&x=other")
                .is_none()
        );
        assert!(
            faults
                .take(
                    &Method::POST,
                    "/",
                    None,
                    b"Action=CreateVpcEndpoint&f-network"
                )
                .is_none()
        );
        let hit = faults.take(&Method::POST, "/", None, vpc).unwrap();
        assert_eq!(hit.status(), 400);
        assert!(faults.take(&Method::POST, "/", None, vpc).is_some());
        assert!(
            faults.take(&Method::POST, "/", None, vpc).is_none(),
            "used up"
        );
        assert!(
            faults
                .take(&Method::PUT, "/strata-f-storage-assets/key", None, b"")
                .is_none()
        );
        assert_eq!(faults.pending(), 1);
        let slow = faults
            .take(&Method::PUT, "/strata-f-storage-assets", None, b"")
            .unwrap();
        assert_eq!(slow.status(), 503);
        assert_eq!(faults.pending(), 0);
        faults.inject(Fault::json(
            "AWSEvents.PutEvents",
            "Ready",
            400,
            "AccessDeniedException",
        ));
        let put = Some("AWSEvents.PutEvents");
        assert!(
            faults
                .take(&Method::POST, "/", put, b"Progressing")
                .is_none()
        );
        assert!(
            faults
                .take(&Method::POST, "/", Some("X.Other"), b"Ready")
                .is_none()
        );
        let denied = faults.take(&Method::POST, "/", put, b"Ready").unwrap();
        assert_eq!(
            denied.headers()["x-amzn-ErrorType"],
            "AccessDeniedException"
        );
    }
}
