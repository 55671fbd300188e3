//! The tags in an image's repository, wherever it lives:
//! - ECR (`<account>.dkr.ecr.<region>.amazonaws.com/<repository>`): DescribeImages, every page,
//!   with the function's own IAM credentials;
//! - any other OCI distribution registry: `GET /v2/<name>/tags/list?n=…`, following the
//!   `Link: <…>; rel="next"` header page by page, and answering a `401` with a
//!   `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge by fetching an anonymous
//!   token from the realm (public images; registry credentials are not supported).
//!
//! Choosing among the tags is `strata_core::versions`' job, not this crate's.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::StatusCode;
use hyper::header::{AUTHORIZATION, HeaderMap, LINK, WWW_AUTHENTICATE};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

#[cfg(any(test, feature = "testing"))]
mod memory;
#[cfg(any(test, feature = "testing"))]
pub use memory::MemoryTags;

/// Tags asked for per page of an OCI registry.
pub const PAGE: u32 = 100;
/// Pages followed at most (a repository with more tags than this is refused, not truncated:
/// a truncated list would silently pick an older version).
pub const MAX_PAGES: usize = 100;
/// The most a registry answer may weigh.
const MAX_BODY: usize = 4 << 20;
/// One registry request, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The repository does not exist (or is not visible to us).
    #[error("{0}")]
    NotFound(String),
    /// Worth retrying: unreachable, throttled, 5xx.
    #[error("{0}")]
    Unavailable(String),
    /// Refused or not understood: retrying changes nothing.
    #[error("{0}")]
    Rejected(String),
}

/// Where an image's repository lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repository {
    Ecr {
        registry_id: String,
        region: String,
        name: String,
    },
    Oci {
        /// `scheme://host[:port]`.
        base: String,
        name: String,
    },
}

impl Repository {
    /// Reads an image reference without tag or digest (what the spec holds). As Docker does:
    /// a first segment with a `.` or `:`, or `localhost`, is a registry host; anything else
    /// is Docker Hub (`nginx` is `library/nginx`). Loopback registries are spoken to over
    /// plain HTTP (Docker's default for them); every other over HTTPS.
    pub fn parse(image: &str) -> Repository {
        if let Some((host, name)) = image.split_once('/')
            && let Some((account, rest)) = host.split_once(".dkr.ecr.")
            && let Some(region) = rest.strip_suffix(".amazonaws.com")
        {
            return Repository::Ecr {
                registry_id: account.to_owned(),
                region: region.to_owned(),
                name: name.to_owned(),
            };
        }
        match image.split_once('/') {
            Some((host, name))
                if host.contains('.') || host.contains(':') || host == "localhost" =>
            {
                let hostname = host.rsplit_once(':').map_or(host, |(h, _)| h);
                let loopback =
                    hostname == "localhost" || hostname == "[::1]" || hostname.starts_with("127.");
                let scheme = if loopback { "http" } else { "https" };
                let host = if host == "docker.io" {
                    "registry-1.docker.io"
                } else {
                    host
                };
                Repository::Oci {
                    base: format!("{scheme}://{host}"),
                    name: name.to_owned(),
                }
            }
            Some(_) => Repository::Oci {
                base: "https://registry-1.docker.io".into(),
                name: image.to_owned(),
            },
            None => Repository::Oci {
                base: "https://registry-1.docker.io".into(),
                name: format!("library/{image}"),
            },
        }
    }
}

/// Lists the tags of an image's repository.
pub trait TagSource: Send + Sync {
    fn tags(&self, image: &str) -> impl Future<Output = Result<Vec<String>, RegistryError>> + Send;
}

/// Tags from ECR or an OCI registry, by the image's host.
#[derive(Clone)]
pub struct Registries {
    aws: aws_config::SdkConfig,
    oci: OciClient,
}

impl Registries {
    pub fn new(aws: aws_config::SdkConfig) -> Self {
        Self {
            aws,
            oci: OciClient::new(),
        }
    }
}

impl TagSource for Registries {
    async fn tags(&self, image: &str) -> Result<Vec<String>, RegistryError> {
        match Repository::parse(image) {
            Repository::Ecr {
                registry_id,
                region,
                name,
            } => {
                let config = self
                    .aws
                    .to_builder()
                    .region(aws_config::Region::new(region))
                    .build();
                ecr_tags(&aws_sdk_ecr::Client::new(&config), &registry_id, &name).await
            }
            Repository::Oci { base, name } => self.oci.tags(&base, &name).await,
        }
    }
}

/// Every tag in an ECR repository: DescribeImages of tagged images, every page (an image
/// may carry several tags).
pub async fn ecr_tags(
    client: &aws_sdk_ecr::Client,
    registry_id: &str,
    name: &str,
) -> Result<Vec<String>, RegistryError> {
    let mut pages = client
        .describe_images()
        .registry_id(registry_id)
        .repository_name(name)
        .filter(
            aws_sdk_ecr::types::DescribeImagesFilter::builder()
                .tag_status(aws_sdk_ecr::types::TagStatus::Tagged)
                .build(),
        )
        .into_paginator()
        .send();
    let mut tags = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| ecr_error(name, e))?;
        for image in page.image_details() {
            tags.extend(image.image_tags().iter().cloned());
        }
    }
    Ok(tags)
}

fn ecr_error(
    name: &str,
    err: aws_sdk_ecr::error::SdkError<aws_sdk_ecr::operation::describe_images::DescribeImagesError>,
) -> RegistryError {
    use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
    let Some(service) = err.as_service_error() else {
        // Timeouts, dispatch and response failures: the SDK has already retried them.
        return RegistryError::Unavailable(format!("DescribeImages {name}: {err}"));
    };
    let code = service.code().unwrap_or("UnknownError");
    let text = match service.message() {
        Some(message) => format!("DescribeImages {name}: {code}: {message}"),
        None => format!("DescribeImages {name}: {service}"),
    };
    let status = match &err {
        SdkError::ServiceError(e) => e.raw().status().as_u16(),
        _ => 0,
    };
    if service.is_repository_not_found_exception() {
        return RegistryError::NotFound(text);
    }
    match code {
        "ThrottlingException" | "ServerException" => RegistryError::Unavailable(text),
        _ if status >= 500 => RegistryError::Unavailable(text),
        _ => RegistryError::Rejected(text),
    }
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// A client of the OCI distribution API's tag listing.
#[derive(Clone)]
pub struct OciClient {
    /// Made on first use: loading the host's trusted roots costs milliseconds at every cold
    /// start, and most invocations never list an OCI registry. Err when this host has no
    /// trusted TLS roots: each request then fails saying so.
    http: std::sync::OnceLock<Result<HttpClient<Https, Empty<Bytes>>, String>>,
}

impl Default for OciClient {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Token {
    token: Option<String>,
    access_token: Option<String>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl OciClient {
    pub fn new() -> Self {
        Self {
            http: std::sync::OnceLock::new(),
        }
    }

    fn http(&self) -> Result<&HttpClient<Https, Empty<Bytes>>, RegistryError> {
        self.http
            .get_or_init(|| {
                hyper_rustls::HttpsConnectorBuilder::new()
                    .with_native_roots()
                    .map(|builder| {
                        let https = builder.https_or_http().enable_http1().build();
                        HttpClient::builder(TokioExecutor::new()).build(https)
                    })
                    .map_err(|e| format!("no trusted TLS roots on this host: {e}"))
            })
            .as_ref()
            .map_err(|e| RegistryError::Rejected(e.clone()))
    }

    /// Every tag of `name` on the registry at `base` (`scheme://host[:port]`).
    pub async fn tags(&self, base: &str, name: &str) -> Result<Vec<String>, RegistryError> {
        let mut url = format!("{base}/v2/{name}/tags/list?n={PAGE}");
        let mut token: Option<String> = None;
        let mut tags = Vec::new();
        for _ in 0..MAX_PAGES {
            let mut answer = self.get(&url, token.as_deref()).await?;
            if answer.status == StatusCode::UNAUTHORIZED && token.is_none() {
                let challenge = bearer_challenge(&answer.headers).ok_or_else(|| {
                    RegistryError::Rejected(format!(
                        "{url}: 401 without a Bearer challenge (registry credentials are not supported)"
                    ))
                })?;
                token = Some(self.token(&challenge).await?);
                answer = self.get(&url, token.as_deref()).await?;
            }
            check(&url, &answer)?;
            let page: TagList = serde_json::from_slice(&answer.body)
                .map_err(|e| RegistryError::Rejected(format!("{url}: not a tag list: {e}")))?;
            tags.extend(page.tags.unwrap_or_default());
            match next_page(base, &answer.headers) {
                Some(next) => url = next,
                None => return Ok(tags),
            }
        }
        Err(RegistryError::Rejected(format!(
            "{base}/v2/{name}: more than {} tags ({MAX_PAGES} pages)",
            PAGE as usize * MAX_PAGES
        )))
    }

    /// An anonymous pull token from the challenge's realm.
    async fn token(&self, challenge: &Challenge) -> Result<String, RegistryError> {
        let mut url = challenge.realm.clone();
        let mut separator = if url.contains('?') { '&' } else { '?' };
        for (key, value) in [("service", &challenge.service), ("scope", &challenge.scope)] {
            if let Some(value) = value {
                url.push(separator);
                url.push_str(key);
                url.push('=');
                url.extend(utf8_percent_encode(value, NON_ALPHANUMERIC));
                separator = '&';
            }
        }
        let answer = self.get(&url, None).await?;
        check(&challenge.realm, &answer)?;
        let token: Token = serde_json::from_slice(&answer.body).map_err(|e| {
            RegistryError::Rejected(format!("{}: not a token answer: {e}", challenge.realm))
        })?;
        token
            .token
            .or(token.access_token)
            .ok_or_else(|| RegistryError::Rejected(format!("{}: no token", challenge.realm)))
    }

    async fn get(&self, url: &str, token: Option<&str>) -> Result<Answer, RegistryError> {
        let mut request = hyper::Request::get(url);
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| RegistryError::Rejected(format!("{url}: {e}")))?;
        let exchange = async {
            let http = self.http()?;
            let response = http
                .request(request)
                .await
                .map_err(|e| RegistryError::Unavailable(format!("{url}: {}", chain(&e))))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| RegistryError::Unavailable(format!("{url}: reading the body: {e}")))?
                .to_bytes();
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| {
                RegistryError::Unavailable(format!("{url}: no answer in {REQUEST_TIMEOUT:?}"))
            })?
    }
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Maps a registry answer's status to an error, with the registry's own message.
fn check(url: &str, answer: &Answer) -> Result<(), RegistryError> {
    let status = answer.status;
    if status.is_success() {
        return Ok(());
    }
    let detail = serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| {
            let first = v.get("errors")?.get(0)?;
            Some(format!(
                "{}: {}",
                first.get("code")?.as_str()?,
                first.get("message")?.as_str()?
            ))
        })
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let text = format!("{url}: HTTP {}: {detail}", status.as_u16());
    Err(match status {
        StatusCode::NOT_FOUND => RegistryError::NotFound(text),
        StatusCode::TOO_MANY_REQUESTS => RegistryError::Unavailable(text),
        s if s.is_server_error() => RegistryError::Unavailable(text),
        _ => RegistryError::Rejected(text),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Challenge {
    realm: String,
    service: Option<String>,
    scope: Option<String>,
}

/// `Bearer realm="…",service="…",scope="…"` (values quoted; a scope may hold commas).
fn bearer_challenge(headers: &HeaderMap) -> Option<Challenge> {
    let value = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(rest)
        })?;
    let mut params = Vec::new();
    let mut rest = value.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (param, tail) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        params.push((key.trim().to_ascii_lowercase(), param.to_owned()));
        rest = tail.trim_start_matches([',', ' ']);
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    Some(Challenge {
        realm: get("realm")?,
        service: get("service"),
        scope: get("scope"),
    })
}

/// The `rel="next"` target of a `Link` header, made absolute against `base`.
fn next_page(base: &str, headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|link| {
            let (target, params) = link.trim().split_once(';')?;
            let rel_next = params.split(';').any(|p| {
                p.trim()
                    .strip_prefix("rel=")
                    .is_some_and(|r| r.trim_matches('"') == "next")
            });
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            rel_next.then(|| {
                if target.starts_with('/') {
                    format!("{base}{target}")
                } else {
                    target.to_owned()
                }
            })
        })
}

#[cfg(test)]
mod tests;
