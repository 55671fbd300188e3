//! EKS access entries: moto 5.2.5 answers 404 to every `/clusters/{name}/access-entries…`
//! call. They are kept here, per region, cluster and principal, with the API's shapes and
//! errors (ResourceNotFoundException, ResourceInUseException), and forgotten when the
//! cluster is deleted. Not checked here: that the cluster exists (moto owns clusters).

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};

/// (region, cluster, principal).
type EntryKey = (String, String, String);
/// The entry as DescribeAccessEntry answers it, and its associated policies by ARN.
type Entry = (Value, BTreeMap<String, Value>);

#[derive(Default)]
pub struct AccessEntries {
    entries: Mutex<BTreeMap<EntryKey, Entry>>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static headers are valid")
}

/// An EKS (restJson) error.
fn eks_error(status: StatusCode, error_type: &str, message: String) -> Response<Full<Bytes>> {
    let mut response = json_response(status, &json!({ "message": message }));
    response.headers_mut().insert(
        "x-amzn-ErrorType",
        error_type.parse().expect("error types are header-safe"),
    );
    response
}

enum Route {
    /// `/clusters/{c}/access-entries`
    Entries(String),
    /// `/clusters/{c}/access-entries/{principal}`
    Entry(String, String),
    /// `/clusters/{c}/access-entries/{principal}/access-policies`
    Policies(String, String),
    /// `/clusters/{c}` (moto's; a DELETE here forgets the cluster's entries)
    Cluster(String),
}

fn parse(path: &str) -> Option<Route> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|d| d.into_owned())
    };
    let rest = path.strip_prefix("/clusters/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [cluster] => Some(Route::Cluster(decode(cluster)?)),
        [cluster, "access-entries"] => Some(Route::Entries(decode(cluster)?)),
        [cluster, "access-entries", principal] => {
            Some(Route::Entry(decode(cluster)?, decode(principal)?))
        }
        [cluster, "access-entries", principal, "access-policies"] => {
            Some(Route::Policies(decode(cluster)?, decode(principal)?))
        }
        _ => None,
    }
}

impl AccessEntries {
    /// Serves the request if it is an access-entry call; `None` sends it on to moto.
    pub fn handle(
        &self,
        method: &Method,
        path: &str,
        region: &str,
        body: &[u8],
    ) -> Option<Response<Full<Bytes>>> {
        let route = parse(path)?;
        let input: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let key = |cluster: &str, principal: &str| {
            (region.to_owned(), cluster.to_owned(), principal.to_owned())
        };
        let missing = |cluster: &str, principal: &str| {
            eks_error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                format!(
                    "The specified access entry resource {principal} in cluster {cluster} could not be found."
                ),
            )
        };
        Some(match (method, route) {
            (&Method::DELETE, Route::Cluster(cluster)) => {
                entries.retain(|(r, c, _), _| !(r == region && *c == cluster));
                return None; // moto deletes the cluster itself
            }
            (_, Route::Cluster(_)) => return None,
            (&Method::POST, Route::Entries(cluster)) => {
                let Some(principal) = input["principalArn"].as_str() else {
                    return Some(eks_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidParameterException",
                        "principalArn is required".into(),
                    ));
                };
                let k = key(&cluster, principal);
                if entries.contains_key(&k) {
                    return Some(eks_error(
                        StatusCode::CONFLICT,
                        "ResourceInUseException",
                        format!(
                            "The specified access entry resource is already in use on this cluster: {principal}"
                        ),
                    ));
                }
                let at = now();
                let entry = json!({
                    "clusterName": cluster,
                    "principalArn": principal,
                    "accessEntryArn": format!("arn:aws:eks:{region}:123456789012:access-entry/{cluster}/role/{}", principal.rsplit('/').next().unwrap_or_default()),
                    "kubernetesGroups": input.get("kubernetesGroups").cloned().unwrap_or(json!([])),
                    "tags": input.get("tags").cloned().unwrap_or(json!({})),
                    "type": input.get("type").cloned().unwrap_or(json!("STANDARD")),
                    "username": principal,
                    "createdAt": at,
                    "modifiedAt": at,
                });
                entries.insert(k, (entry.clone(), BTreeMap::new()));
                json_response(StatusCode::OK, &json!({ "accessEntry": entry }))
            }
            (&Method::GET, Route::Entries(cluster)) => {
                let arns: Vec<&String> = entries
                    .keys()
                    .filter(|(r, c, _)| r == region && *c == cluster)
                    .map(|(_, _, p)| p)
                    .collect();
                json_response(StatusCode::OK, &json!({ "accessEntries": arns }))
            }
            (&Method::GET, Route::Entry(cluster, principal)) => {
                match entries.get(&key(&cluster, &principal)) {
                    Some((entry, _)) => {
                        json_response(StatusCode::OK, &json!({ "accessEntry": entry }))
                    }
                    None => missing(&cluster, &principal),
                }
            }
            (&Method::DELETE, Route::Entry(cluster, principal)) => {
                match entries.remove(&key(&cluster, &principal)) {
                    Some(_) => json_response(StatusCode::OK, &json!({})),
                    None => missing(&cluster, &principal),
                }
            }
            (&Method::POST, Route::Policies(cluster, principal)) => {
                let Some((_, policies)) = entries.get_mut(&key(&cluster, &principal)) else {
                    return Some(missing(&cluster, &principal));
                };
                let policy = input["policyArn"].as_str().unwrap_or_default().to_owned();
                let at = now();
                let associated = json!({
                    "policyArn": policy,
                    "accessScope": input.get("accessScope").cloned().unwrap_or(json!({"type": "cluster"})),
                    "associatedAt": at,
                    "modifiedAt": at,
                });
                policies.insert(policy, associated.clone());
                json_response(
                    StatusCode::OK,
                    &json!({
                        "clusterName": cluster,
                        "principalArn": principal,
                        "associatedAccessPolicy": associated,
                    }),
                )
            }
            (&Method::GET, Route::Policies(cluster, principal)) => {
                let Some((_, policies)) = entries.get(&key(&cluster, &principal)) else {
                    return Some(missing(&cluster, &principal));
                };
                json_response(
                    StatusCode::OK,
                    &json!({
                        "clusterName": cluster,
                        "principalArn": principal,
                        "associatedAccessPolicies": policies.values().collect::<Vec<_>>(),
                    }),
                )
            }
            _ => eks_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "InvalidRequestException",
                format!("{method} is not served for {path}"),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/strata-kubernetes";

    fn status(r: &Option<Response<Full<Bytes>>>) -> Option<u16> {
        r.as_ref().map(|r| r.status().as_u16())
    }

    #[test]
    fn entries_are_created_once_described_associated_and_gone_with_their_cluster() {
        let entries = AccessEntries::default();
        let path = format!(
            "/clusters/strata-staging/access-entries/{}",
            percent_encoding::utf8_percent_encode(ROLE, percent_encoding::NON_ALPHANUMERIC)
        );
        let create = format!(r#"{{"principalArn":"{ROLE}"}}"#);
        let get = |region| entries.handle(&Method::GET, &path, region, b"");
        assert_eq!(status(&get("eu-west-1")), Some(404));
        let post = |body: &str| {
            entries.handle(
                &Method::POST,
                "/clusters/strata-staging/access-entries",
                "eu-west-1",
                body.as_bytes(),
            )
        };
        assert_eq!(status(&post(&create)), Some(200));
        assert_eq!(
            status(&post(&create)),
            Some(409),
            "a second create is refused"
        );
        assert_eq!(status(&get("eu-west-1")), Some(200));
        assert_eq!(status(&get("us-east-1")), Some(404), "entries are regional");
        let policies = format!("{path}/access-policies");
        let associate = entries.handle(
            &Method::POST,
            &policies,
            "eu-west-1",
            br#"{"policyArn":"arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy","accessScope":{"type":"cluster"}}"#,
        );
        assert_eq!(status(&associate), Some(200));
        // The cluster's own calls go on to moto; its delete forgets the entries.
        assert!(
            entries
                .handle(&Method::GET, "/clusters/strata-staging", "eu-west-1", b"")
                .is_none()
        );
        assert!(
            entries
                .handle(
                    &Method::DELETE,
                    "/clusters/strata-staging",
                    "eu-west-1",
                    b""
                )
                .is_none()
        );
        assert_eq!(status(&get("eu-west-1")), Some(404));
        assert!(
            entries
                .handle(&Method::GET, "/clusters", "eu-west-1", b"")
                .is_none()
        );
    }
}
