//! The router's passing on: a request sent on as it came (to moto, cargo-lambda, the
//! simulator), and the router's own calls to moto.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};

use super::{HttpClient, Router};

/// `parts` and `body` sent on to `to` as they are (the headers but the length, as the body
/// may have been rewritten); its answer, or 502.
pub(crate) async fn forward(
    client: &HttpClient,
    to: SocketAddr,
    parts: hyper::http::request::Parts,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = Request::builder()
        .method(parts.method)
        .uri(format!("http://{to}{path}"));
    for (k, v) in parts
        .headers
        .iter()
        .filter(|(k, _)| *k != hyper::header::CONTENT_LENGTH)
    {
        request = request.header(k, v);
    }
    let request = match request.body(Full::new(body)) {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, e.to_string()),
    };
    match client.request(request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            match body.collect().await {
                Ok(b) => Response::from_parts(parts, Full::new(b.to_bytes())),
                Err(e) => plain(StatusCode::BAD_GATEWAY, e.to_string()),
            }
        }
        Err(e) => plain(StatusCode::BAD_GATEWAY, format!("{to}: {e}")),
    }
}

pub(crate) fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response
}

impl Router {
    pub(crate) async fn forward(
        &self,
        to: SocketAddr,
        parts: hyper::http::request::Parts,
        body: Bytes,
    ) -> Response<Full<Bytes>> {
        forward(&self.client, to, parts, body).await
    }

    pub(crate) async fn moto_query(
        &self,
        service: &str,
        region: &str,
        form: String,
    ) -> Option<String> {
        let request = crate::fidelity::moto_query(self.moto, service, region, form);
        let response = self.client.request(request).await.ok()?;
        let body = response.into_body().collect().await.ok()?;
        Some(String::from_utf8_lossy(&body.to_bytes()).into_owned())
    }

    /// A call of a JSON-protocol `service` (`secretsmanager`) to moto: `target` is the
    /// `X-Amz-Target` header.
    pub(crate) async fn moto_json(
        &self,
        service: &str,
        region: &str,
        target: &str,
        body: String,
    ) -> Option<(StatusCode, String)> {
        let request = crate::fidelity::to_moto(
            Request::post(format!("http://{}/", self.moto))
                .header("content-type", "application/x-amz-json-1.1")
                .header("x-amz-target", target),
            service,
            region,
            body,
        )
        .expect("a static request is well-formed");
        let response = self.client.request(request).await.ok()?;
        let status = response.status();
        let body = response.into_body().collect().await.ok()?;
        Some((
            status,
            String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        ))
    }
}
