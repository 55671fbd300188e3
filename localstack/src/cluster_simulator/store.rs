//! The cluster simulator's object store: objects by identity, writes that keep
//! `resourceVersion` and `generation` as an API server does, and get, list and delete.

use std::collections::BTreeMap;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::ClusterSimulator;
use super::controllers::{pods_of, settle};
use super::discovery::kind_of;
use super::server::{decode, query_value, respond, status};

/// An object's identity: API group/version, plural resource, namespace ("" when
/// cluster-scoped), name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) api: String,
    pub(crate) plural: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

pub(crate) struct Stored {
    pub(crate) object: Value,
    /// What the field manager `strata` last applied.
    pub(crate) applied: Option<Value>,
    /// Reads left before a Deployment is available or a Job finishes.
    pub(crate) reads_left: u32,
    /// The AWS resources made for a `LoadBalancer` Service: (region, ARNs and group id).
    pub(crate) load_balancer: Option<(String, LoadBalancer)>,
    /// Until when the load balancer is still being made (its hostname not yet published).
    pub(crate) load_balancer_ready: Option<std::time::Instant>,
}

impl Stored {
    /// The object as a client reads it: a load balancer still being made has no hostname.
    pub(crate) fn presented(&self) -> Value {
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
pub(crate) struct LoadBalancer {
    pub(crate) arn: String,
    pub(crate) target_group: String,
    pub(crate) security_group: String,
}

/// A scripted Job failure: the next Jobs whose spec contains `containing`.
pub(crate) struct JobFailure {
    pub(crate) containing: String,
    pub(crate) times: u32,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) clusters: BTreeMap<String, BTreeMap<Key, Stored>>,
    pub(crate) resource_version: u64,
    pub(crate) rollout_reads: u32,
    pub(crate) job_failures: Vec<JobFailure>,
    /// What the simulated controllers did, in order, for tests to assert on.
    pub(crate) events: Vec<String>,
    /// How long a new load balancer takes ([`crate::LocalStack::pace`]).
    pub(crate) load_balancer_time: std::time::Duration,
}

impl ClusterSimulator {
    pub(crate) fn get(&self, cluster: &str, key: &Key) -> Response<Full<Bytes>> {
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

    pub(crate) fn list(&self, cluster: &str, key: &Key, query: &str) -> Response<Full<Bytes>> {
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

    pub(crate) async fn delete(&self, cluster: &str, key: &Key) -> Response<Full<Bytes>> {
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
}

pub(crate) fn not_found(key: &Key) -> Response<Full<Bytes>> {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{} \"{}\" not found", key.plural, key.name),
    )
}

/// The object without what the server maintains, to tell whether a write changed anything.
pub(crate) fn without_server_fields(object: &Value) -> Value {
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

/// Stores a changed object over `stored`'s: the next resourceVersion (`version` counts
/// them), a new generation when the spec changed, and the controllers' first reaction.
pub(crate) fn write(
    key: &Key,
    stored: &mut Stored,
    mut object: Value,
    version: &mut u64,
    rollout_reads: u32,
) {
    *version += 1;
    let version = *version;
    let before = &stored.object;
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

fn labels_match(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (k, v) = term.split_once('=').unwrap_or((term, ""));
        let v = v.trim_start_matches('=');
        object["metadata"]["labels"][k].as_str() == Some(v)
    })
}
