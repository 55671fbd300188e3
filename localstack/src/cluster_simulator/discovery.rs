//! API discovery, as kubectl asks for it before any request (`/api`, `/apis`, then each
//! group version's resources): the resources the simulator serves, each once, and the
//! kind of each. A client that discovers nothing (kube-rs, which Strata's functions use)
//! never calls these.

use serde_json::{Value, json};

/// (group/version, plural, kind, namespaced): every resource the simulator serves.
pub(crate) const RESOURCES: &[(&str, &str, &str, bool)] = &[
    ("v1", "namespaces", "Namespace", false),
    ("v1", "secrets", "Secret", true),
    ("v1", "configmaps", "ConfigMap", true),
    ("v1", "serviceaccounts", "ServiceAccount", true),
    ("v1", "services", "Service", true),
    ("v1", "pods", "Pod", true),
    ("apps/v1", "deployments", "Deployment", true),
    ("batch/v1", "jobs", "Job", true),
    (
        "networking.k8s.io/v1",
        "ingressclasses",
        "IngressClass",
        false,
    ),
];

/// The kind of a served resource, by its plural.
pub(crate) fn kind_of(plural: &str) -> &'static str {
    RESOURCES
        .iter()
        .find(|(_, p, _, _)| *p == plural)
        .map_or("Unknown", |(_, _, kind, _)| kind)
}

/// The discovery document at `path` (`/clusters/<cluster>/api…`), as (cluster, body); `None`
/// when the path is not a discovery path.
pub(crate) fn document(path: &str) -> Option<(String, Value)> {
    let rest = path.strip_prefix("/clusters/")?;
    let (cluster, rest) = rest.split_once('/')?;
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let body = match segments.as_slice() {
        ["api"] => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
        }),
        ["apis"] => json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups()}),
        ["api", "v1"] => resources("v1")?,
        ["apis", group, version] => resources(&format!("{group}/{version}"))?,
        _ => return None,
    };
    Some((cluster.to_owned(), body))
}

/// The named groups (every group version but the core's).
fn groups() -> Vec<Value> {
    let mut names: Vec<&str> = RESOURCES
        .iter()
        .map(|(api, ..)| *api)
        .filter(|api| api.contains('/'))
        .collect();
    names.dedup();
    names
        .into_iter()
        .map(|api| {
            let (group, version) = api.split_once('/').expect("a named group");
            let version = json!({"groupVersion": api, "version": version});
            json!({"name": group, "versions": [version], "preferredVersion": version})
        })
        .collect()
}

fn resources(api: &str) -> Option<Value> {
    let served: Vec<Value> = RESOURCES
        .iter()
        .filter(|(a, ..)| *a == api)
        .map(|(_, plural, kind, namespaced)| {
            json!({
                "name": plural,
                "singularName": kind.to_lowercase(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": ["get", "list", "patch", "delete"],
            })
        })
        .collect();
    (!served.is_empty()).then(|| {
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api, "resources": served})
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_finds_every_served_resource_by_discovery() {
        let (cluster, apis) = document("/clusters/strata-staging/apis").unwrap();
        assert_eq!(cluster, "strata-staging");
        let groups: Vec<&str> = apis["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(groups, ["apps", "batch", "networking.k8s.io"]);
        let (_, apps) = document("/clusters/c/apis/apps/v1").unwrap();
        assert_eq!(apps["resources"][0]["kind"], "Deployment");
        let (_, core) = document("/clusters/c/api/v1").unwrap();
        assert_eq!(core["resources"].as_array().unwrap().len(), 6);
        assert!(document("/clusters/c/apis/policy/v1").is_none());
        assert!(document("/clusters/c/api/v1/namespaces").is_none());
        assert_eq!(kind_of("jobs"), "Job");
    }
}
