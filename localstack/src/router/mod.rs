//! The router: the one AWS endpoint of the local stack. Lambda Invoke goes to
//! `cargo lambda watch`, with AWS Lambda's error semantics restored; everything else goes to
//! moto. moto's Step Functions interpreter sends its Lambda calls here too (MOTO_PORT).
//! What moto lacks and the handlers need is served by the [`crate::fidelity`] layer.
//!
//! Here: the router and its dispatch. Its connections are `serve`, Lambda Invoke `lambda`,
//! the passing on to moto `proxy`, rewritten answers `rewrite`, and the mends of moto's
//! gaps per service `ec2` and `cloudformation`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::chaos::ChaosLayer;
use crate::fidelity::{
    AccessEntries, Delays, DependencyCheck, Faults, deleted_nat_gateway,
    drop_kept_automated_backups, nat_gateway_token, signed_region,
};
use crate::iam::Iam;
use crate::stopped::{self, Stopped};

mod cloudformation;
mod ec2;
mod lambda;
mod proxy;
mod rewrite;
mod serve;

pub use lambda::function_name;
pub(crate) use lambda::{function_error, invocation, service_error};
pub(crate) use proxy::{forward, plain};
use rewrite::{described_cluster, rewritten, versioning_as_aws};
pub use serve::Dropped;

pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub struct Router {
    moto: SocketAddr,
    lambda: Option<SocketAddr>,
    /// The cluster simulator, which stands in for every EKS cluster's API server.
    simulator: SocketAddr,
    /// Its certificate, base64 of the PEM (DescribeCluster's `certificateAuthority.data`).
    simulator_ca: String,
    client: HttpClient,
    request_ids: AtomicU64,
    access_entries: AccessEntries,
    /// Injected by tests through [`crate::LocalStack::inject`].
    pub faults: Faults,
    /// The fault matrix's record of calls and its chaos ([`crate::LocalStack::chaos`]).
    pub chaos: ChaosLayer,
    /// Held while moto carries out a DynamoDB write.
    dynamodb_writes: tokio::sync::Mutex<()>,
    /// CreateNatGateway's answers by region and idempotency token.
    nat_tokens: std::sync::Mutex<std::collections::HashMap<String, Bytes>>,
    /// Added by tests through [`crate::LocalStack::delay`].
    pub delays: Delays,
    /// The functions' permissions, checked on every call they make.
    pub iam: Iam,
    /// The executions StopExecution stopped: described `ABORTED`, as on AWS.
    stopped: Stopped,
    /// EC2's eventual consistency, set by tests through [`crate::LocalStack::lag`].
    pub lag: crate::lag::Lag,
    /// Lambdas dying after their work ([`crate::LocalStack::crash_every_step`]).
    pub crashes: crate::crash::Crashes,
    /// AWS's create durations ([`crate::LocalStack::pace`]).
    pub pace: crate::pace::Pace,
    /// The changes of UPDATE change sets, which moto does not list ([`crate::stacks`]).
    change_sets: crate::stacks::ChangeSets,
}

/// The operation a JSON-protocol request names in `x-amz-target`, if it is `service`'s
/// (`DynamoDB_20120810`, `AWSStepFunctions`).
pub(crate) fn target<'a>(parts: &'a hyper::http::request::Parts, service: &str) -> Option<&'a str> {
    parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(service)?.strip_prefix('.'))
}

/// Whether the request is a DynamoDB write (the ones a condition can guard).
fn dynamodb_write(parts: &hyper::http::request::Parts) -> bool {
    target(parts, "DynamoDB_20120810").is_some_and(|op| {
        matches!(
            op,
            "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" | "BatchWriteItem"
        )
    })
}

impl Router {
    pub fn new(
        moto: SocketAddr,
        lambda: Option<SocketAddr>,
        simulator: (SocketAddr, String),
        iam: Iam,
    ) -> Arc<Self> {
        let (simulator, simulator_ca) = simulator;
        Arc::new(Self {
            iam,
            moto,
            lambda,
            simulator,
            simulator_ca,
            client: Client::builder(TokioExecutor::new()).build_http(),
            request_ids: AtomicU64::new(1),
            access_entries: AccessEntries::default(),
            faults: Faults::default(),
            chaos: ChaosLayer::default(),
            nat_tokens: Default::default(),
            dynamodb_writes: Default::default(),
            delays: Delays::default(),
            stopped: Stopped::default(),
            lag: Default::default(),
            crashes: Default::default(),
            pace: Default::default(),
            change_sets: Default::default(),
        })
    }

    /// Answers a request: the tests' faults and delays, the mends of moto's gaps, Lambda
    /// invocations, and moto for the rest.
    pub(crate) async fn answer_at_once(
        &self,
        parts: hyper::http::request::Parts,
        body: Bytes,
    ) -> Response<Full<Bytes>> {
        // DynamoDB's conditional writes are atomic; moto (a threaded server without locks)
        // checks and writes apart, so two writes expecting one version could both land.
        // Its writes go one at a time.
        let _one_at_a_time = match dynamodb_write(&parts) {
            true => Some(self.dynamodb_writes.lock().await),
            false => None,
        };
        let invoked = (parts.method == hyper::Method::POST)
            .then(|| function_name(parts.uri.path()))
            .flatten();
        let region = signed_region(
            parts
                .headers
                .get(hyper::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        );
        let json_target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok());
        if let Some(response) =
            self.faults
                .take(&parts.method, parts.uri.path(), json_target, &body)
        {
            return response;
        }
        if let Some(response) = self.lag.refuse(&body) {
            return response;
        }
        if self.lag.watches(&body) {
            let response = self.forward(self.moto, parts, body).await;
            let (head, body) = response.into_parts();
            // `forward` answers with a body already in memory: collecting it cannot fail.
            let Ok(bytes) = body.collect().await.map(|b| b.to_bytes());
            self.lag.record(&String::from_utf8_lossy(&bytes));
            return Response::from_parts(head, Full::new(bytes));
        }
        if let Some(response) =
            self.access_entries
                .handle(&parts.method, parts.uri.path(), &region, &body)
        {
            return response;
        }
        if let Some(check) = DependencyCheck::of(&body)
            && let Some(response) = self.refuse_while_dependents(&check, &region).await
        {
            return response;
        }
        let body = drop_kept_automated_backups(&body).unwrap_or(body);
        if let Some(nat) = deleted_nat_gateway(&body) {
            return self.delete_nat_gateway(&nat, &region, parts, body).await;
        }
        if let Some(token) = nat_gateway_token(&body) {
            return self
                .create_nat_gateway(format!("{region}/{token}"), parts, body)
                .await;
        }
        if let Some((from, to)) = self.delays.take(&parts.method, parts.uri.path(), &body) {
            let response = self.forward(self.moto, parts, body).await;
            let (mut head, body) = response.into_parts();
            let text = match body.collect().await {
                Ok(b) => String::from_utf8_lossy(&b.to_bytes()).replace(&from, &to),
                Err(e) => return plain(StatusCode::BAD_GATEWAY, e.to_string()),
            };
            head.headers.remove(hyper::header::CONTENT_LENGTH);
            // moto's checksum would no longer match the rewritten body.
            head.headers.remove("x-amz-crc32");
            return Response::from_parts(head, Full::new(Bytes::from(text)));
        }
        if parts.method == hyper::Method::GET
            && let Some(cluster) = described_cluster(parts.uri.path())
        {
            let response = self.forward(self.moto, parts, body).await;
            return self.point_at_simulator(&cluster, response).await;
        }
        let versioning = parts.method == hyper::Method::GET
            && parts.uri.query().is_some_and(|q| {
                q.split('&')
                    .any(|p| p == "versioning" || p == "versioning=")
            });
        let asynchronous = parts
            .headers
            .get("x-amz-invocation-type")
            .is_some_and(|v| v.as_bytes() == b"Event");
        match target(&parts, "AWSStepFunctions") {
            Some("StopExecution") => {
                let arn = stopped::execution_arn(&body);
                let response = self.forward(self.moto, parts, body).await;
                if response.status() == StatusCode::OK
                    && let Some(arn) = arn
                {
                    self.stopped.record(arn);
                }
                return response;
            }
            Some("DescribeExecution")
                if stopped::execution_arn(&body).is_some_and(|a| self.stopped.contains(&a)) =>
            {
                let response = self.forward(self.moto, parts, body).await;
                return rewritten(response, stopped::as_aborted).await;
            }
            _ => {}
        }
        if crate::stacks::is_action(&parts, &body, "DetectStackDrift") {
            return crate::stacks::drift_detection_started();
        }
        if crate::stacks::is_action(&parts, &body, "CreateChangeSet") {
            return self.create_change_set(&region, parts, body).await;
        }
        if crate::stacks::is_action(&parts, &body, "DescribeChangeSet") {
            let form = crate::stacks::form(&body);
            let field = |k: &str| form.get(k).cloned().unwrap_or_default();
            let key = (region.clone(), field("StackName"), field("ChangeSetName"));
            let response = self.forward(self.moto, parts, body).await;
            return rewritten(response, |answer| {
                crate::stacks::change_set_not_found(answer)
                    .or_else(|| self.change_sets.describe(&key, answer))
            })
            .await;
        }
        match (invoked, self.lambda) {
            (Some(name), Some(lambda)) => self.invoke(lambda, &name, body, asynchronous).await,
            _ if versioning => {
                let response = self.forward(self.moto, parts, body).await;
                versioning_as_aws(response).await
            }
            _ => self.forward(self.moto, parts, body).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn the_target_header_names_the_operation_of_its_service_only() {
        let (parts, ()) = hyper::Request::post("/")
            .header("x-amz-target", "AWSStepFunctions.StopExecution")
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(target(&parts, "AWSStepFunctions"), Some("StopExecution"));
        assert_eq!(target(&parts, "DynamoDB_20120810"), None);
        assert_eq!(target(&parts, "AWSStep"), None);
    }
}
