//! `strata console`: a web page on 127.0.0.1, served by the CLI itself (the page, its script
//! and style are embedded in the binary), for the API the CLI is configured for. The page
//! calls `/api/…`; the CLI signs each call with the user's own credentials (SigV4), exactly
//! as its commands do, so the console adds no new way into the API.
//!
//! Only this page may use it: every `/api/` call must carry the session's token (printed in
//! the URL, sent by the page as a header a cross-site page cannot set without a CORS
//! preflight, which is never allowed), and the `Host` must be the loopback address it
//! listens on (no DNS rebinding).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use strata_api_types::{ErrorBody, ErrorCode, ErrorDetail, GraphView};
use tokio::net::TcpListener;

use crate::client::{ApiClient, ClientError};
use crate::exit;

const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/app.js");
const STYLE: &str = include_str!("../console/style.css");

/// The header the page sends its session token in.
const TOKEN_HEADER: &str = "x-strata-console";

struct Console {
    client: ApiClient,
    token: String,
    host: String,
}

pub async fn serve(client: ApiClient, port: u16) -> u8 {
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{port}: {e}");
            return exit::USAGE;
        }
    };
    let Ok(addr) = listener.local_addr() else {
        return exit::ERROR;
    };
    let console = Arc::new(Console {
        // No other page can guess it: random (the OS's generator), new for each start.
        token: uuid::Uuid::new_v4().simple().to_string(),
        host: addr.to_string(),
        client,
    });
    println!(
        "console: http://{addr}/?token={} (API {}); Ctrl-C stops it",
        console.token,
        console.client.endpoint()
    );
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = tokio::signal::ctrl_c() => return exit::OK,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let console = console.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let console = console.clone();
                async move { Ok::<_, std::convert::Infallible>(console.answer(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        "content-security-policy",
        header::HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"),
    );
    response
}

fn error(status: StatusCode, code: ErrorCode, message: String) -> Response<Full<Bytes>> {
    let body = ErrorBody {
        error: ErrorDetail {
            code,
            message,
            fields: Vec::new(),
            execution: None,
            plan: None,
        },
    };
    let json = serde_json::to_vec(&body).expect("error bodies serialise");
    response(status, "application/json", Bytes::from(json))
}

impl Console {
    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        if host != self.host {
            return error(
                StatusCode::FORBIDDEN,
                ErrorCode::NoIdentity,
                format!("this console answers only at {}", self.host),
            );
        }
        let path = req.uri().path().to_owned();
        match (req.method(), path.as_str()) {
            (&Method::GET, "/" | "/index.html") => response(
                StatusCode::OK,
                "text/html; charset=utf-8",
                Bytes::from_static(INDEX.as_bytes()),
            ),
            (&Method::GET, "/app.js") => response(
                StatusCode::OK,
                "text/javascript; charset=utf-8",
                Bytes::from_static(SCRIPT.as_bytes()),
            ),
            (&Method::GET, "/style.css") => response(
                StatusCode::OK,
                "text/css; charset=utf-8",
                Bytes::from_static(STYLE.as_bytes()),
            ),
            _ if path.starts_with("/api/") => self.proxy(req).await,
            _ => error(
                StatusCode::NOT_FOUND,
                ErrorCode::NoSuchRoute,
                format!("no page at {path}"),
            ),
        }
    }

    /// `/api/<route>` → the API's `<route>`, signed; the API's answer as it is.
    async fn proxy(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let token = req
            .headers()
            .get(TOKEN_HEADER)
            .and_then(|t| t.to_str().ok());
        if token != Some(self.token.as_str()) {
            return error(
                StatusCode::FORBIDDEN,
                ErrorCode::NoIdentity,
                "the console's session token is missing or wrong: open the URL strata console printed".into(),
            );
        }
        let route = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .trim_start_matches("/api")
            .to_owned();
        if route == "/graph" {
            let json = serde_json::to_vec(&GraphView::of_strata()).expect("the graph serialises");
            return response(StatusCode::OK, "application/json", Bytes::from(json));
        }
        let method = req.method().clone();
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|t| t.to_str().ok())
            .map(str::to_owned);
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes().to_vec(),
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidRequest,
                    e.to_string(),
                );
            }
        };
        let sent = content_type
            .as_deref()
            .filter(|_| !body.is_empty())
            .map(|t| (t, body));
        match self.client.send(method, &route, sent).await {
            Ok(answer) => {
                let json = serde_json::to_vec(&answer.body).expect("JSON values serialise");
                response(answer.status, "application/json", Bytes::from(json))
            }
            Err(ClientError::Api(failure)) => {
                let status =
                    StatusCode::from_u16(failure.status).unwrap_or(StatusCode::BAD_GATEWAY);
                let json = serde_json::to_vec(&ErrorBody {
                    error: failure.error,
                })
                .expect("error bodies serialise");
                response(status, "application/json", Bytes::from(json))
            }
            Err(other) => error(
                StatusCode::BAD_GATEWAY,
                ErrorCode::ServiceUnavailable,
                other.to_string(),
            ),
        }
    }
}
