//! The router: the one AWS endpoint of the local stack. Lambda Invoke goes to
//! `cargo lambda watch`, with AWS Lambda's error semantics restored; everything else goes to
//! moto. moto's Step Functions interpreter sends its Lambda calls here too (MOTO_PORT).
//! What moto lacks and the handlers need is served by the [`crate::fidelity`] layer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::chaos::{ChaosLayer, Verdict};
use crate::fidelity::{
    AccessEntries, Delays, DependencyCheck, Faults, deleted_nat_gateway,
    drop_kept_automated_backups, element, nat_gateway_token, signed_region,
};
use crate::iam::{Iam, peer_binary};
use crate::stopped::{self, Stopped};

pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub struct Router {
    moto: SocketAddr,
    lambda: Option<SocketAddr>,
    /// The cluster simulator, which stands in for every EKS cluster's API server.
    simulator: SocketAddr,
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

/// A connection closed on purpose, without an answer.
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault matrix")
    }
}

impl std::error::Error for Dropped {}

const INVOKE_PREFIX: &str = "/2015-03-31/functions/";
const INVOKE_SUFFIX: &str = "/invocations";

/// The function name in an Invoke path, which may carry a name, a URL-encoded ARN, or
/// either with a `:qualifier`.
pub fn function_name(path: &str) -> Option<String> {
    let encoded = path
        .strip_prefix(INVOKE_PREFIX)?
        .strip_suffix(INVOKE_SUFFIX)?;
    let decoded = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()?
        .into_owned();
    let name = match decoded.split_once(":function:") {
        Some((_, rest)) => rest.to_owned(),
        None => decoded,
    };
    let name = name.split(':').next().unwrap_or_default();
    (!name.is_empty() && !name.contains('/')).then(|| name.to_owned())
}

impl Router {
    pub fn new(
        moto: SocketAddr,
        lambda: Option<SocketAddr>,
        simulator: SocketAddr,
        iam: Iam,
    ) -> Arc<Self> {
        Arc::new(Self {
            iam,
            moto,
            lambda,
            simulator,
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
        if let Some(refused) = caller.and_then(|binary| self.iam.check(binary, &parts, &body)) {
            return Ok(refused);
        }
        let function = caller.filter(|binary| self.iam.knows(binary));
        match function.and_then(|binary| self.chaos.on_call(binary, &parts, &body)) {
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

    /// Answers a request: the tests' faults and delays, the mends of moto's gaps, Lambda
    /// invocations, and moto for the rest.
    async fn answer_at_once(
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
            (Some(name), Some(lambda)) if asynchronous => self.invoke_async(lambda, &name, body),
            (Some(name), Some(lambda)) => self.invoke(lambda, &name, body).await,
            _ if versioning => {
                let response = self.forward(self.moto, parts, body).await;
                versioning_as_aws(response).await
            }
            _ => self.forward(self.moto, parts, body).await,
        }
    }

    /// CreateChangeSet, with the changes of an UPDATE change set worked out from the stack's
    /// template and parameters as they stand (read from moto first) and the change set's.
    async fn create_change_set(
        &self,
        region: &str,
        parts: hyper::http::request::Parts,
        body: Bytes,
    ) -> Response<Full<Bytes>> {
        let form = crate::stacks::form(&body);
        let field = |k: &str| form.get(k).cloned().unwrap_or_default();
        let stack = field("StackName");
        let update = form.get("ChangeSetType").is_none_or(|t| t == "UPDATE");
        let encoded: String =
            percent_encoding::utf8_percent_encode(&stack, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let before = match update {
            true => {
                let template = self
                    .moto_query(
                        "cloudformation",
                        region,
                        format!("Action=GetTemplate&Version=2010-05-15&StackName={encoded}&TemplateStage=Original"),
                    )
                    .await
                    .and_then(|xml| crate::stacks::xml_texts(&xml, "TemplateBody").pop());
                let described = self
                    .moto_query(
                        "cloudformation",
                        region,
                        format!("Action=DescribeStacks&Version=2010-05-15&StackName={encoded}"),
                    )
                    .await
                    .unwrap_or_default();
                let parameters: std::collections::BTreeMap<String, String> =
                    crate::stacks::xml_texts(&described, "ParameterKey")
                        .into_iter()
                        .zip(crate::stacks::xml_texts(&described, "ParameterValue"))
                        .collect();
                template.map(|t| (t, parameters))
            }
            false => None,
        };
        let response = self.forward(self.moto, parts, body).await;
        if response.status() == StatusCode::OK
            && let (Some((template, parameters)), Some(new)) = (before, form.get("TemplateBody"))
        {
            let changes = crate::stacks::changes(
                (&template, &parameters),
                (new, &crate::stacks::form_parameters(&form)),
            );
            self.change_sets
                .record((region.to_owned(), stack, field("ChangeSetName")), changes);
        }
        response
    }

    /// DescribeCluster with the cluster's API server at the simulator: moto's endpoint is
    /// a made-up public name, the same for every cluster.
    async fn point_at_simulator(
        &self,
        cluster: &str,
        response: Response<Full<Bytes>>,
    ) -> Response<Full<Bytes>> {
        let (mut head, body) = response.into_parts();
        // `forward` answers with a body already in memory: collecting it cannot fail.
        let Ok(bytes) = body.collect().await.map(|b| b.to_bytes());
        let Ok(mut described) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return Response::from_parts(head, Full::new(bytes));
        };
        if described["cluster"]["endpoint"].is_string() {
            described["cluster"]["endpoint"] =
                format!("http://{}/clusters/{cluster}", self.simulator).into();
        }
        head.headers.remove(hyper::header::CONTENT_LENGTH);
        head.headers.remove("x-amz-crc32");
        Response::from_parts(head, Full::new(Bytes::from(described.to_string())))
    }

    /// One EC2 query-protocol call to moto, signed for `region` (moto reads the scope only).
    async fn ec2_query(&self, region: &str, form: String) -> Option<String> {
        self.moto_query("ec2", region, form).await
    }

    async fn moto_query(&self, service: &str, region: &str, form: String) -> Option<String> {
        let request = Request::post(format!("http://{}/", self.moto))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                hyper::header::AUTHORIZATION,
                crate::fidelity::moto_authorization(service, region),
            )
            .body(Full::new(Bytes::from(form)))
            .expect("a static request is well-formed");
        let response = self.client.request(request).await.ok()?;
        let body = response.into_body().collect().await.ok()?;
        Some(String::from_utf8_lossy(&body.to_bytes()).into_owned())
    }

    /// DeleteNatGateway as on AWS: the gateway's network interface goes with it (moto keeps
    /// it, and it would then block DeleteSubnet).
    /// CreateNatGateway with AWS's idempotency: the first answer for a token is kept and
    /// given again for a repeat (a retry after a lost response), which moto would answer
    /// with a second gateway.
    async fn create_nat_gateway(
        &self,
        token: String,
        parts: hyper::http::request::Parts,
        body: Bytes,
    ) -> Response<Full<Bytes>> {
        let answered = |bytes: &Bytes| {
            Response::builder()
                .header("content-type", "text/xml")
                .body(Full::new(bytes.clone()))
                .expect("static headers are valid")
        };
        if let Some(first) = self
            .nat_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&token)
        {
            return answered(first);
        }
        let response = self.forward(self.moto, parts, body).await;
        if !response.status().is_success() {
            return response;
        }
        let (head, body) = response.into_parts();
        let Ok(bytes) = body.collect().await.map(|b| b.to_bytes());
        self.nat_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token, bytes.clone());
        Response::from_parts(head, Full::new(bytes))
    }

    async fn delete_nat_gateway(
        &self,
        nat: &str,
        region: &str,
        parts: hyper::http::request::Parts,
        body: Bytes,
    ) -> Response<Full<Bytes>> {
        let described = self
            .ec2_query(
                region,
                format!("Action=DescribeNatGateways&Version=2016-11-15&NatGatewayId.1={nat}"),
            )
            .await
            .unwrap_or_default();
        let response = self.forward(self.moto, parts, body).await;
        // AWS frees the gateway's Elastic IP with it; moto keeps it associated, so a new
        // gateway on the same address (a wake) would be refused.
        if response.status().is_success()
            && let Some(association) = element(&described, "associationId")
        {
            self.ec2_query(
                region,
                format!(
                    "Action=DisassociateAddress&Version=2016-11-15&AssociationId={association}"
                ),
            )
            .await;
        }
        if response.status().is_success()
            && let Some(eni) = element(&described, "networkInterfaceId")
        {
            self.ec2_query(
                region,
                format!(
                    "Action=DeleteNetworkInterface&Version=2016-11-15&NetworkInterfaceId={eni}"
                ),
            )
            .await;
        }
        response
    }

    /// AWS's DependencyViolation for a DeleteVpc/DeleteSubnet whose dependents remain.
    async fn refuse_while_dependents(
        &self,
        check: &DependencyCheck,
        region: &str,
    ) -> Option<Response<Full<Bytes>>> {
        for query in check.queries() {
            let Some(answer) = self
                .moto_query(query.service, region, query.form.clone())
                .await
            else {
                continue;
            };
            if check.found(&query, &answer) {
                return Some(check.refusal(query.what));
            }
        }
        None
    }

    async fn forward(
        &self,
        to: SocketAddr,
        parts: hyper::http::request::Parts,
        body: Bytes,
    ) -> Response<Full<Bytes>> {
        forward(&self.client, to, parts, body).await
    }

    fn request_id(&self) -> String {
        format!(
            "strata-local-{:012}",
            self.request_ids.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// An asynchronous invocation (`X-Amz-Invocation-Type: Event`), as Lambda does it:
    /// 202 at once, the function runs afterwards and its result goes nowhere (its failure
    /// only to the log: the local stack has no on-failure destination).
    fn invoke_async(&self, lambda: SocketAddr, name: &str, body: Bytes) -> Response<Full<Bytes>> {
        let request_id = self.request_id();
        let client = self.client.clone();
        let request = invocation(lambda, name, body);
        let (name, id) = (name.to_owned(), request_id.clone());
        tokio::spawn(async move {
            match client.request(request).await {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => eprintln!(
                    "local stack: asynchronous invocation {id} of {name} failed: HTTP {}",
                    response.status()
                ),
                Err(e) => eprintln!("local stack: asynchronous invocation {id} of {name}: {e}"),
            }
        });
        Response::builder()
            .status(StatusCode::ACCEPTED)
            .header("x-amzn-RequestId", &request_id)
            .body(Full::new(Bytes::new()))
            .expect("static headers are valid")
    }

    /// Invokes through cargo-lambda and answers as AWS Lambda does: a function error is
    /// HTTP 200 with `X-Amz-Function-Error: Unhandled` and the handler's own errorType.
    async fn invoke(&self, lambda: SocketAddr, name: &str, body: Bytes) -> Response<Full<Bytes>> {
        let request_id = self.request_id();
        let dies = self.crashes.dies(name, &body, &request_id);
        let (status, payload) = match self.client.request(invocation(lambda, name, body)).await {
            Ok(response) => {
                let status = response.status();
                match response.into_body().collect().await {
                    Ok(b) => (status, b.to_bytes()),
                    Err(e) => {
                        return service_error(&request_id, "ServiceException", &e.to_string());
                    }
                }
            }
            Err(e) => return service_error(&request_id, "ServiceException", &e.to_string()),
        };
        let builder = Response::builder()
            .header("content-type", "application/json")
            .header("x-amzn-RequestId", &request_id)
            .header("X-Amz-Executed-Version", "$LATEST");
        if let Some(lost) = dies.filter(|_| status != StatusCode::NOT_FOUND) {
            return builder
                .status(StatusCode::OK)
                .header("X-Amz-Function-Error", "Unhandled")
                .body(Full::new(Bytes::from(lost)))
                .expect("static headers are valid");
        }
        match status {
            StatusCode::OK => builder.status(StatusCode::OK).body(Full::new(payload)),
            StatusCode::NOT_FOUND => {
                return service_error(
                    &request_id,
                    "ResourceNotFoundException",
                    &format!("Function not found: {name}"),
                );
            }
            _ => {
                // cargo-lambda answers 500 with the handler's {errorType, errorMessage}.
                let is_function_error = serde_json::from_slice::<serde_json::Value>(&payload)
                    .is_ok_and(|v| v.get("errorType").is_some());
                if !is_function_error {
                    let text = String::from_utf8_lossy(&payload).into_owned();
                    return service_error(&request_id, "ServiceException", &text);
                }
                builder
                    .status(StatusCode::OK)
                    .header("X-Amz-Function-Error", "Unhandled")
                    .body(Full::new(payload))
            }
        }
        .expect("static headers are valid")
    }
}

/// `POST` to cargo-lambda's invoke endpoint for `name`.
pub(crate) fn invocation(lambda: SocketAddr, name: &str, body: Bytes) -> Request<Full<Bytes>> {
    Request::post(format!(
        "http://{lambda}{INVOKE_PREFIX}{name}{INVOKE_SUFFIX}"
    ))
    .header("content-type", "application/json")
    .body(Full::new(body))
    .expect("a static request is well-formed")
}

/// The cluster a DescribeCluster path (`/clusters/<name>`) names.
fn described_cluster(path: &str) -> Option<String> {
    let name = path.strip_prefix("/clusters/")?;
    (!name.is_empty() && !name.contains('/')).then(|| name.to_owned())
}

pub(crate) fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response
}

/// A Lambda service (not function) error, as the Lambda API reports it.
fn service_error(request_id: &str, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    let status = if error_type == "ResourceNotFoundException" {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-RequestId", request_id)
        .header("x-amzn-ErrorType", error_type)
        .body(Full::new(Bytes::from(
            serde_json::json!({"Type": "Service", "message": message}).to_string(),
        )))
        .expect("static headers are valid")
}

/// GetBucketVersioning as S3 answers it: moto's root element is
/// `GetBucketVersioningResponse`, which the SDK refuses; S3's is `VersioningConfiguration`.
async fn versioning_as_aws(response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    rewritten(response, |bytes| {
        let text = String::from_utf8_lossy(bytes)
            .replace("GetBucketVersioningResponse", "VersioningConfiguration");
        Some(Bytes::from(text))
    })
    .await
}

/// The response with its body rewritten by `rewrite` (kept when it answers `None`).
async fn rewritten(
    response: Response<Full<Bytes>>,
    rewrite: impl FnOnce(&[u8]) -> Option<Bytes>,
) -> Response<Full<Bytes>> {
    let (mut head, body) = response.into_parts();
    // `forward` answers with a body already in memory: collecting it cannot fail.
    let Ok(bytes) = body.collect().await.map(|b| b.to_bytes());
    let body = rewrite(&bytes).unwrap_or(bytes);
    head.headers.remove(hyper::header::CONTENT_LENGTH);
    // moto's checksum would no longer match a rewritten body.
    head.headers.remove("x-amz-crc32");
    Response::from_parts(head, Full::new(body))
}

#[cfg(test)]
mod tests {
    use super::{function_name, target};

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

    #[test]
    fn invoke_paths_name_the_function() {
        for (path, expected) in [
            (
                "/2015-03-31/functions/lifecycle/invocations",
                Some("lifecycle"),
            ),
            (
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Alifecycle/invocations",
                Some("lifecycle"),
            ),
            (
                "/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:lifecycle:$LATEST/invocations",
                Some("lifecycle"),
            ),
            ("/2015-03-31/functions/lifecycle/configuration", None),
            ("/2015-03-31/functions//invocations", None),
            ("/", None),
        ] {
            assert_eq!(function_name(path).as_deref(), expected, "{path}");
        }
    }
}
