//! A real OCI distribution registry on loopback, for the image-version checks: Debian's
//! `docker-registry` (the CNCF distribution registry) serving a temporary directory.
//!
//! Registry 2.8 answers tags/list anonymously and in one page, so it sits behind a *gate*
//! that speaks what public registries (Docker Hub, GHCR, distribution 3) do: every `/v2/`
//! request without the bearer token gets `401` with a `WWW-Authenticate: Bearer` challenge
//! naming the gate's token endpoint, and tags/list is paged per the distribution spec
//! (lexical order, `n` and `last`, a `Link: <…>; rel="next"` header). Everything else is
//! passed to the registry untouched.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use crate::LocalStackError;
use crate::process::ProcessGroup;

const TOKEN: &str = "strata-test-pull-token";

/// The registry and its gate; both stop when this is dropped.
pub struct OciRegistry {
    gate: SocketAddr,
    registry: SocketAddr,
    tokens: Arc<AtomicU32>,
    pages: Arc<AtomicU32>,
    client: Client<HttpConnector, Full<Bytes>>,
    gate_task: tokio::task::JoinHandle<()>,
    _process: ProcessGroup,
    _dir: tempfile::TempDir,
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        self.gate_task.abort();
    }
}

impl OciRegistry {
    /// Starts `docker-registry` (it must be on PATH: `scripts/test` installs Debian's
    /// package) and the gate in front of it.
    pub async fn start() -> Result<Self, LocalStackError> {
        let dir = tempfile::tempdir().map_err(|e| LocalStackError::io(Path::new("/tmp"), e))?;
        let port = crate::free_port()?;
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .map_err(|e| LocalStackError::io(&config, e))?;
        let mut command = std::process::Command::new("docker-registry");
        command.arg("serve").arg(&config);
        let process =
            ProcessGroup::spawn("docker-registry", command, &dir.path().join("registry.log"))
                .map_err(|e| match e {
                    LocalStackError::Spawn { what, reason } => LocalStackError::Spawn {
                        what,
                        reason: format!(
                            "{reason} (install Debian's docker-registry package: scripts/test does)"
                        ),
                    },
                    other => other,
                })?;
        let registry: SocketAddr = ([127, 0, 0, 1], port).into();
        let client = Client::builder(TokioExecutor::new()).build_http();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ping = client
                .get(
                    format!("http://{registry}/v2/")
                        .parse()
                        .expect("a valid URI"),
                )
                .await;
            if ping.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if Instant::now() > deadline {
                return Err(LocalStackError::NotReady {
                    what: "docker-registry".into(),
                    seconds: 20,
                    log: process.log().display().to_string(),
                    tail: process.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| LocalStackError::io(Path::new("127.0.0.1:0"), e))?;
        let gate = listener
            .local_addr()
            .expect("a bound socket has an address");
        let tokens = Arc::new(AtomicU32::new(0));
        let pages = Arc::new(AtomicU32::new(0));
        let gate_task = tokio::spawn(serve_gate(
            listener,
            Gate {
                address: gate,
                registry,
                tokens: tokens.clone(),
                pages: pages.clone(),
                client: client.clone(),
            },
        ));
        Ok(Self {
            gate,
            registry,
            tokens,
            pages,
            client,
            gate_task,
            _process: process,
            _dir: dir,
        })
    }

    /// `127.0.0.1:PORT` of the gate: images are `<host>/<name>`.
    pub fn host(&self) -> String {
        self.gate.to_string()
    }

    /// Tokens the gate has handed out.
    pub fn tokens_issued(&self) -> u32 {
        self.tokens.load(Ordering::SeqCst)
    }

    /// Pages of tags/list the gate has answered.
    pub fn pages_served(&self) -> u32 {
        self.pages.load(Ordering::SeqCst)
    }

    /// Stands in for a CI pipeline: pushes an (empty) image as `name:tag` straight to the
    /// registry through its HTTP API, a config blob then a manifest.
    pub async fn push(&self, name: &str, tag: &str) -> Result<(), LocalStackError> {
        let what = format!("{name}:{tag}");
        let failed = |reason: String| LocalStackError::Provision {
            what: what.clone(),
            reason,
        };
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let digest: String = Sha256::digest(config)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let digest = format!("sha256:{digest}");
        let start = self
            .send(
                Method::POST,
                &format!("/v2/{name}/blobs/uploads/"),
                None,
                Bytes::new(),
            )
            .await
            .map_err(failed)?;
        let location = start
            .headers()
            .get(hyper::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                failed(format!(
                    "upload answered {} without Location",
                    start.status()
                ))
            })?;
        let path = location
            .strip_prefix(&format!("http://{}", self.registry))
            .unwrap_or(location);
        let separator = if path.contains('?') { '&' } else { '?' };
        self.send(
            Method::PUT,
            &format!("{path}{separator}digest={digest}"),
            Some("application/octet-stream"),
            Bytes::from_static(config),
        )
        .await
        .map_err(failed)?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": config.len(),
                "digest": digest,
            },
            "layers": [],
        });
        self.send(
            Method::PUT,
            &format!("/v2/{name}/manifests/{tag}"),
            Some("application/vnd.docker.distribution.manifest.v2+json"),
            Bytes::from(manifest.to_string()),
        )
        .await
        .map_err(failed)?;
        Ok(())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Response<Incoming>, String> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.registry));
        if let Some(content_type) = content_type {
            request = request.header(hyper::header::CONTENT_TYPE, content_type);
        }
        let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(response)
        } else {
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                .unwrap_or_default();
            Err(format!("{path}: HTTP {status}: {body}"))
        }
    }
}

#[derive(Clone)]
struct Gate {
    address: SocketAddr,
    registry: SocketAddr,
    tokens: Arc<AtomicU32>,
    pages: Arc<AtomicU32>,
    client: Client<HttpConnector, Full<Bytes>>,
}

async fn serve_gate(listener: TcpListener, gate: Gate) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let gate = gate.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let gate = gate.clone();
                async move { Ok::<_, Infallible>(gate.answer(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        "application/json".parse().unwrap(),
    );
    response
}

fn query(uri: &hyper::Uri, key: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

impl Gate {
    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        if path == "/token" {
            self.tokens.fetch_add(1, Ordering::SeqCst);
            return answer(
                StatusCode::OK,
                serde_json::json!({ "token": TOKEN, "expires_in": 300 }).to_string(),
            );
        }
        let authorized = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            == Some(&format!("Bearer {TOKEN}"));
        let name = path
            .strip_prefix("/v2/")
            .and_then(|p| p.strip_suffix("/tags/list"));
        if !authorized {
            let scope = name.map_or("registry:catalog:*".to_owned(), |n| {
                format!("repository:{n}:pull")
            });
            let mut response = answer(
                StatusCode::UNAUTHORIZED,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            );
            response.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                format!(
                    "Bearer realm=\"http://{}/token\",service=\"strata-test\",scope=\"{scope}\"",
                    self.address
                )
                .parse()
                .unwrap(),
            );
            return response;
        }
        let Some(name) = name else {
            return self.forward(req).await;
        };
        let n: usize = query(req.uri(), "n")
            .and_then(|n| n.parse().ok())
            .unwrap_or(usize::MAX);
        let last = query(req.uri(), "last");
        let full = self.forward(req).await;
        if full.status() != StatusCode::OK {
            return full;
        }
        let body = match full.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return answer(StatusCode::BAD_GATEWAY, e.to_string()),
        };
        let listed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let mut tags: Vec<String> = listed["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .filter(|t| last.as_ref().is_none_or(|l| t > l))
            .collect();
        tags.sort();
        self.pages.fetch_add(1, Ordering::SeqCst);
        let more = tags.len() > n;
        tags.truncate(n);
        let mut response = answer(
            StatusCode::OK,
            serde_json::json!({ "name": name, "tags": tags }).to_string(),
        );
        if more && let Some(last) = tags.last() {
            response.headers_mut().insert(
                hyper::header::LINK,
                format!("</v2/{name}/tags/list?n={n}&last={last}>; rel=\"next\"")
                    .parse()
                    .unwrap(),
            );
        }
        response
    }

    async fn forward(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (mut parts, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return answer(StatusCode::BAD_REQUEST, e.to_string()),
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = format!("http://{}{path}", self.registry)
            .parse()
            .expect("a valid URI");
        parts.headers.remove(hyper::header::AUTHORIZATION);
        match self
            .client
            .request(Request::from_parts(parts, Full::new(body)))
            .await
        {
            Ok(response) => {
                let (head, body) = response.into_parts();
                match body.collect().await {
                    Ok(b) => Response::from_parts(head, Full::new(b.to_bytes())),
                    Err(e) => answer(StatusCode::BAD_GATEWAY, e.to_string()),
                }
            }
            Err(e) => answer(StatusCode::BAD_GATEWAY, e.to_string()),
        }
    }
}
