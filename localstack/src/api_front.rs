//! The API's front door on a local stack that keeps running (`strata local start`): the
//! part API Gateway plays on AWS. It forwards every request to the api function's URL
//! (cargo-lambda) unchanged, and before an apply (`PUT …/environments/{name}` with a valid
//! spec) stands in for what the spec reads from outside Strata — its images, secrets and
//! DNS zone — as a CI pipeline and a person would have made them on AWS. A spec that does
//! not parse is forwarded as it is: the API refuses it with its own field errors.
//!
//! A body that is not UTF-8 is what API Gateway hands on base64-encoded (`isBase64Encoded`);
//! cargo-lambda's function URL cannot (it answers 500 itself for a text content type), so
//! the front door sends that request to the function as the payload v2 event API Gateway
//! would make, through the Invoke API. So it does for a request a known principal signed
//! ([`crate::principals`]): the event carries the principal's ARN where API Gateway's IAM
//! authorizer puts it; a bad signature or an unknown key is refused (403) as API Gateway
//! refuses it, before the function runs.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::principals::{Principals, Signer};
use crate::stand_in::StandIn;

use crate::router::{HttpClient, invocation, plain};

pub(crate) struct ApiFront {
    pub stand_in: Arc<StandIn>,
    pub principals: Arc<Principals>,
    /// cargo-lambda's address, which serves the function URLs.
    pub lambda: SocketAddr,
    pub client: HttpClient,
}

/// Whether the request applies a spec: `PUT /lambda-url/<api>/environments/<name>`.
fn applies(method: &hyper::Method, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    method == hyper::Method::PUT
        && matches!(segments.as_slice(), ["lambda-url", _, "environments", name] if !name.is_empty())
}

impl ApiFront {
    pub(crate) fn new(
        stand_in: Arc<StandIn>,
        principals: Arc<Principals>,
        lambda: SocketAddr,
    ) -> Self {
        Self {
            stand_in,
            principals,
            lambda,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Serves until the task is aborted.
    pub(crate) async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let front = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let front = front.clone();
                    async move { Ok::<_, std::convert::Infallible>(front.answer(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return plain(StatusCode::BAD_REQUEST, format!("unreadable body: {e}")),
        };
        let caller = match self.principals.signer(&parts, &body) {
            Signer::Local => None,
            Signer::Principal(arn) => Some(arn),
            Signer::Refused(message) => {
                let body = serde_json::json!({ "message": message }).to_string();
                let mut refused = plain(StatusCode::FORBIDDEN, body);
                refused.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("application/json"),
                );
                return refused;
            }
        };
        // Standing in is the local user's convenience: a principal's request may yet be
        // refused, and a refusal makes nothing (a test stands in for what a team's CI made).
        if caller.is_none()
            && applies(&parts.method, parts.uri.path())
            && let Ok(text) = std::str::from_utf8(&body)
            && let Ok(env) = strata_core::Environment::parse(text)
        {
            match self.stand_in.stand_in_for(&env).await {
                Ok(made) => {
                    for what in made {
                        tracing::info!("stand-in: {what} (on AWS it exists before Strata runs)");
                    }
                }
                Err(e) => tracing::warn!("no stand-in for {}: {e}", env.name()),
            }
        }
        if caller.is_some() || std::str::from_utf8(&body).is_err() {
            return self.invoke_event(&parts, &body, caller.as_deref()).await;
        }
        crate::router::forward(&self.client, self.lambda, parts, body).await
    }
}

impl ApiFront {
    /// The request as API Gateway's payload v2 event (a body that is not text base64-encoded,
    /// the caller's ARN where the IAM authorizer puts it), invoked on the function the path
    /// names; its answer (`statusCode`, `headers`, `body`) as HTTP.
    async fn invoke_event(
        &self,
        parts: &hyper::http::request::Parts,
        body: &[u8],
        caller: Option<&str>,
    ) -> Response<Full<Bytes>> {
        let path = parts.uri.path();
        let Some((function, route)) = path
            .strip_prefix("/lambda-url/")
            .and_then(|rest| rest.split_once('/').or(Some((rest, ""))))
        else {
            return plain(StatusCode::NOT_FOUND, format!("no function URL at {path}"));
        };
        let headers: serde_json::Map<String, serde_json::Value> = parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.into())))
            .collect();
        let raw_path = format!("/{route}");
        let (body, encoded) = match std::str::from_utf8(body) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => (aws_smithy_types::base64::encode(body), true),
        };
        // API Gateway's request id is unique per request (the sync names its run after it).
        let request_id = format!(
            "local-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let mut event = serde_json::json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": raw_path,
            "rawQueryString": parts.uri.query().unwrap_or(""),
            "headers": headers,
            "requestContext": {
                "http": {"method": parts.method.as_str(), "path": raw_path,
                         "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": ""},
                "requestId": request_id, "routeKey": "$default", "stage": "$default",
                "accountId": "123456789012", "apiId": "local", "domainName": "localhost",
                "domainPrefix": "localhost", "time": "", "timeEpoch": 0
            },
            "body": body,
            "isBase64Encoded": encoded,
        });
        if let Some(arn) = caller {
            let account = crate::template::ACCOUNT_ID;
            event["requestContext"]["authorizer"] = serde_json::json!({"iam": {
                "accountId": account, "userArn": arn, "callerId": "", "userId": "",
                "accessKey": "", "principalOrgId": null, "cognitoIdentity": null
            }});
        }
        let request = invocation(self.lambda, function, Bytes::from(event.to_string()));
        let answer = match self.client.request(request).await {
            Ok(response) => match response.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return plain(StatusCode::BAD_GATEWAY, e.to_string()),
            },
            Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("the api function: {e}")),
        };
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        let status = answer["statusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::BAD_GATEWAY);
        let text = answer["body"].as_str().unwrap_or_default().to_owned();
        let mut response = plain(status, text);
        for (k, v) in answer["headers"].as_object().into_iter().flatten() {
            if let (Ok(name), Some(value)) = (
                hyper::header::HeaderName::from_bytes(k.as_bytes()),
                v.as_str()
                    .and_then(|v| hyper::header::HeaderValue::from_str(v).ok()),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_put_of_one_environment_is_an_apply() {
        let put = hyper::Method::PUT;
        assert!(super::applies(&put, "/lambda-url/api/environments/staging"));
        assert!(!super::applies(
            &put,
            "/lambda-url/api/environments/staging/plan"
        ));
        assert!(!super::applies(&put, "/lambda-url/api/environments/"));
        assert!(!super::applies(
            &hyper::Method::GET,
            "/lambda-url/api/environments/staging"
        ));
    }
}
