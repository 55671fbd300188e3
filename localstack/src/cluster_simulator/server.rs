//! The cluster simulator's HTTP side: the connection loop, the routing of a request to
//! the verb that serves it, and the Kubernetes API's paths, queries and `Status` answers.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::ClusterSimulator;
use super::store::Key;

impl ClusterSimulator {
    /// Serves HTTPS until the task is aborted.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let simulator = self.clone();
            tokio::spawn(async move {
                // A client that never finishes its handshake holds nothing for long.
                let handshake = simulator.tls.acceptor.accept(stream);
                let Ok(Ok(stream)) =
                    tokio::time::timeout(std::time::Duration::from_secs(10), handshake).await
                else {
                    return;
                };
                let service = hyper::service::service_fn(move |req| {
                    let simulator = simulator.clone();
                    async move { Ok::<_, Infallible>(simulator.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let token = parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let Some((cluster, document)) = super::discovery::document(parts.uri.path()) {
            return match self.authenticate(token, &cluster) {
                Ok(_) => respond(StatusCode::OK, &document),
                Err(why) => status(StatusCode::UNAUTHORIZED, "Unauthorized", &why),
            };
        }
        let Some((cluster, key)) = parse_path(parts.uri.path()) else {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the simulator does not serve this path",
            );
        };
        let region = match self.authenticate(token, &cluster) {
            Ok(region) => region,
            Err(why) => return status(StatusCode::UNAUTHORIZED, "Unauthorized", &why),
        };
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return status(StatusCode::BAD_REQUEST, "BadRequest", &e.to_string()),
        };
        let query = parts.uri.query().unwrap_or_default();
        let content_type = parts
            .headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        match (&parts.method, key.name.is_empty()) {
            (&Method::GET, true) => self.list(&cluster, &key, query),
            (&Method::GET, false) => self.get(&cluster, &key),
            (&Method::PATCH, false) => {
                let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
                    return status(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "the body is not JSON",
                    );
                };
                if content_type.starts_with("application/apply-patch") {
                    let Some(manager) = query_value(query, "fieldManager") else {
                        return status(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "Invalid",
                            "fieldManager is required for apply requests",
                        );
                    };
                    self.apply(&cluster, &region, key, decode(manager), patch)
                        .await
                } else if content_type.starts_with("application/merge-patch+json") {
                    self.merge_patch(&cluster, &region, key, patch).await
                } else {
                    status(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "UnsupportedMediaType",
                        &format!("the simulator does not take {content_type}"),
                    )
                }
            }
            (&Method::DELETE, false) => self.delete(&cluster, &key).await,
            _ => status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "not served",
            ),
        }
    }
}

/// A Kubernetes `Status` error.
pub(crate) fn status(code: StatusCode, reason: &str, message: &str) -> Response<Full<Bytes>> {
    respond(
        code,
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code.as_u16(),
        }),
    )
}

pub(crate) fn respond(code: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static headers are valid")
}

/// `/clusters/<cluster>/api/v1/…` or `/clusters/<cluster>/apis/<group>/<version>/…` as
/// (cluster, key with an empty name for a collection).
fn parse_path(path: &str) -> Option<(String, Key)> {
    let rest = path.strip_prefix("/clusters/")?;
    let (cluster, rest) = rest.split_once('/')?;
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let (api, tail) = match segments.as_slice() {
        ["api", version, tail @ ..] => ((*version).to_owned(), tail),
        ["apis", group, version, tail @ ..] => (format!("{group}/{version}"), tail),
        _ => return None,
    };
    let (namespace, plural, name) = match tail {
        ["namespaces", ns, plural, name @ ..] => (*ns, *plural, name.first().copied()),
        [plural, name @ ..] => ("", *plural, name.first().copied()),
        _ => return None,
    };
    Some((
        cluster.to_owned(),
        Key {
            api,
            plural: plural.to_owned(),
            namespace: namespace.to_owned(),
            name: name.unwrap_or_default().to_owned(),
        },
    ))
}

pub(crate) fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

pub(crate) fn decode(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_object() {
        let (cluster, key) = parse_path(
            "/clusters/strata-staging/apis/apps/v1/namespaces/staging/deployments/ui-blue",
        )
        .unwrap();
        assert_eq!(cluster, "strata-staging");
        assert_eq!(
            (
                key.api.as_str(),
                key.plural.as_str(),
                key.namespace.as_str(),
                key.name.as_str()
            ),
            ("apps/v1", "deployments", "staging", "ui-blue")
        );
        let (_, key) = parse_path("/clusters/c/api/v1/namespaces/staging").unwrap();
        assert_eq!(
            (
                key.plural.as_str(),
                key.namespace.as_str(),
                key.name.as_str()
            ),
            ("namespaces", "", "staging")
        );
        let (_, key) = parse_path("/clusters/c/api/v1/namespaces/staging/pods").unwrap();
        assert_eq!((key.plural.as_str(), key.name.as_str()), ("pods", ""));
        assert!(parse_path("/api/v1/namespaces").is_none());
    }
}
