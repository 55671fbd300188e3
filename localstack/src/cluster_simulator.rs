//! Test infrastructure: the **cluster simulator**, a stand-in for the Kubernetes API servers
//! of the environments' EKS clusters (no API server can be installed on these machines).
//! Never part of a Lambda binary.
//!
//! It serves the subset of the API Strata calls, at `/clusters/<name>/…` (the router
//! rewrites moto's fake EKS endpoint to that URL):
//! - authentication as EKS does it: a `k8s-aws-v1.` token whose presigned GetCallerIdentity
//!   URL must be signed, with the local stack's credentials, for this cluster's name and not
//!   be expired; anything else is 401;
//! - server-side apply (`PATCH`, `application/apply-patch+yaml`, `fieldManager`): the
//!   manager's applied fields are merged over the live object, fields it applied before and
//!   no longer sends are removed, and an apply that changes nothing leaves the
//!   `resourceVersion` alone; a JSON merge patch from another manager (drift) is kept until
//!   the next apply overwrites the fields Strata owns;
//! - get, list (with `labelSelector`), delete; pods are derived from Deployments and Jobs.
//!
//! And it plays the controllers Strata relies on: a Deployment becomes available after
//! [`ClusterSimulator::set_rollout_reads`] reads, a Job completes after one read or fails
//! when [`ClusterSimulator::fail_jobs`] says so, and a Service of type `LoadBalancer` gets a
//! network load balancer, a target group and a security group in the AWS emulator, in the
//! cluster VPC's subnets tagged `kubernetes.io/role/elb`, tagged as the AWS load balancer
//! controller tags them; deleting the Service (or its namespace) deletes them.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::fidelity::element;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// An object's identity: API group/version, plural resource, namespace ("" when
/// cluster-scoped), name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    api: String,
    plural: String,
    namespace: String,
    name: String,
}

struct Stored {
    object: Value,
    /// What the field manager `strata` last applied.
    applied: Option<Value>,
    /// Reads left before a Deployment is available or a Job finishes.
    reads_left: u32,
    /// The AWS resources made for a `LoadBalancer` Service: (region, ARNs and group id).
    load_balancer: Option<(String, LoadBalancer)>,
    /// Until when the load balancer is still being made (its hostname not yet published).
    load_balancer_ready: Option<std::time::Instant>,
}

impl Stored {
    /// The object as a client reads it: a load balancer still being made has no hostname.
    fn presented(&self) -> Value {
        let mut object = self.object.clone();
        if self
            .load_balancer_ready
            .is_some_and(|ready| std::time::Instant::now() < ready)
        {
            object["status"] = json!({"loadBalancer": {}});
        }
        object
    }
}

#[derive(Debug, Clone)]
struct LoadBalancer {
    arn: String,
    target_group: String,
    security_group: String,
}

/// A scripted Job failure: the next Jobs whose spec contains `containing`.
struct JobFailure {
    containing: String,
    times: u32,
}

#[derive(Default)]
struct State {
    clusters: BTreeMap<String, BTreeMap<Key, Stored>>,
    resource_version: u64,
    rollout_reads: u32,
    job_failures: Vec<JobFailure>,
    /// What the simulated controllers did, in order, for tests to assert on.
    events: Vec<String>,
    /// How long a new load balancer takes ([`crate::LocalStack::pace`]).
    load_balancer_time: std::time::Duration,
}

pub struct ClusterSimulator {
    state: Mutex<State>,
    moto: SocketAddr,
    access_key: String,
    secret_key: String,
    client: HttpClient,
}

/// A Kubernetes `Status` error.
fn status(code: StatusCode, reason: &str, message: &str) -> Response<Full<Bytes>> {
    respond(
        code,
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code.as_u16(),
        }),
    )
}

fn respond(code: StatusCode, body: &Value) -> Response<Full<Bytes>> {
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

fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

fn decode(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned()
}

/// `20261122T085100Z` as a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
}

/// Deep merge of `patch` into `target`: maps merge, anything else is replaced.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// RFC 7386 JSON merge patch (a `null` removes the field).
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("made an object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Removes from `target` the fields `before` set and `now` no longer does.
fn prune(target: &mut Value, before: &Value, now: &Value) {
    let (Value::Object(t), Value::Object(b)) = (target, before) else {
        return;
    };
    for (k, old) in b {
        match now.get(k) {
            None => {
                t.remove(k);
            }
            Some(new) => {
                if let Some(child) = t.get_mut(k) {
                    prune(child, old, new);
                }
            }
        }
    }
}

fn labels_match(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (k, v) = term.split_once('=').unwrap_or((term, ""));
        let v = v.trim_start_matches('=');
        object["metadata"]["labels"][k].as_str() == Some(v)
    })
}

fn kind_of(plural: &str) -> &'static str {
    match plural {
        "namespaces" => "Namespace",
        "secrets" => "Secret",
        "configmaps" => "ConfigMap",
        "serviceaccounts" => "ServiceAccount",
        "services" => "Service",
        "deployments" => "Deployment",
        "jobs" => "Job",
        "pods" => "Pod",
        "ingressclasses" => "IngressClass",
        _ => "Unknown",
    }
}

impl ClusterSimulator {
    pub fn new(moto: SocketAddr, access_key: &str, secret_key: &str) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                rollout_reads: 1,
                ..State::default()
            }),
            moto,
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// How long a new load balancer takes before its hostname is published (default: none).
    pub fn set_load_balancer_time(&self, time: std::time::Duration) {
        self.lock().load_balancer_time = time;
    }

    /// How many reads a changed Deployment answers as not yet available (default 1).
    pub fn set_rollout_reads(&self, reads: u32) {
        self.lock().rollout_reads = reads;
    }

    /// The next `times` Jobs whose spec (image, command) contains `containing` fail with
    /// `BackoffLimitExceeded`.
    pub fn fail_jobs(&self, containing: &str, times: u32) {
        self.lock().job_failures.push(JobFailure {
            containing: containing.to_owned(),
            times,
        });
    }

    /// What the simulated controllers did, oldest first.
    pub fn events(&self) -> Vec<String> {
        self.lock().events.clone()
    }

    /// An object as stored, for tests (`api` as in a path: `v1`, `apps/v1`).
    pub fn object(
        &self,
        cluster: &str,
        api: &str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let key = Key {
            api: api.to_owned(),
            plural: plural.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        self.lock()
            .clusters
            .get(cluster)?
            .get(&key)
            .map(|s| s.object.clone())
    }

    /// Every object of a cluster, as `<plural>/<namespace>/<name>`.
    pub fn inventory(&self, cluster: &str) -> Vec<String> {
        self.lock()
            .clusters
            .get(cluster)
            .map(|objects| {
                objects
                    .keys()
                    .map(|k| format!("{}/{}/{}", k.plural, k.namespace, k.name))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves until the task is aborted.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let simulator = self.clone();
            tokio::spawn(async move {
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
        let Some((cluster, key)) = parse_path(parts.uri.path()) else {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the simulator does not serve this path",
            );
        };
        let token = parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
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

    /// EKS's check: the token is a presigned GetCallerIdentity for this cluster, unexpired,
    /// signed with the local stack's credentials. Answers the region it was signed for.
    fn authenticate(&self, token: Option<&str>, cluster: &str) -> Result<String, String> {
        let token = token.ok_or("no bearer token")?;
        let url = strata_kubernetes::token::decode(token).ok_or("not a k8s-aws-v1 token")?;
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let param = |name| query_value(query, name).map(decode);
        if param("Action").as_deref() != Some("GetCallerIdentity") {
            return Err("the token is not a GetCallerIdentity request".into());
        }
        let credential = param("X-Amz-Credential").ok_or("unsigned token")?;
        let region = credential
            .split('/')
            .nth(2)
            .ok_or("bad credential scope")?
            .to_owned();
        let signed_at = param("X-Amz-Date")
            .as_deref()
            .and_then(parse_amz_date)
            .ok_or("bad X-Amz-Date")?;
        let expires: u64 = param("X-Amz-Expires")
            .and_then(|e| e.parse().ok())
            .ok_or("bad X-Amz-Expires")?;
        if SystemTime::now() > signed_at + Duration::from_secs(expires) {
            return Err("the token has expired".into());
        }
        let credentials = aws_credential_types::Credentials::new(
            &self.access_key,
            &self.secret_key,
            None,
            None,
            "local-stack",
        );
        let expected =
            strata_kubernetes::token::presigned_url(&credentials, &region, cluster, signed_at)
                .map_err(|e| e.to_string())?;
        if expected != url {
            return Err(format!("the token is not signed for cluster {cluster}"));
        }
        Ok(region)
    }

    fn get(&self, cluster: &str, key: &Key) -> Response<Full<Bytes>> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(stored) = state.clusters.get_mut(cluster).and_then(|c| c.get_mut(key)) else {
            return not_found(key);
        };
        if stored.reads_left > 0 {
            stored.reads_left -= 1;
            if stored.reads_left == 0 {
                let failures = std::mem::take(&mut state.job_failures);
                state.job_failures = settle(stored, failures);
            }
        }
        respond(StatusCode::OK, &stored.presented())
    }

    fn list(&self, cluster: &str, key: &Key, query: &str) -> Response<Full<Bytes>> {
        let state = self.lock();
        let selector = query_value(query, "labelSelector")
            .map(decode)
            .unwrap_or_default();
        let objects = state.clusters.get(cluster);
        let mut items: Vec<Value> = Vec::new();
        if key.plural == "pods" {
            for (k, s) in objects.into_iter().flatten() {
                if k.namespace == key.namespace || key.namespace.is_empty() {
                    items.extend(pods_of(k, &s.object));
                }
            }
        } else {
            for (k, s) in objects.into_iter().flatten() {
                if k.api == key.api
                    && k.plural == key.plural
                    && (key.namespace.is_empty() || k.namespace == key.namespace)
                {
                    items.push(s.presented());
                }
            }
        }
        items.retain(|o| labels_match(o, &selector));
        respond(
            StatusCode::OK,
            &json!({
                "kind": format!("{}List", kind_of(&key.plural)),
                "apiVersion": key.api,
                "metadata": {"resourceVersion": state.resource_version.to_string()},
                "items": items,
            }),
        )
    }

    async fn apply(
        &self,
        cluster: &str,
        region: &str,
        key: Key,
        manager: String,
        applied: Value,
    ) -> Response<Full<Bytes>> {
        if applied["metadata"]["name"].as_str() != Some(key.name.as_str()) {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "metadata.name does not match the path",
            );
        }
        let needs_load_balancer = {
            let mut guard = self.lock();
            let state = &mut *guard;
            let objects = state.clusters.entry(cluster.to_owned()).or_default();
            if !key.namespace.is_empty() {
                let namespace = Key {
                    api: "v1".into(),
                    plural: "namespaces".into(),
                    namespace: String::new(),
                    name: key.namespace.clone(),
                };
                if !objects.contains_key(&namespace) {
                    return status(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        &format!("namespaces \"{}\" not found", key.namespace),
                    );
                }
            }
            let stored = objects.entry(key.clone()).or_insert_with(|| Stored {
                object: json!({"metadata": {}}),
                applied: None,
                reads_left: 0,
                load_balancer: None,
                load_balancer_ready: None,
            });
            let before = stored.object.clone();
            let mut object = before.clone();
            let by_strata = manager == strata_kubernetes::FIELD_MANAGER;
            if by_strata && let Some(previous) = &stored.applied {
                prune(&mut object, previous, &applied);
            }
            merge(&mut object, &applied);
            if by_strata {
                stored.applied = Some(applied);
            }
            if without_server_fields(&object) != without_server_fields(&before) {
                state.resource_version += 1;
                write(
                    &key,
                    stored,
                    object,
                    &before,
                    state.resource_version,
                    state.rollout_reads,
                );
            }
            stored.object["spec"]["type"] == "LoadBalancer" && stored.load_balancer.is_none()
        };
        self.written(cluster, region, &key, needs_load_balancer)
            .await
    }

    async fn merge_patch(
        &self,
        cluster: &str,
        region: &str,
        key: Key,
        patch: Value,
    ) -> Response<Full<Bytes>> {
        let needs_load_balancer = {
            let mut guard = self.lock();
            let state = &mut *guard;
            let Some(stored) = state
                .clusters
                .get_mut(cluster)
                .and_then(|c| c.get_mut(&key))
            else {
                return not_found(&key);
            };
            let before = stored.object.clone();
            let mut object = before.clone();
            merge_patch(&mut object, &patch);
            state.resource_version += 1;
            write(
                &key,
                stored,
                object,
                &before,
                state.resource_version,
                state.rollout_reads,
            );
            stored.object["spec"]["type"] == "LoadBalancer" && stored.load_balancer.is_none()
        };
        self.written(cluster, region, &key, needs_load_balancer)
            .await
    }

    /// The answer to a write; a new `LoadBalancer` Service gets its load balancer first.
    async fn written(
        &self,
        cluster: &str,
        region: &str,
        key: &Key,
        needs_load_balancer: bool,
    ) -> Response<Full<Bytes>> {
        if needs_load_balancer {
            self.provision_load_balancer(cluster, region, key).await;
        }
        let object = self.lock().clusters[cluster][key].presented();
        respond(StatusCode::OK, &object)
    }

    async fn delete(&self, cluster: &str, key: &Key) -> Response<Full<Bytes>> {
        let removed: Vec<(Key, Stored)> = {
            let mut state = self.lock();
            let Some(objects) = state.clusters.get_mut(cluster) else {
                return not_found(key);
            };
            if !objects.contains_key(key) {
                return not_found(key);
            }
            // A namespace takes everything in it.
            let doomed: Vec<Key> = objects
                .keys()
                .filter(|k| {
                    *k == key
                        || (key.plural == "namespaces"
                            && key.namespace.is_empty()
                            && k.namespace == key.name)
                })
                .cloned()
                .collect();
            doomed
                .into_iter()
                .filter_map(|k| objects.remove(&k).map(|s| (k, s)))
                .collect()
        };
        let mut answer = Value::Null;
        for (k, stored) in removed {
            if let Some((region, lb)) = &stored.load_balancer {
                self.release_load_balancer(cluster, region, &k, lb).await;
            }
            if &k == key {
                answer = stored.object;
            }
        }
        respond(StatusCode::OK, &answer)
    }

    fn event(&self, text: String) {
        self.lock().events.push(text);
    }

    /// What the AWS load balancer controller does for a `LoadBalancer` Service: an NLB in
    /// the cluster VPC's public subnets, with its target group and security group.
    async fn provision_load_balancer(&self, cluster: &str, region: &str, key: &Key) {
        let described = self
            .moto_rest_get("eks", region, &format!("/clusters/{cluster}"))
            .await;
        // moto echoes the request's VPC config, which names subnets only: the VPC is theirs.
        let subnet = described.as_ref().and_then(|d| {
            d["cluster"]["resourcesVpcConfig"]["subnetIds"][0]
                .as_str()
                .map(str::to_owned)
        });
        let vpc = match subnet {
            Some(subnet) => element(
                &self
                    .moto_query(
                        "ec2",
                        region,
                        format!("Action=DescribeSubnets&Version=2016-11-15&SubnetId.1={subnet}"),
                    )
                    .await,
                "vpcId",
            ),
            None => None,
        };
        let Some(vpc) = vpc else {
            self.event(format!(
                "service {}/{}: cluster {cluster} has no VPC",
                key.namespace, key.name
            ));
            return;
        };
        let subnets = self
            .moto_query(
                "ec2",
                region,
                format!(
                    "Action=DescribeSubnets&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1={vpc}&Filter.2.Name=tag-key&Filter.2.Value.1=kubernetes.io/role/elb"
                ),
            )
            .await;
        let subnet_ids: Vec<String> = subnets
            .split("<subnetId>")
            .skip(1)
            .filter_map(|s| s.split("</subnetId>").next().map(str::to_owned))
            .collect();
        if subnet_ids.is_empty() {
            self.event(format!(
                "service {}/{}: no subnet tagged kubernetes.io/role/elb in {vpc}",
                key.namespace, key.name
            ));
            return;
        }
        let name = load_balancer_name(&key.namespace, &key.name);
        let stack = format!("{}/{}", key.namespace, key.name);
        let tags = [
            ("elbv2.k8s.aws/cluster", cluster),
            ("service.k8s.aws/stack", stack.as_str()),
            ("service.k8s.aws/resource", "LoadBalancer"),
        ];
        let tag_form = |prefix: &str| {
            tags.iter()
                .enumerate()
                .map(|(i, (k, v))| {
                    format!("&{prefix}.{n}.Key={k}&{prefix}.{n}.Value={v}", n = i + 1)
                })
                .collect::<String>()
        };
        let group = self
            .moto_query(
                "ec2",
                region,
                format!(
                    "Action=CreateSecurityGroup&Version=2016-11-15&GroupName={name}&GroupDescription=%5Bk8s%5D%20Managed%20SecurityGroup%20for%20LoadBalancer&VpcId={vpc}&TagSpecification.1.ResourceType=security-group{}",
                    tag_form("TagSpecification.1.Tag")
                ),
            )
            .await;
        let subnet_form: String = subnet_ids
            .iter()
            .enumerate()
            .map(|(i, s)| format!("&Subnets.member.{}={s}", i + 1))
            .collect();
        let created = self
            .moto_query(
                "elasticloadbalancing",
                region,
                format!(
                    "Action=CreateLoadBalancer&Version=2015-12-01&Name={name}&Type=network&Scheme=internet-facing{subnet_form}{}",
                    tag_form("Tags.member")
                ),
            )
            .await;
        let port = key_port(&self.lock(), cluster, key);
        let target = self
            .moto_query(
                "elasticloadbalancing",
                region,
                format!(
                    "Action=CreateTargetGroup&Version=2015-12-01&Name={name}&Protocol=TCP&Port={port}&VpcId={vpc}&TargetType=ip{}",
                    tag_form("Tags.member")
                ),
            )
            .await;
        let (Some(arn), Some(hostname)) = (
            element(&created, "LoadBalancerArn"),
            element(&created, "DNSName"),
        ) else {
            self.event(format!(
                "service {stack}: CreateLoadBalancer failed: {created}"
            ));
            return;
        };
        let lb = LoadBalancer {
            arn,
            target_group: element(&target, "TargetGroupArn").unwrap_or_default(),
            security_group: element(&group, "groupId").unwrap_or_default(),
        };
        let mut state = self.lock();
        state
            .events
            .push(format!("service {stack}: load balancer {name} created"));
        let ready = std::time::Instant::now() + state.load_balancer_time;
        if let Some(stored) = state.clusters.get_mut(cluster).and_then(|c| c.get_mut(key)) {
            stored.object["status"] =
                json!({"loadBalancer": {"ingress": [{"hostname": hostname}]}});
            stored.load_balancer = Some((region.to_owned(), lb));
            stored.load_balancer_ready = Some(ready);
        }
    }

    /// The controller's finalizer: the load balancer and what came with it go first.
    async fn release_load_balancer(
        &self,
        cluster: &str,
        region: &str,
        key: &Key,
        lb: &LoadBalancer,
    ) {
        self.moto_query(
            "elasticloadbalancing",
            region,
            format!(
                "Action=DeleteLoadBalancer&Version=2015-12-01&LoadBalancerArn={}",
                lb.arn
            ),
        )
        .await;
        self.moto_query(
            "elasticloadbalancing",
            region,
            format!(
                "Action=DeleteTargetGroup&Version=2015-12-01&TargetGroupArn={}",
                lb.target_group
            ),
        )
        .await;
        self.moto_query(
            "ec2",
            region,
            format!(
                "Action=DeleteSecurityGroup&Version=2016-11-15&GroupId={}",
                lb.security_group
            ),
        )
        .await;
        self.event(format!(
            "service {}/{}: load balancer of cluster {cluster} deleted",
            key.namespace, key.name
        ));
    }

    async fn moto_query(&self, service: &str, region: &str, form: String) -> String {
        let request = Request::post(format!("http://{}/", self.moto))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                hyper::header::AUTHORIZATION,
                crate::fidelity::moto_authorization(service, region),
            )
            .body(Full::new(Bytes::from(form)))
            .expect("a static request is well-formed");
        self.send(request).await.unwrap_or_default()
    }

    async fn moto_rest_get(&self, service: &str, region: &str, path: &str) -> Option<Value> {
        let request = Request::get(format!("http://{}{path}", self.moto))
            .header(
                hyper::header::AUTHORIZATION,
                crate::fidelity::moto_authorization(service, region),
            )
            .body(Full::new(Bytes::new()))
            .expect("a static request is well-formed");
        serde_json::from_str(&self.send(request).await?).ok()
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Option<String> {
        let response = self.client.request(request).await.ok()?;
        let body = response.into_body().collect().await.ok()?;
        Some(String::from_utf8_lossy(&body.to_bytes()).into_owned())
    }
}

fn not_found(key: &Key) -> Response<Full<Bytes>> {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{} \"{}\" not found", key.plural, key.name),
    )
}

/// The object without what the server maintains, to tell whether a write changed anything.
fn without_server_fields(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(metadata) = copy["metadata"].as_object_mut() {
        for field in [
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
            "managedFields",
        ] {
            metadata.remove(field);
        }
    }
    if let Some(map) = copy.as_object_mut() {
        map.remove("status");
    }
    copy
}

/// Stores a changed object: a new resourceVersion, a new generation when the spec changed,
/// and the controllers' first reaction.
fn write(
    key: &Key,
    stored: &mut Stored,
    mut object: Value,
    before: &Value,
    version: u64,
    rollout_reads: u32,
) {
    let created = before["metadata"]["uid"].is_null();
    let generation = before["metadata"]["generation"].as_u64().unwrap_or(0);
    let spec_changed = created || object["spec"] != before["spec"];
    let metadata = &mut object["metadata"];
    metadata["resourceVersion"] = json!(version.to_string());
    metadata["generation"] = json!(if spec_changed {
        generation + 1
    } else {
        generation.max(1)
    });
    if created {
        metadata["uid"] = json!(format!("sim-{version:08}"));
        metadata["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    if !key.namespace.is_empty() {
        metadata["namespace"] = json!(key.namespace);
    }
    object["apiVersion"] = json!(key.api);
    object["kind"] = json!(kind_of(&key.plural));
    if spec_changed {
        match key.plural.as_str() {
            "deployments" => {
                let replicas = object["spec"]["replicas"].as_u64().unwrap_or(1);
                object["status"] = json!({
                    "observedGeneration": object["metadata"]["generation"],
                    "replicas": replicas, "updatedReplicas": replicas,
                    "readyReplicas": 0, "availableReplicas": 0,
                    "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}],
                });
                stored.reads_left = rollout_reads;
            }
            "jobs" if created => {
                object["status"] = json!({"active": 1});
                stored.reads_left = 1;
            }
            _ => {}
        }
    }
    if key.plural == "services" && object["spec"]["type"] != "LoadBalancer" {
        object["status"] = json!({"loadBalancer": {}});
    } else if key.plural == "services" {
        object["status"] = before["status"].clone();
    }
    stored.object = object;
    if key.plural == "deployments" && spec_changed && rollout_reads == 0 {
        settle(stored, Vec::new());
    }
}

/// The controllers finish what `write` started: a Deployment is available, a Job ends.
/// Answers the job failures not used up.
fn settle(stored: &mut Stored, mut failures: Vec<JobFailure>) -> Vec<JobFailure> {
    let object = &mut stored.object;
    match object["kind"].as_str() {
        Some("Deployment") => {
            let replicas = object["spec"]["replicas"].as_u64().unwrap_or(1);
            object["status"]["readyReplicas"] = json!(replicas);
            object["status"]["availableReplicas"] = json!(replicas);
            object["status"]["conditions"] = json!([{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]);
        }
        Some("Job") => {
            let spec = object["spec"].to_string();
            let failure = failures
                .iter_mut()
                .find(|f| f.times > 0 && spec.contains(&f.containing));
            object["status"] = if let Some(failure) = failure {
                failure.times -= 1;
                json!({"failed": 1, "conditions": [{
                    "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }]})
            } else {
                json!({"succeeded": 1, "completionTime": "2026-01-01T00:00:01Z", "conditions": [{
                    "type": "Complete", "status": "True",
                }]})
            };
        }
        _ => {}
    }
    failures.retain(|f| f.times > 0);
    failures
}

/// The pods a Deployment or a running Job has.
fn pods_of(key: &Key, object: &Value) -> Vec<Value> {
    let (count, template) = match key.plural.as_str() {
        "deployments" => (
            object["spec"]["replicas"].as_u64().unwrap_or(1),
            &object["spec"]["template"],
        ),
        "jobs" if object["status"]["active"].as_u64().unwrap_or(0) > 0 => {
            (1, &object["spec"]["template"])
        }
        _ => return Vec::new(),
    };
    (0..count)
        .map(|i| {
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": format!("{}-{i}", key.name),
                    "namespace": key.namespace,
                    "labels": template["metadata"]["labels"],
                },
                "spec": template["spec"],
                "status": {"phase": "Running"},
            })
        })
        .collect()
}

/// The target port of a Service's first port.
fn key_port(state: &State, cluster: &str, key: &Key) -> u64 {
    state.clusters[cluster][key].object["spec"]["ports"][0]["port"]
        .as_u64()
        .unwrap_or(80)
}

/// `k8s-<namespace>-<service>-<hash>`, at most 32 characters, as the controller names them.
fn load_balancer_name(namespace: &str, service: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for b in format!("{namespace}/{service}").bytes() {
        hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let short = |s: &str| s.chars().take(8).collect::<String>();
    format!("k8s-{}-{}-{hash:08x}", short(namespace), short(service))
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

    #[test]
    fn apply_prunes_what_the_manager_stopped_sending_and_keeps_the_rest() {
        let mut live = json!({"spec": {"replicas": 3, "paused": true, "selector": {"app": "ui"}}});
        let before = json!({"spec": {"replicas": 2, "paused": true}});
        let now = json!({"spec": {"replicas": 2}});
        prune(&mut live, &before, &now);
        merge(&mut live, &now);
        assert_eq!(
            live,
            json!({"spec": {"replicas": 2, "selector": {"app": "ui"}}})
        );
    }

    #[test]
    fn amz_dates_parse() {
        assert_eq!(
            parse_amz_date("19700102T000001Z"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(86_401))
        );
        assert_eq!(
            parse_amz_date("20261122T085100Z")
                .unwrap()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_795_337_460
        );
    }

    #[test]
    fn load_balancer_names_fit_elbv2() {
        let name = load_balancer_name("a-very-long-namespace", "a-very-long-service");
        assert!(name.len() <= 32, "{name}");
        assert!(name.starts_with("k8s-a-very-l-a-very-l-"));
    }
}
