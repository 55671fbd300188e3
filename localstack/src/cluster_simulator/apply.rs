//! The cluster simulator's server-side apply and merge patch: a field manager's applied
//! fields merged over the live object, the fields it stopped sending pruned.

use std::collections::BTreeMap;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::ClusterSimulator;
use super::server::{respond, status};
use super::store::{Key, Stored, not_found, without_server_fields, write};

/// Every cluster's objects, by cluster name.
type Clusters = BTreeMap<String, BTreeMap<Key, Stored>>;

impl ClusterSimulator {
    pub(crate) async fn apply(
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
        self.change(cluster, region, &key, |clusters| {
            let objects = clusters.entry(cluster.to_owned()).or_default();
            if !key.namespace.is_empty() {
                let namespace = Key {
                    api: "v1".into(),
                    plural: "namespaces".into(),
                    namespace: String::new(),
                    name: key.namespace.clone(),
                };
                if !objects.contains_key(&namespace) {
                    return Err(Box::new(status(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        &format!("namespaces \"{}\" not found", key.namespace),
                    )));
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
            let changed = without_server_fields(&object) != without_server_fields(&before);
            Ok((stored, changed.then_some(object)))
        })
        .await
    }

    pub(crate) async fn merge_patch(
        &self,
        cluster: &str,
        region: &str,
        key: Key,
        patch: Value,
    ) -> Response<Full<Bytes>> {
        self.change(cluster, region, &key, |clusters| {
            let Some(stored) = clusters.get_mut(cluster).and_then(|c| c.get_mut(&key)) else {
                return Err(Box::new(not_found(&key)));
            };
            let mut object = stored.object.clone();
            merge_patch(&mut object, &patch);
            Ok((stored, Some(object)))
        })
        .await
    }

    /// A write of `key`'s object in `cluster`: `change` finds (or makes) it among the
    /// clusters' objects and answers the object to store over it (`None`: nothing changed),
    /// or the answer refusing the write. Then the answer to the write; a new `LoadBalancer`
    /// Service gets its load balancer first.
    async fn change(
        &self,
        cluster: &str,
        region: &str,
        key: &Key,
        change: impl FnOnce(
            &mut Clusters,
        ) -> Result<(&mut Stored, Option<Value>), Box<Response<Full<Bytes>>>>,
    ) -> Response<Full<Bytes>> {
        let needs_load_balancer = {
            let mut guard = self.lock();
            let state = &mut *guard;
            let (stored, object) = match change(&mut state.clusters) {
                Ok(changed) => changed,
                Err(refused) => return *refused,
            };
            if let Some(object) = object {
                write(
                    key,
                    stored,
                    object,
                    &mut state.resource_version,
                    state.rollout_reads,
                );
            }
            stored.object["spec"]["type"] == "LoadBalancer" && stored.load_balancer.is_none()
        };
        if needs_load_balancer {
            self.provision_load_balancer(cluster, region, key).await;
        }
        let object = self.lock().clusters[cluster][key].presented();
        respond(StatusCode::OK, &object)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
