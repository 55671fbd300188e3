//! Test infrastructure: the **cluster simulator**, a stand-in for the Kubernetes API servers
//! of the environments' EKS clusters (no API server can be installed on these machines).
//! Never part of a Lambda binary.
//!
//! It serves the subset of the API Strata calls, over HTTPS as EKS does (a certificate made
//! at start, which DescribeCluster's `certificateAuthority` carries: kubectl sends no
//! credentials over plain HTTP), at `/clusters/<name>/…` (the router rewrites moto's fake
//! EKS endpoint to that URL):
//! - authentication as EKS does it: a `k8s-aws-v1.` token whose presigned GetCallerIdentity
//!   URL must be signed, with the local stack's credentials, for this cluster's name and not
//!   be expired; anything else is 401;
//! - server-side apply (`PATCH`, `application/apply-patch+yaml`, `fieldManager`): the
//!   manager's applied fields are merged over the live object, fields it applied before and
//!   no longer sends are removed, and an apply that changes nothing leaves the
//!   `resourceVersion` alone; a JSON merge patch from another manager (drift) is kept until
//!   the next apply overwrites the fields Strata owns;
//! - get, list (with `labelSelector`), delete; pods are derived from Deployments and Jobs;
//! - discovery (`/api`, `/apis`, each group version's resources), as kubectl needs it.
//!
//! And it plays the controllers Strata relies on: a Deployment becomes available after
//! [`ClusterSimulator::set_rollout_reads`] reads, a Job completes after one read or fails
//! when [`ClusterSimulator::fail_jobs`] says so, and a Service of type `LoadBalancer` gets a
//! network load balancer, a target group and a security group in the AWS emulator, in the
//! cluster VPC's subnets tagged `kubernetes.io/role/elb`, tagged as the AWS load balancer
//! controller tags them; deleting the Service (or its namespace) deletes them.
//!
//! Here: the simulator and its public API for the local stack and the tests. The HTTP side
//! is `server`, EKS authentication `auth`, the object store `store`, server-side apply
//! `apply`, discovery `discovery`, its certificate `tls`, and the simulated controllers
//! `controllers`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

mod apply;
mod auth;
mod controllers;
mod discovery;
mod server;
mod store;
mod tls;

use store::{JobFailure, Key, State};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub struct ClusterSimulator {
    state: Mutex<State>,
    moto: SocketAddr,
    access_key: String,
    secret_key: String,
    client: HttpClient,
    tls: tls::Tls,
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
            tls: tls::Tls::new(),
        })
    }

    /// The PEM certificate its HTTPS answers with, as EKS's `certificateAuthority.data`
    /// carries it (base64 of the PEM): a client trusts the simulator with it alone.
    pub fn certificate_authority(&self) -> String {
        aws_smithy_types::base64::encode(self.tls.certificate_pem.as_bytes())
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

    fn event(&self, text: String) {
        self.lock().events.push(text);
    }
}
