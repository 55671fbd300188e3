//! AWS's real durations, played on a scaled clock. moto makes an EKS cluster, a node group, an
//! RDS instance, a NAT gateway or a Route 53 change at once; AWS takes minutes. With a pace
//! set ([`crate::LocalStack::pace`]) the router remembers when each such resource was made
//! and, until its duration (scaled) has passed, answers its describe as AWS would while it
//! is still being made: `CREATING`, `creating`, `pending`, `PENDING`. The cluster simulator
//! holds back a new load balancer's hostname the same way. The bench runs `up` at the
//! deployed poll interval on the same scaled clock, so its polls, state transitions and
//! makespan are those of a real create, in seconds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Response};
use strata_core::Awaited;

/// How long AWS takes to make each slow resource.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Durations {
    pub cluster: Duration,
    pub node_group: Duration,
    pub database: Duration,
    pub nat_gateway: Duration,
    pub load_balancer: Duration,
    pub dns_change: Duration,
}

impl Durations {
    /// Typical creates on AWS, as the handlers expect them ([`strata_core::Awaited`]): an
    /// EKS control plane about 12 minutes, a managed node group 3, an RDS instance 6, a NAT
    /// gateway 2, a network load balancer 3, a Route 53 change 60 s.
    pub fn aws() -> Self {
        Self {
            cluster: Awaited::ClusterCreate.typical(),
            node_group: Awaited::NodeGroupCreate.typical(),
            database: Awaited::DatabaseCreate.typical(),
            nat_gateway: Awaited::NatGatewayCreate.typical(),
            load_balancer: Awaited::LoadBalancerCreate.typical(),
            dns_change: Awaited::DnsChange.typical(),
        }
    }

    /// Every duration divided by `factor` (15: a 15 s poll interval plays as 1 s).
    pub fn scaled(self, factor: u32) -> Self {
        Self {
            cluster: self.cluster / factor,
            node_group: self.node_group / factor,
            database: self.database / factor,
            nat_gateway: self.nat_gateway / factor,
            load_balancer: self.load_balancer / factor,
            dns_change: self.dns_change / factor,
        }
    }
}

/// A slow kind of resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Cluster,
    NodeGroup,
    Database,
    NatGateway,
    DnsChange,
}

/// What a request is to the pace: a create to time, or a describe to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hook {
    /// A create of the resource named in the request (EKS, RDS).
    Create(Kind, String),
    /// A create whose resource id comes in the answer (a NAT gateway, a Route 53 change).
    CreateAnswered(Kind),
    /// A describe of the resource named in the request, or of several (NAT gateways).
    Describe(Kind, String),
}

#[derive(Default)]
pub struct Pace {
    durations: Mutex<Option<Durations>>,
    /// When each resource made under the pace is done, by kind and name or id.
    ready: Mutex<HashMap<(Kind, String), Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The value of `key` in a form-encoded (awsQuery) body.
fn form_value(body: &str, key: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.replace("%2D", "-").replace("%2d", "-"))
    })
}

/// The text between `<tag>` and `</tag>` after `from`.
fn element_after<'a>(text: &'a str, tag: &str, from: usize) -> Option<(usize, &'a str)> {
    let open = format!("<{tag}>");
    let start = text[from..].find(&open)? + from + open.len();
    let end = text[start..].find(&format!("</{tag}>"))? + start;
    Some((start, &text[start..end]))
}

impl Pace {
    pub fn set(&self, durations: Option<Durations>) {
        *lock(&self.durations) = durations;
        lock(&self.ready).clear();
    }

    pub fn durations(&self) -> Option<Durations> {
        *lock(&self.durations)
    }

    /// What this request is to the pace, if one is set.
    pub(crate) fn hook(&self, method: &Method, path: &str, body: &[u8]) -> Option<Hook> {
        lock(&self.durations).as_ref()?;
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            (&Method::POST, ["clusters"]) => {
                let body: serde_json::Value = serde_json::from_slice(body).ok()?;
                Some(Hook::Create(
                    Kind::Cluster,
                    body["name"].as_str()?.to_owned(),
                ))
            }
            (&Method::GET, ["clusters", name]) => {
                Some(Hook::Describe(Kind::Cluster, (*name).to_owned()))
            }
            (&Method::POST, ["clusters", cluster, "node-groups"]) => {
                let body: serde_json::Value = serde_json::from_slice(body).ok()?;
                let group = body["nodegroupName"].as_str()?;
                Some(Hook::Create(Kind::NodeGroup, format!("{cluster}/{group}")))
            }
            (&Method::GET, ["clusters", cluster, "node-groups", group]) => Some(Hook::Describe(
                Kind::NodeGroup,
                format!("{cluster}/{group}"),
            )),
            (&Method::POST, [_, "hostedzone", _, "rrset"] | [_, "hostedzone", _, "rrset", ""]) => {
                Some(Hook::CreateAnswered(Kind::DnsChange))
            }
            (&Method::GET, [_, "change", id]) => {
                Some(Hook::Describe(Kind::DnsChange, (*id).to_owned()))
            }
            _ => {
                let body = std::str::from_utf8(body).ok()?;
                match form_value(body, "Action")?.as_str() {
                    "CreateDBInstance" | "RestoreDBInstanceFromDBSnapshot" => Some(Hook::Create(
                        Kind::Database,
                        form_value(body, "DBInstanceIdentifier")?,
                    )),
                    "DescribeDBInstances" => Some(Hook::Describe(
                        Kind::Database,
                        form_value(body, "DBInstanceIdentifier").unwrap_or_default(),
                    )),
                    "CreateNatGateway" => Some(Hook::CreateAnswered(Kind::NatGateway)),
                    "DescribeNatGateways" => Some(Hook::Describe(Kind::NatGateway, String::new())),
                    _ => None,
                }
            }
        }
    }

    fn duration(&self, kind: Kind) -> Duration {
        let Some(d) = *lock(&self.durations) else {
            return Duration::ZERO;
        };
        match kind {
            Kind::Cluster => d.cluster,
            Kind::NodeGroup => d.node_group,
            Kind::Database => d.database,
            Kind::NatGateway => d.nat_gateway,
            Kind::DnsChange => d.dns_change,
        }
    }

    /// Whether the resource is still being made.
    fn making(&self, kind: Kind, id: &str) -> bool {
        lock(&self.ready)
            .get(&(kind, id.to_owned()))
            .is_some_and(|ready| Instant::now() < *ready)
    }

    /// The answer to a hooked request: a create's time is recorded (only a create that
    /// succeeded: a retried create of what exists is refused, and keeps the first's time), a
    /// describe of what is still being made shows it so.
    pub(crate) async fn answer(
        &self,
        hook: Hook,
        response: Response<Full<Bytes>>,
    ) -> Response<Full<Bytes>> {
        if !response.status().is_success() {
            return response;
        }
        let (mut head, body) = response.into_parts();
        // The router's answers are in memory: collecting cannot fail.
        let Ok(bytes) = body.collect().await.map(|b| b.to_bytes());
        let text = String::from_utf8_lossy(&bytes);
        let rewritten = match hook {
            Hook::Create(kind, id) => {
                let ready = Instant::now() + self.duration(kind);
                lock(&self.ready).insert((kind, id), ready);
                None
            }
            Hook::CreateAnswered(kind) => {
                let tag = match kind {
                    Kind::NatGateway => "natGatewayId",
                    _ => "Id",
                };
                if let Some((_, id)) = element_after(&text, tag, 0) {
                    let id = id.rsplit('/').next().unwrap_or(id).to_owned();
                    let ready = Instant::now() + self.duration(kind);
                    let mut times = lock(&self.ready);
                    match kind {
                        // A replayed answer (same token) is the same gateway: keep its time.
                        Kind::NatGateway => {
                            times.entry((kind, id)).or_insert(ready);
                        }
                        // moto gives every change one id: the newest change is timed.
                        _ => {
                            times.insert((kind, id), ready);
                        }
                    }
                }
                // moto's answer says the new gateway is available already; AWS's, pending.
                match kind {
                    Kind::NatGateway => self.describe(kind, "", &text),
                    _ => None,
                }
            }
            Hook::Describe(kind, id) => self.describe(kind, &id, &text),
        };
        let Some(text) = rewritten else {
            return Response::from_parts(head, Full::new(bytes));
        };
        head.headers.remove(hyper::header::CONTENT_LENGTH);
        // moto's checksum would no longer match the rewritten body.
        head.headers.remove("x-amz-crc32");
        Response::from_parts(head, Full::new(Bytes::from(text)))
    }

    /// The describe's answer as AWS gives it while what it names is being made.
    fn describe(&self, kind: Kind, id: &str, text: &str) -> Option<String> {
        match kind {
            Kind::Cluster | Kind::NodeGroup => {
                if !self.making(kind, id) {
                    return None;
                }
                let mut answer: serde_json::Value = serde_json::from_str(text).ok()?;
                let field = if kind == Kind::Cluster {
                    "cluster"
                } else {
                    "nodegroup"
                };
                (answer[field]["status"] == "ACTIVE").then_some(())?;
                answer[field]["status"] = "CREATING".into();
                Some(answer.to_string())
            }
            Kind::DnsChange => self
                .making(kind, id)
                .then(|| text.replace("<Status>INSYNC</Status>", "<Status>PENDING</Status>")),
            Kind::Database => self.rewrite_each(
                kind,
                text,
                "DBInstanceIdentifier",
                "<DBInstanceStatus>available</DBInstanceStatus>",
                "<DBInstanceStatus>creating</DBInstanceStatus>",
            ),
            Kind::NatGateway => self.rewrite_each(
                kind,
                text,
                "natGatewayId",
                "<state>available</state>",
                "<state>pending</state>",
            ),
        }
    }

    /// In a list answer, for each item whose `id_tag` names a resource still being made, its
    /// first `done` after the id (before the next item's id) becomes `making`.
    fn rewrite_each(
        &self,
        kind: Kind,
        text: &str,
        id_tag: &str,
        done: &str,
        making: &str,
    ) -> Option<String> {
        let mut out = text.to_owned();
        let mut changed = false;
        let mut from = 0;
        while let Some((at, id)) = element_after(&out, id_tag, from) {
            let id = id.to_owned();
            let next = out[at..]
                .find(&format!("<{id_tag}>"))
                .map_or(out.len(), |n| n + at);
            from = at;
            if !self.making(kind, &id) {
                continue;
            }
            if let Some(state) = out[at..next].find(done) {
                let start = at + state;
                out.replace_range(start..start + done.len(), making);
                changed = true;
            }
        }
        changed.then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paced() -> Pace {
        let pace = Pace::default();
        pace.set(Some(Durations::aws()));
        pace
    }

    async fn answered(pace: &Pace, hook: Hook, body: &str) -> String {
        let response = pace
            .answer(hook, Response::new(Full::new(Bytes::from(body.to_owned()))))
            .await;
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn requests_are_told_apart_only_while_a_pace_is_set() {
        let pace = Pace::default();
        let create = br#"{"name": "strata-s"}"#;
        assert_eq!(pace.hook(&Method::POST, "/clusters", create), None);
        pace.set(Some(Durations::aws().scaled(15)));
        assert_eq!(
            pace.hook(&Method::POST, "/clusters", create),
            Some(Hook::Create(Kind::Cluster, "strata-s".into()))
        );
        assert_eq!(
            pace.hook(&Method::GET, "/clusters/strata-s/node-groups/ng", b""),
            Some(Hook::Describe(Kind::NodeGroup, "strata-s/ng".into()))
        );
        assert_eq!(
            pace.hook(
                &Method::POST,
                "/",
                b"Action=CreateDBInstance&DBInstanceIdentifier=strata-s&Engine=postgres"
            ),
            Some(Hook::Create(Kind::Database, "strata-s".into()))
        );
        assert_eq!(
            pace.hook(&Method::GET, "/2013-04-01/change/C123", b""),
            Some(Hook::Describe(Kind::DnsChange, "C123".into()))
        );
        assert_eq!(pace.hook(&Method::POST, "/", b"Action=DescribeVpcs"), None);
    }

    #[tokio::test]
    async fn what_is_being_made_is_described_so_and_only_it() {
        let pace = paced();
        answered(&pace, Hook::Create(Kind::Cluster, "a".into()), "{}").await;
        let active = r#"{"cluster": {"name": "a", "status": "ACTIVE"}}"#;
        let described = answered(&pace, Hook::Describe(Kind::Cluster, "a".into()), active).await;
        assert!(described.contains(r#""status":"CREATING""#), "{described}");
        let other = answered(&pace, Hook::Describe(Kind::Cluster, "b".into()), active).await;
        assert_eq!(other, active);

        // moto answers a new gateway available; AWS, pending.
        let created = "<CreateNatGatewayResponse><natGateway><natGatewayId>nat-2</natGatewayId><state>available</state></natGateway></CreateNatGatewayResponse>";
        let answer = answered(&pace, Hook::CreateAnswered(Kind::NatGateway), created).await;
        assert_eq!(answer, created.replace("available", "pending"));
        let listed = "<natGatewaySet><item><natGatewayId>nat-1</natGatewayId><state>available</state></item><item><natGatewayAddressSet><item><status>succeeded</status></item></natGatewayAddressSet><natGatewayId>nat-2</natGatewayId><state>available</state><tagSet><item><key>k</key></item></tagSet></item></natGatewaySet>";
        let described = answered(
            &pace,
            Hook::Describe(Kind::NatGateway, String::new()),
            listed,
        )
        .await;
        assert_eq!(
            described,
            listed.replace(
                "nat-2</natGatewayId><state>available",
                "nat-2</natGatewayId><state>pending"
            )
        );
    }

    #[tokio::test]
    async fn a_refused_create_keeps_the_first_ones_time_and_a_past_duration_shows_done() {
        let pace = Pace::default();
        pace.set(Some(Durations {
            cluster: Duration::ZERO,
            ..Durations::aws()
        }));
        answered(&pace, Hook::Create(Kind::Cluster, "a".into()), "{}").await;
        let active = r#"{"cluster": {"status": "ACTIVE"}}"#;
        let described = answered(&pace, Hook::Describe(Kind::Cluster, "a".into()), active).await;
        assert_eq!(described, active, "a zero duration is done at once");
        let refused = pace
            .answer(
                Hook::Create(Kind::Database, "d".into()),
                Response::builder()
                    .status(400)
                    .body(Full::new(Bytes::from_static(b"exists")))
                    .unwrap(),
            )
            .await;
        assert_eq!(refused.status(), 400);
        assert!(!pace.making(Kind::Database, "d"));
    }
}
