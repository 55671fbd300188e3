//! What the API's tests share: API Gateway events, the handler over in-memory parts, and
//! its answers read back. It stays with these tests rather than in strata-testkit: it
//! builds and drives strata-api, a Lambda crate, which no library (the test kit is one) may
//! depend on. The example specs come from the test kit.

#![allow(dead_code)] // each test binary uses its own part

use lambda_http::Body;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};
use strata_api::{Api, Operations};
use strata_control::{MemoryFlows, MemorySyncRequests};
use strata_store::MemoryStore;

/// The platform admin (`strata:admin=true`): every test acts as her unless it says.
pub const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
/// Of team shop (`strata:team=shop`), the staging example's team.
pub const BOB: &str = "arn:aws:iam::123456789012:user/teams/bob";
/// Of team payments, through an assumed role.
pub const CAROL: &str = "arn:aws:sts::123456789012:assumed-role/payments-dev/carol";
pub const NOW: u64 = 1_795_000_000;

pub use strata_testkit::examples::staging_text;

/// An API Gateway HTTP API event as Lambda receives it (IAM authorizer, `$default` stage),
/// from [`ALICE`].
pub fn event(method: &str, target: &str, content_type: Option<&str>, body: Option<&[u8]>) -> Value {
    event_as(ALICE, method, target, content_type, body)
}

/// [`event`] from the principal `arn`.
pub fn event_as(
    arn: &str,
    method: &str,
    target: &str,
    content_type: Option<&str>,
    body: Option<&[u8]>,
) -> Value {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = json!({"host": "abc123.execute-api.eu-west-1.amazonaws.com"});
    if let Some(ct) = content_type {
        headers["content-type"] = json!(ct);
    }
    // API Gateway base64-encodes bodies that are not text.
    let (body, encoded) = match body {
        None => (Value::Null, false),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => (json!(text), false),
            Err(_) => (json!(aws_smithy_types::base64::encode(bytes)), true),
        },
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "authorizer": {"iam": {
                "accessKey": "AKIAEXAMPLE",
                "accountId": "123456789012",
                "callerId": "AIDAEXAMPLE",
                "userArn": arn,
                "userId": "AIDAEXAMPLE"
            }},
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "strata-cli"
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "22/Nov/2026:13:00:00 +0000",
            "timeEpoch": 1_795_000_000_000u64
        },
        "body": body,
        "isBase64Encoded": encoded
    })
}

pub type TestApi = Api<MemoryStore, MemoryFlows, MemorySyncRequests>;

/// The IAM tags of [`ALICE`], [`BOB`] and [`CAROL`], as IAM would answer them.
pub struct TestTags;

impl strata_api::PrincipalTags for TestTags {
    fn tags<'a>(&'a self, entity: &'a strata_api::Entity) -> strata_api::TagsFuture<'a> {
        use strata_api::Entity;
        let tags: &[(&str, &str)] = match entity {
            Entity::User(name) if name == "alice" => &[("strata:admin", "true")],
            Entity::User(name) if name == "bob" => &[("strata:team", "shop")],
            Entity::Role(name) if name == "payments-dev" => &[("strata:team", "payments")],
            _ => &[],
        };
        let tags = tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Box::pin(async move { Ok(tags) })
    }
}

pub fn api() -> TestApi {
    Api::new(
        Operations::new(MemoryStore::default(), MemoryFlows::default()).with_poll_seconds(Some(1)),
        MemorySyncRequests::default(),
        strata_core::SecretSources {
            account: "123456789012".into(),
            name_prefix: "strata/".into(),
        },
    )
    .with_principals(TestTags)
}

pub struct Answer {
    pub status: StatusCode,
    pub allow: Option<String>,
    pub location: Option<String>,
    pub body: Value,
}

pub async fn call(api: &TestApi, event: Value, now: u64) -> Answer {
    let request = lambda_http::request::from_str(&event.to_string()).expect("a valid event");
    let response = api.handle(request, now).await;
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &lambda_http::http::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let (allow, location) = (header("allow"), header("location"));
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/json"
    );
    // Every answer, refusals too, names the contract and the release that gave it.
    assert_eq!(
        header("strata-contract").as_deref(),
        Some(strata_api_types::contract::CONTRACT)
    );
    assert!(header("strata-version").is_some());
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).expect("the body is JSON"),
        other => panic!("not a text body: {other:?}"),
    };
    Answer {
        status: response.status(),
        allow,
        location,
        body,
    }
}

/// `GET target`, from [`ALICE`].
pub async fn get(api: &TestApi, target: &str, now: u64) -> Answer {
    call(api, event("GET", target, None, None), now).await
}

/// `DELETE target`, from [`ALICE`].
pub async fn delete(api: &TestApi, target: &str, now: u64) -> Answer {
    call(api, event("DELETE", target, None, None), now).await
}

pub async fn put(api: &TestApi, target: &str, spec: &str, now: u64) -> Answer {
    call(
        api,
        event(
            "PUT",
            target,
            Some("application/yaml"),
            Some(spec.as_bytes()),
        ),
        now,
    )
    .await
}

/// `POST /environments/{name}/plan` of a YAML spec.
pub async fn plan(api: &TestApi, name: &str, spec: &str, now: u64) -> Answer {
    call(
        api,
        event(
            "POST",
            &format!("/environments/{name}/plan"),
            Some("application/yaml"),
            Some(spec.as_bytes()),
        ),
        now,
    )
    .await
}

pub fn error_paths(body: &Value) -> Vec<String> {
    body["error"]["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .map(|f| f["path"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The components of `spec` recorded Ready at what they converged to, as the runner does.
pub async fn converged(api: &TestApi, spec: &str) {
    use strata_store::prelude::*;
    let env = strata_core::Environment::parse(spec).unwrap();
    for component in strata_core::Component::BUILT_IN {
        let mut status =
            strata_core::ComponentStatus::new(strata_core::status::ComponentPhase::Ready, 1, NOW);
        status.applied = Some(env.section(component));
        let previous = api
            .store()
            .get_component("staging", component)
            .await
            .unwrap();
        api.store()
            .put_component("staging", component, &status, previous.map(|p| p.version))
            .await
            .unwrap();
    }
}
