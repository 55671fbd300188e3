//! The API client: every request signed with SigV4 from the standard AWS credential chain
//! (aws-config finds the credentials, aws-sigv4 signs), over HTTPS or plain HTTP (the local
//! stack's function URL).

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde_json::Value;
use strata_api_types::contract::{CONTRACT, CONTRACT_HEADER, VERSION_HEADER};
use strata_api_types::{ErrorBody, ErrorDetail};

/// How long a request may wait for the API's whole answer: API Gateway's own limit is 30 s,
/// the rest is room for a slow network.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(90);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no API endpoint: pass --endpoint or --stack, set STRATA_ENDPOINT or STRATA_STACK, or deploy with scripts/deploy (it saves the endpoint)"
    )]
    NoEndpoint,
    #[error("stack {stack}: {reason}")]
    Stack { stack: String, reason: String },
    #[error("the endpoint {0:?} is not an http(s) URL")]
    BadEndpoint(String),
    #[error("no AWS credentials to sign with: {0}")]
    NoCredentials(String),
    #[error("cannot sign the request: {0}")]
    Signing(String),
    #[error("cannot reach {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    /// The API answered with an error body (see [`ApiFailure`]).
    #[error("{0}")]
    Api(Box<ApiFailure>),
    /// The sync the API handed on reported a failure.
    #[error("the sync failed: {0}")]
    SyncFailed(String),
    #[error("the API answered {status} with a body that is not Strata's: {body}")]
    Unexpected { status: u16, body: String },
    #[error("the API's answer ({status}) does not match this CLI's contract: {reason}")]
    Contract { status: u16, reason: String },
}

/// An error the API reported: its HTTP status and the typed error body.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub error: ErrorDetail,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = &self.error;
        write!(f, "{} ({:?}, HTTP {})", e.message, e.code, self.status)?;
        for field in &e.fields {
            write!(f, "\n  {}: {}", field.path, field.message)?;
        }
        if let Some(execution) = &e.execution {
            write!(f, "\n  running: {execution} (strata watch follows it)")?;
        }
        Ok(())
    }
}

/// An answer the API gave with a 2xx status.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    /// The control plane's API contract and release, as its answer names them.
    pub contract: Option<String>,
    pub release: Option<String>,
}

impl Answer {
    /// The body as the contract's type for this route: an answer that is not one is an
    /// error naming what did not match (a CLI and an API of different versions).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_value(self.body.clone()).map_err(|e| ClientError::Contract {
            status: self.status.as_u16(),
            reason: e.to_string(),
        })
    }
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// Says once per run when the control plane's contract is a major ahead of this CLI's.
fn warn_once(contract: Option<&str>) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if let Some(warning) = contract.and_then(strata_api_types::contract::warn_server)
        && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        eprintln!("warning: {warning}");
    }
}

#[derive(Clone)]
pub struct ApiClient {
    endpoint: String,
    host: String,
    region: String,
    service: &'static str,
    credentials: aws_credential_types::provider::SharedCredentialsProvider,
    http: Client<Https, Full<Bytes>>,
    answer_within: std::time::Duration,
}

impl ApiClient {
    /// A client for the API at `endpoint`. The signing service is `lambda` for a function
    /// URL and `execute-api` otherwise; the region is the one in the host name, else the AWS
    /// configuration's.
    pub fn new(
        endpoint: Option<String>,
        config: &aws_config::SdkConfig,
    ) -> Result<Self, ClientError> {
        let endpoint = endpoint
            .filter(|e| !e.is_empty())
            .ok_or(ClientError::NoEndpoint)?;
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let rest = endpoint
            .strip_prefix("https://")
            .or_else(|| endpoint.strip_prefix("http://"))
            .ok_or_else(|| ClientError::BadEndpoint(endpoint.clone()))?;
        let host = rest.split('/').next().unwrap_or_default().to_owned();
        if host.is_empty() {
            return Err(ClientError::BadEndpoint(endpoint));
        }
        let credentials = config
            .credentials_provider()
            .ok_or_else(|| ClientError::NoCredentials("no credential provider".into()))?;
        let service = if endpoint.contains("/lambda-url/") || host.contains(".lambda-url.") {
            "lambda"
        } else {
            "execute-api"
        };
        let region = region_in_host(&host)
            .or_else(|| config.region().map(|r| r.to_string()))
            .unwrap_or_else(|| "us-east-1".to_owned());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| ClientError::Unreachable {
                endpoint: endpoint.clone(),
                reason: format!("no TLS roots: {e}"),
            })?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            endpoint,
            host,
            region,
            service,
            credentials,
            http: Client::builder(TokioExecutor::new()).build(https),
            answer_within: ANSWER_WITHIN,
        })
    }

    #[cfg_attr(not(feature = "local-stack"), allow(dead_code))]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends a signed request; a 2xx answer is returned, anything else is an error with the
    /// API's own message.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{path_and_query}", self.endpoint);
        let (content_type, bytes) = body.unwrap_or(("", Vec::new()));
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), self.host.clone()),
            (CONTRACT_HEADER.into(), CONTRACT.into()),
        ];
        if !content_type.is_empty() {
            headers.push(("content-type".into(), content_type.to_owned()));
        }
        for (name, value) in self.signature(&method, &url, &headers, &bytes).await? {
            headers.push((name, value));
        }
        let mut request = hyper::Request::builder().method(method).uri(&url);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| ClientError::Signing(e.to_string()))?;
        let unreachable = |reason: String| ClientError::Unreachable {
            endpoint: self.endpoint.clone(),
            reason,
        };
        // API Gateway ends a request at 30 s; an answer that never comes is a failure the
        // user can read, not a CLI that waits forever.
        let answered = tokio::time::timeout(self.answer_within, async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| unreachable(strata_core::error_chain(&e)))?;
            let status = response.status();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let named = (header(CONTRACT_HEADER), header(VERSION_HEADER));
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable(e.to_string()))?
                .to_bytes();
            Ok::<_, ClientError>((status, named, bytes))
        })
        .await;
        let (status, (contract, release), bytes) = answered.map_err(|_| {
            unreachable(format!(
                "no answer within {} s",
                self.answer_within.as_secs_f32()
            ))
        })??;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body: Option<Value> = serde_json::from_str(&text).ok();
        match body {
            Some(body) if status.is_success() => {
                warn_once(contract.as_deref());
                Ok(Answer {
                    status,
                    body,
                    contract,
                    release,
                })
            }
            Some(body) => match serde_json::from_value::<ErrorBody>(body) {
                Ok(ErrorBody { error }) => Err(ClientError::Api(Box::new(ApiFailure {
                    status: status.as_u16(),
                    error,
                }))),
                Err(_) => Err(ClientError::Unexpected {
                    status: status.as_u16(),
                    body: text.chars().take(500).collect(),
                }),
            },
            _ => Err(ClientError::Unexpected {
                status: status.as_u16(),
                body: text.chars().take(500).collect(),
            }),
        }
    }

    /// The SigV4 headers (authorization, x-amz-date, the session token if any) for a request.
    async fn signature(
        &self,
        method: &Method,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, ClientError> {
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| ClientError::NoCredentials(strata_core::error_chain(&e)))?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| ClientError::Signing(e.to_string()))?
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| ClientError::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| ClientError::Signing(e.to_string()))?
            .into_parts();
        let (signed_headers, _) = instructions.into_parts();
        Ok(signed_headers
            .into_iter()
            .map(|h| (h.name().to_owned(), h.value().to_owned()))
            .collect())
    }
}

/// The API's URL from a deployed stack: its `ApiEndpoint` output (CloudFormation
/// DescribeStacks, with the same credentials the requests are signed with).
pub async fn stack_endpoint(
    config: &aws_config::SdkConfig,
    stack: &str,
) -> Result<String, ClientError> {
    let failed = |reason: String| ClientError::Stack {
        stack: stack.to_owned(),
        reason,
    };
    let described = aws_sdk_cloudformation::Client::new(config)
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| failed(strata_core::error_chain(&e)))?;
    described
        .stacks()
        .first()
        .and_then(|s| {
            s.outputs()
                .iter()
                .find(|o| o.output_key() == Some("ApiEndpoint"))
        })
        .and_then(|o| o.output_value())
        .map(str::to_owned)
        .ok_or_else(|| failed("has no ApiEndpoint output (is it Strata's stack?)".into()))
}

/// The endpoint `scripts/deploy` saved: `$XDG_CONFIG_HOME/strata/endpoint` (else
/// `~/.config/strata/endpoint`), one URL.
pub fn saved_endpoint() -> Option<String> {
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".config")))?;
    let text = std::fs::read_to_string(dir.join("strata/endpoint")).ok()?;
    let url = text.trim();
    (!url.is_empty()).then(|| url.to_owned())
}

/// `abc.execute-api.eu-west-1.amazonaws.com` → `eu-west-1` (also for `.lambda-url.`).
fn region_in_host(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    labels
        .iter()
        .position(|l| *l == "execute-api" || *l == "lambda-url")
        .and_then(|i| labels.get(i + 1))
        .map(|r| (*r).to_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    use http_body_util::{BodyExt, Full};
    use hyper::body::{Bytes, Incoming};
    use hyper_util::rt::TokioIo;

    type Seen = Arc<Mutex<Option<(String, String, Vec<(String, String)>, Vec<u8>)>>>;

    /// A loopback server that records the one request it gets.
    async fn recorder() -> (String, Seen) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Seen = Arc::default();
        let record = seen.clone();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let record = record.clone();
                async move {
                    let method = request.method().to_string();
                    let uri = request.uri().to_string();
                    let headers = request
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                        .collect();
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    *record.lock().unwrap() = Some((method, uri, headers, body.to_vec()));
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(b"{\"ok\": true}"),
                    )))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        (format!("http://{addr}"), seen)
    }

    /// An API that takes the connection and never answers: the request fails, naming the
    /// endpoint and the wait, instead of hanging.
    #[tokio::test]
    async fn an_answer_that_never_comes_is_an_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            drop(stream);
        });
        let config = aws_config::SdkConfig::builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("AKID", "secret", None, None, "test"),
                ),
            )
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        let mut client = super::ApiClient::new(Some(format!("http://{addr}")), &config).unwrap();
        client.answer_within = std::time::Duration::from_millis(300);
        let Err(error) = client.send(hyper::Method::GET, "/environments", None).await else {
            panic!("a server that never answers gave an answer");
        };
        let said = error.to_string();
        assert!(
            said.contains("no answer within 0.3 s") && said.contains(&addr.to_string()),
            "{said}"
        );
        held.abort();
    }

    #[tokio::test]
    async fn what_is_sent_is_what_was_signed() {
        let (base, seen) = recorder().await;
        let credentials =
            aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let config = aws_config::SdkConfig::builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials.clone()),
            )
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        let endpoint = format!("{base}/lambda-url/api");
        let client = super::ApiClient::new(Some(endpoint.clone()), &config).unwrap();
        let before = SystemTime::now();
        let answer = client
            .send(
                hyper::Method::PUT,
                "/environments/staging?allowRecreate=database",
                Some(("application/yaml", b"kind: Environment\n".to_vec())),
            )
            .await
            .unwrap();
        assert_eq!(answer.body["ok"], true);
        let (method, uri, headers, body) = seen.lock().unwrap().take().unwrap();
        assert_eq!(
            (method.as_str(), uri.as_str()),
            (
                "PUT",
                "/lambda-url/api/environments/staging?allowRecreate=database"
            )
        );
        assert_eq!(body, b"kind: Environment\n");
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {name} header"))
        };
        let authorization = header("authorization");
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
                && authorization.contains("/eu-west-1/lambda/aws4_request"),
            "{authorization}"
        );
        // Signing what the server received, at the second it was signed, gives the same
        // signature: the method, URL, headers and body on the wire are the signed ones.
        let signed_headers: Vec<(&str, String)> = ["host", "content-type", "strata-contract"]
            .into_iter()
            .map(|name| (name, header(name)))
            .collect();
        let url = format!("{endpoint}/environments/staging?allowRecreate=database");
        let identity = credentials.into();
        let start = before.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let matches = (start..=start + 2).any(|second| {
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region("eu-west-1")
                .name("lambda")
                .time(UNIX_EPOCH + Duration::from_secs(second))
                .settings(SigningSettings::default())
                .build()
                .unwrap()
                .into();
            let request = SignableRequest::new(
                "PUT",
                &url,
                signed_headers.iter().map(|(k, v)| (*k, v.as_str())),
                SignableBody::Bytes(&body),
            )
            .unwrap();
            let (instructions, _) = sign(request, &params).unwrap().into_parts();
            let (expected, _) = instructions.into_parts();
            expected
                .iter()
                .any(|h| h.name() == "authorization" && h.value() == authorization)
        });
        assert!(
            matches,
            "the signature does not cover what was sent: {authorization}"
        );
    }

    #[test]
    fn the_region_is_read_from_the_host() {
        assert_eq!(
            super::region_in_host("abc123.execute-api.eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            super::region_in_host("xyz.lambda-url.us-east-2.on.aws").as_deref(),
            Some("us-east-2")
        );
        assert_eq!(super::region_in_host("127.0.0.1:9000"), None);
    }
}
