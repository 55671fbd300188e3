//! The router's fidelity layer: AWS behaviour that moto lacks, served by the local stack so
//! the handlers run exactly as they would on AWS. Test infrastructure only.
//!
//! EKS access entries: moto 5.2.5 answers 404 to every `/clusters/{name}/access-entries…`
//! call. They are kept here, per region, cluster and principal, with the API's shapes and
//! errors (ResourceNotFoundException, ResourceInUseException), and forgotten when the
//! cluster is deleted. Not checked here: that the cluster exists (moto owns clusters).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

/// (region, cluster, principal).
type EntryKey = (String, String, String);
/// The entry as DescribeAccessEntry answers it, and its associated policies by ARN.
type Entry = (Value, BTreeMap<String, Value>);

#[derive(Default)]
pub struct AccessEntries {
    entries: Mutex<BTreeMap<EntryKey, Entry>>,
}

/// The region a SigV4-signed request is for (`Credential=AKID/date/<region>/eks/…`).
pub fn signed_region(authorization: Option<&str>) -> String {
    authorization
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or("us-east-1")
        .to_owned()
}

/// The Authorization header of the local stack's own calls to moto, which reads only the
/// credential scope (region and service) from it.
fn moto_authorization(service: &str, region: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={}/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0",
        crate::ACCESS_KEY
    )
}

/// `request` (its method and address set) as the local stack's own call to moto for
/// `service` in `region`, carrying `body`.
pub(crate) fn to_moto(
    request: hyper::http::request::Builder,
    service: &str,
    region: &str,
    body: impl Into<Bytes>,
) -> hyper::http::Result<Request<Full<Bytes>>> {
    request
        .header(
            hyper::header::AUTHORIZATION,
            moto_authorization(service, region),
        )
        .body(Full::new(body.into()))
}

/// A query-protocol call to moto at `moto`: `form` posted for `service` in `region`.
pub(crate) fn moto_query(
    moto: SocketAddr,
    service: &str,
    region: &str,
    form: String,
) -> Request<Full<Bytes>> {
    let post = Request::post(format!("http://{moto}/"))
        .header("content-type", "application/x-www-form-urlencoded");
    to_moto(post, service, region, form).expect("a static request is well-formed")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static headers are valid")
}

/// An EKS (restJson) error.
fn eks_error(status: StatusCode, error_type: &str, message: String) -> Response<Full<Bytes>> {
    let mut response = json_response(status, &json!({ "message": message }));
    response.headers_mut().insert(
        "x-amzn-ErrorType",
        error_type.parse().expect("error types are header-safe"),
    );
    response
}

enum Route {
    /// `/clusters/{c}/access-entries`
    Entries(String),
    /// `/clusters/{c}/access-entries/{principal}`
    Entry(String, String),
    /// `/clusters/{c}/access-entries/{principal}/access-policies`
    Policies(String, String),
    /// `/clusters/{c}` (moto's; a DELETE here forgets the cluster's entries)
    Cluster(String),
}

fn parse(path: &str) -> Option<Route> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|d| d.into_owned())
    };
    let rest = path.strip_prefix("/clusters/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [cluster] => Some(Route::Cluster(decode(cluster)?)),
        [cluster, "access-entries"] => Some(Route::Entries(decode(cluster)?)),
        [cluster, "access-entries", principal] => {
            Some(Route::Entry(decode(cluster)?, decode(principal)?))
        }
        [cluster, "access-entries", principal, "access-policies"] => {
            Some(Route::Policies(decode(cluster)?, decode(principal)?))
        }
        _ => None,
    }
}

impl AccessEntries {
    /// Serves the request if it is an access-entry call; `None` sends it on to moto.
    pub fn handle(
        &self,
        method: &Method,
        path: &str,
        region: &str,
        body: &[u8],
    ) -> Option<Response<Full<Bytes>>> {
        let route = parse(path)?;
        let input: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let key = |cluster: &str, principal: &str| {
            (region.to_owned(), cluster.to_owned(), principal.to_owned())
        };
        let missing = |cluster: &str, principal: &str| {
            eks_error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                format!(
                    "The specified access entry resource {principal} in cluster {cluster} could not be found."
                ),
            )
        };
        Some(match (method, route) {
            (&Method::DELETE, Route::Cluster(cluster)) => {
                entries.retain(|(r, c, _), _| !(r == region && *c == cluster));
                return None; // moto deletes the cluster itself
            }
            (_, Route::Cluster(_)) => return None,
            (&Method::POST, Route::Entries(cluster)) => {
                let Some(principal) = input["principalArn"].as_str() else {
                    return Some(eks_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidParameterException",
                        "principalArn is required".into(),
                    ));
                };
                let k = key(&cluster, principal);
                if entries.contains_key(&k) {
                    return Some(eks_error(
                        StatusCode::CONFLICT,
                        "ResourceInUseException",
                        format!(
                            "The specified access entry resource is already in use on this cluster: {principal}"
                        ),
                    ));
                }
                let at = now();
                let entry = json!({
                    "clusterName": cluster,
                    "principalArn": principal,
                    "accessEntryArn": format!("arn:aws:eks:{region}:123456789012:access-entry/{cluster}/role/{}", principal.rsplit('/').next().unwrap_or_default()),
                    "kubernetesGroups": input.get("kubernetesGroups").cloned().unwrap_or(json!([])),
                    "tags": input.get("tags").cloned().unwrap_or(json!({})),
                    "type": input.get("type").cloned().unwrap_or(json!("STANDARD")),
                    "username": principal,
                    "createdAt": at,
                    "modifiedAt": at,
                });
                entries.insert(k, (entry.clone(), BTreeMap::new()));
                json_response(StatusCode::OK, &json!({ "accessEntry": entry }))
            }
            (&Method::GET, Route::Entries(cluster)) => {
                let arns: Vec<&String> = entries
                    .keys()
                    .filter(|(r, c, _)| r == region && *c == cluster)
                    .map(|(_, _, p)| p)
                    .collect();
                json_response(StatusCode::OK, &json!({ "accessEntries": arns }))
            }
            (&Method::GET, Route::Entry(cluster, principal)) => {
                match entries.get(&key(&cluster, &principal)) {
                    Some((entry, _)) => {
                        json_response(StatusCode::OK, &json!({ "accessEntry": entry }))
                    }
                    None => missing(&cluster, &principal),
                }
            }
            (&Method::DELETE, Route::Entry(cluster, principal)) => {
                match entries.remove(&key(&cluster, &principal)) {
                    Some(_) => json_response(StatusCode::OK, &json!({})),
                    None => missing(&cluster, &principal),
                }
            }
            (&Method::POST, Route::Policies(cluster, principal)) => {
                let Some((_, policies)) = entries.get_mut(&key(&cluster, &principal)) else {
                    return Some(missing(&cluster, &principal));
                };
                let policy = input["policyArn"].as_str().unwrap_or_default().to_owned();
                let at = now();
                let associated = json!({
                    "policyArn": policy,
                    "accessScope": input.get("accessScope").cloned().unwrap_or(json!({"type": "cluster"})),
                    "associatedAt": at,
                    "modifiedAt": at,
                });
                policies.insert(policy, associated.clone());
                json_response(
                    StatusCode::OK,
                    &json!({
                        "clusterName": cluster,
                        "principalArn": principal,
                        "associatedAccessPolicy": associated,
                    }),
                )
            }
            (&Method::GET, Route::Policies(cluster, principal)) => {
                let Some((_, policies)) = entries.get(&key(&cluster, &principal)) else {
                    return Some(missing(&cluster, &principal));
                };
                json_response(
                    StatusCode::OK,
                    &json!({
                        "clusterName": cluster,
                        "principalArn": principal,
                        "associatedAccessPolicies": policies.values().collect::<Vec<_>>(),
                    }),
                )
            }
            _ => eks_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "InvalidRequestException",
                format!("{method} is not served for {path}"),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/strata-kubernetes";

    fn status(r: &Option<Response<Full<Bytes>>>) -> Option<u16> {
        r.as_ref().map(|r| r.status().as_u16())
    }

    #[test]
    fn entries_are_created_once_described_associated_and_gone_with_their_cluster() {
        let entries = AccessEntries::default();
        let path = format!(
            "/clusters/strata-staging/access-entries/{}",
            percent_encoding::utf8_percent_encode(ROLE, percent_encoding::NON_ALPHANUMERIC)
        );
        let create = format!(r#"{{"principalArn":"{ROLE}"}}"#);
        let get = |region| entries.handle(&Method::GET, &path, region, b"");
        assert_eq!(status(&get("eu-west-1")), Some(404));
        let post = |body: &str| {
            entries.handle(
                &Method::POST,
                "/clusters/strata-staging/access-entries",
                "eu-west-1",
                body.as_bytes(),
            )
        };
        assert_eq!(status(&post(&create)), Some(200));
        assert_eq!(
            status(&post(&create)),
            Some(409),
            "a second create is refused"
        );
        assert_eq!(status(&get("eu-west-1")), Some(200));
        assert_eq!(status(&get("us-east-1")), Some(404), "entries are regional");
        let policies = format!("{path}/access-policies");
        let associate = entries.handle(
            &Method::POST,
            &policies,
            "eu-west-1",
            br#"{"policyArn":"arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy","accessScope":{"type":"cluster"}}"#,
        );
        assert_eq!(status(&associate), Some(200));
        // The cluster's own calls go on to moto; its delete forgets the entries.
        assert!(
            entries
                .handle(&Method::GET, "/clusters/strata-staging", "eu-west-1", b"")
                .is_none()
        );
        assert!(
            entries
                .handle(
                    &Method::DELETE,
                    "/clusters/strata-staging",
                    "eu-west-1",
                    b""
                )
                .is_none()
        );
        assert_eq!(status(&get("eu-west-1")), Some(404));
        assert!(
            entries
                .handle(&Method::GET, "/clusters", "eu-west-1", b"")
                .is_none()
        );
    }

    #[test]
    fn the_signed_region_is_read_from_the_credential_scope() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20261122/eu-west-1/eks/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(signed_region(Some(auth)), "eu-west-1");
        assert_eq!(signed_region(None), "us-east-1");
    }
}

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

/// EC2's DeleteVpc and DeleteSubnet as AWS enforces them. moto refuses DeleteVpc only for
/// subnets, non-main route tables and VPN gateways, and DeleteSubnet for nothing; AWS
/// refuses both with `DependencyViolation` while an internet gateway, a security group, a
/// network interface, a NAT gateway or a load balancer still uses them. The router asks moto
/// for those dependents (with [`DependencyCheck::queries`]) and refuses the delete if any
/// remain, so a teardown order that works here works on AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencyCheck {
    Vpc(String),
    Subnet(String),
}

/// One Describe call the check needs: the service (for the signature scope), the form body,
/// and the element whose presence in the answer marks a dependent.
pub struct Query {
    pub service: &'static str,
    pub form: String,
    pub dependent: &'static str,
    /// What to say when it is found.
    pub what: &'static str,
}

fn form_value<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

/// An RDS DeleteDBInstance that keeps the instance's automated backups, rewritten to drop
/// them. AWS keeps them as retained automated backups, apart from snapshots; moto keeps them
/// as `rds:<instance>-<minute>` snapshots, and a new instance of the same name within the
/// same minute (a recreate restoring its final snapshot) then fails with
/// DBSnapshotAlreadyExists. What the handler asks for is checked by its own tests.
pub fn drop_kept_automated_backups(body: &[u8]) -> Option<Bytes> {
    let text = std::str::from_utf8(body).ok()?;
    let keeps = form_value(text, "Action")? == "DeleteDBInstance"
        && form_value(text, "DeleteAutomatedBackups") == Some("false");
    keeps.then(|| {
        Bytes::from(text.replace(
            "DeleteAutomatedBackups=false",
            "DeleteAutomatedBackups=true",
        ))
    })
}

/// The NAT gateway an EC2 DeleteNatGateway request names.
pub fn deleted_nat_gateway(body: &[u8]) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    (form_value(body, "Action")? == "DeleteNatGateway")
        .then(|| form_value(body, "NatGatewayId").map(str::to_owned))
        .flatten()
}

/// The idempotency token of an EC2 CreateNatGateway request. AWS answers a repeated token
/// with the NAT gateway it made the first time; moto ignores it and makes another.
pub fn nat_gateway_token(body: &[u8]) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    (form_value(body, "Action")? == "CreateNatGateway")
        .then(|| form_value(body, "ClientToken").map(str::to_owned))
        .flatten()
}

/// The text of the first `<name>…</name>` in an XML answer.
pub fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_owned())
}

impl DependencyCheck {
    /// The check an EC2 request calls for, if it is a DeleteVpc or DeleteSubnet.
    pub fn of(body: &[u8]) -> Option<Self> {
        let body = std::str::from_utf8(body).ok()?;
        match form_value(body, "Action")? {
            "DeleteVpc" => Some(Self::Vpc(form_value(body, "VpcId")?.to_owned())),
            "DeleteSubnet" => Some(Self::Subnet(form_value(body, "SubnetId")?.to_owned())),
            _ => None,
        }
    }

    pub fn queries(&self) -> Vec<Query> {
        let ec2 = |action: &str, filters: &[(&str, &str)]| {
            let mut form = format!("Action={action}&Version=2016-11-15");
            for (i, (name, value)) in filters.iter().enumerate() {
                let n = i + 1;
                form.push_str(&format!(
                    "&Filter.{n}.Name={name}&Filter.{n}.Value.1={value}"
                ));
            }
            form
        };
        let elb = "Action=DescribeLoadBalancers&Version=2015-12-01".to_owned();
        match self {
            Self::Vpc(vpc) => vec![
                Query {
                    service: "ec2",
                    form: ec2("DescribeInternetGateways", &[("attachment.vpc-id", vpc)]),
                    dependent: "<internetGatewayId>",
                    what: "an attached internet gateway",
                },
                Query {
                    service: "ec2",
                    form: ec2("DescribeNetworkInterfaces", &[("vpc-id", vpc)]),
                    dependent: "<networkInterfaceId>",
                    what: "a network interface",
                },
                Query {
                    service: "ec2",
                    form: ec2("DescribeSecurityGroups", &[("vpc-id", vpc)]),
                    // The default group goes with the VPC; any other one is a dependent.
                    dependent: "<groupName>",
                    what: "a security group other than the default",
                },
                Query {
                    service: "elasticloadbalancing",
                    form: elb,
                    dependent: "",
                    what: "a load balancer",
                },
            ],
            Self::Subnet(subnet) => vec![
                Query {
                    service: "ec2",
                    form: ec2(
                        "DescribeNatGateways",
                        &[("subnet-id", subnet), ("state", "available")],
                    ),
                    dependent: "<natGatewayId>",
                    what: "a NAT gateway",
                },
                Query {
                    service: "ec2",
                    form: ec2(
                        "DescribeNatGateways",
                        &[("subnet-id", subnet), ("state", "pending")],
                    ),
                    dependent: "<natGatewayId>",
                    what: "a NAT gateway",
                },
                Query {
                    service: "ec2",
                    form: ec2("DescribeNetworkInterfaces", &[("subnet-id", subnet)]),
                    dependent: "<networkInterfaceId>",
                    what: "a network interface",
                },
                Query {
                    service: "elasticloadbalancing",
                    form: elb,
                    dependent: "",
                    what: "a load balancer",
                },
            ],
        }
    }

    /// Whether `answer` (to `query`) names a dependent of this VPC or subnet.
    pub fn found(&self, query: &Query, answer: &str) -> bool {
        match (self, query.service) {
            (Self::Vpc(vpc), "elasticloadbalancing") => {
                answer.contains(&format!("<VpcId>{vpc}</VpcId>"))
            }
            (Self::Subnet(subnet), "elasticloadbalancing") => {
                answer.contains(&format!("<SubnetId>{subnet}</SubnetId>"))
            }
            (_, _) if query.dependent == "<groupName>" => answer
                .match_indices("<groupName>")
                .any(|(i, _)| !answer[i..].starts_with("<groupName>default</groupName>")),
            _ => answer.contains(query.dependent),
        }
    }

    /// EC2's refusal, naming the first dependent found.
    pub fn refusal(&self, what: &str) -> Response<Full<Bytes>> {
        let message = match self {
            Self::Vpc(vpc) => format!(
                "The vpc '{vpc}' has dependencies and cannot be deleted ({what} remains; enforced by the local stack as on AWS)."
            ),
            Self::Subnet(subnet) => format!(
                "The subnet '{subnet}' has dependencies and cannot be deleted ({what} remains; enforced by the local stack as on AWS)."
            ),
        };
        Fault::ec2("", "", 400, "DependencyViolation").response_with(&message)
    }
}

#[cfg(test)]
mod dependency_tests {
    use super::*;

    #[test]
    fn deletes_of_vpcs_and_subnets_are_checked_and_the_default_group_is_no_dependent() {
        let vpc = DependencyCheck::of(b"Action=DeleteVpc&Version=2016-11-15&VpcId=vpc-1").unwrap();
        assert_eq!(vpc, DependencyCheck::Vpc("vpc-1".into()));
        assert_eq!(
            DependencyCheck::of(b"Action=DeleteSubnet&SubnetId=subnet-2"),
            Some(DependencyCheck::Subnet("subnet-2".into()))
        );
        assert!(DependencyCheck::of(b"Action=DeleteVpcEndpoints&VpcId=vpc-1").is_none());
        let queries = vpc.queries();
        let groups = queries
            .iter()
            .find(|q| q.dependent == "<groupName>")
            .unwrap();
        assert!(!vpc.found(groups, "<item><groupName>default</groupName></item>"));
        assert!(vpc.found(
            groups,
            "<item><groupName>default</groupName></item><item><groupName>k8s-elb</groupName></item>"
        ));
        let lbs = queries
            .iter()
            .find(|q| q.service == "elasticloadbalancing")
            .unwrap();
        assert!(vpc.found(lbs, "<member><VpcId>vpc-1</VpcId></member>"));
        assert!(!vpc.found(lbs, "<member><VpcId>vpc-10</VpcId></member>"));
        assert_eq!(vpc.refusal("a load balancer").status(), 400);
    }
}
