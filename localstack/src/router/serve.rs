//! The router's connections: which function calls, its IAM permissions, AWS's payload
//! quotas and the fault matrix's chaos, and AWS's pace, before the dispatch answers.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::{Router, plain};
use crate::chaos::Verdict;
use crate::iam::peer_binary;
use crate::quotas::{self, Invoker};

/// A connection closed on purpose, without an answer.
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault matrix")
    }
}

impl std::error::Error for Dropped {}

impl Router {
    /// Serves until the task is aborted.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let router = self.clone();
            tokio::spawn(async move {
                // Which function calls, if any: its role's permissions apply to the
                // connection's every request.
                let local = stream.local_addr();
                let caller = tokio::task::spawn_blocking(move || peer_binary(peer, local.ok()?))
                    .await
                    .ok()
                    .flatten();
                let caller: Arc<Option<String>> = Arc::new(caller);
                // An error closes the connection without an answer (the fault matrix's
                // timeouts and lost responses).
                let service = hyper::service::service_fn(move |req| {
                    let router = router.clone();
                    let caller = caller.clone();
                    async move { router.route(req, caller.as_deref()).await }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    async fn route(
        &self,
        req: Request<Incoming>,
        caller: Option<&str>,
    ) -> Result<Response<Full<Bytes>>, Dropped> {
        let (parts, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return Ok(plain(
                    StatusCode::BAD_REQUEST,
                    format!("unreadable body: {e}"),
                ));
            }
        };
        if let Some(binary) = caller
            && let Some(refused) = self.iam.check(self, binary, &parts, &body).await
        {
            return Ok(refused);
        }
        let function = caller.filter(|binary| self.iam.knows(binary));
        let invoker = match function {
            Some(_) => Invoker::Function,
            None => Invoker::StateMachine,
        };
        let invoke = (parts.method == hyper::Method::POST)
            .then(|| super::lambda::function_name(parts.uri.path()))
            .flatten()
            .map(|_| {
                parts
                    .headers
                    .get("x-amz-invocation-type")
                    .is_some_and(|v| v.as_bytes() == b"Event")
            });
        let refused = match invoke {
            Some(asynchronous) => quotas::refuse_invoke(invoker, asynchronous, body.len()),
            None if super::target(&parts, "AWSStepFunctions") == Some("StartExecution") => {
                quotas::refuse_start(&body)
            }
            None => None,
        };
        if let Some(refused) = refused {
            return Ok(refused);
        }
        match function.and_then(|binary| self.chaos.on_call(binary, &parts, &body)) {
            None if invoke == Some(false) => {
                let answered = self.answer(parts, body).await;
                let size = hyper::body::Body::size_hint(answered.body()).exact();
                let size = size.map_or(0, |s| usize::try_from(s).unwrap_or(usize::MAX));
                Ok(quotas::refuse_result(invoker, size).unwrap_or(answered))
            }
            None => Ok(self.answer(parts, body).await),
            Some(Verdict::Answer(response)) => Ok(response),
            Some(Verdict::Drop) => Err(Dropped),
            Some(Verdict::DropAfter) => {
                self.answer(parts, body).await;
                Err(Dropped)
            }
        }
    }

    /// Answers a request as AWS would, at AWS's pace when one is set.
    async fn answer(
        &self,
        parts: hyper::http::request::Parts,
        body: Bytes,
    ) -> Response<Full<Bytes>> {
        match self.pace.hook(&parts.method, parts.uri.path(), &body) {
            None => self.answer_at_once(parts, body).await,
            Some(hook) => {
                let response = self.answer_at_once(parts, body).await;
                self.pace.answer(hook, response).await
            }
        }
    }
}
