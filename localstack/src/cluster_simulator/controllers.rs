//! The controllers the cluster simulator plays: Deployments becoming available, Jobs
//! ending, pods derived from both, and the AWS load balancer controller's NLBs in moto.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use serde_json::{Value, json};

use super::ClusterSimulator;
use super::store::{JobFailure, Key, LoadBalancer, State, Stored};
use crate::fidelity::{element, moto_query, to_moto};

impl ClusterSimulator {
    /// What the AWS load balancer controller does for a `LoadBalancer` Service: an NLB in
    /// the cluster VPC's public subnets, with its target group and security group.
    pub(crate) async fn provision_load_balancer(&self, cluster: &str, region: &str, key: &Key) {
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
    pub(crate) async fn release_load_balancer(
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
        let request = moto_query(self.moto, service, region, form);
        self.send(request).await.unwrap_or_default()
    }

    async fn moto_rest_get(&self, service: &str, region: &str, path: &str) -> Option<Value> {
        let get = Request::get(format!("http://{}{path}", self.moto));
        let request =
            to_moto(get, service, region, Bytes::new()).expect("a static request is well-formed");
        serde_json::from_str(&self.send(request).await?).ok()
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Option<String> {
        let response = self.client.request(request).await.ok()?;
        let body = response.into_body().collect().await.ok()?;
        Some(String::from_utf8_lossy(&body.to_bytes()).into_owned())
    }
}

/// The controllers finish what `write` started: a Deployment is available, a Job ends.
/// Answers the job failures not used up.
pub(crate) fn settle(stored: &mut Stored, mut failures: Vec<JobFailure>) -> Vec<JobFailure> {
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
pub(crate) fn pods_of(key: &Key, object: &Value) -> Vec<Value> {
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
    fn load_balancer_names_fit_elbv2() {
        let name = load_balancer_name("a-very-long-namespace", "a-very-long-service");
        assert!(name.len() <= 32, "{name}");
        assert!(name.starts_with("k8s-a-very-l-a-very-l-"));
    }
}
