//! Before the network goes: what Kubernetes made in the VPC and left behind. A Service of
//! type LoadBalancer makes a load balancer, target groups and security groups through the
//! AWS load balancer controller (tag `elbv2.k8s.aws/cluster=<cluster>`) or the in-tree
//! controller (tag `kubernetes.io/cluster/<cluster>=owned`); the VPC CNI leaves network
//! interfaces (tag `cluster.k8s.amazonaws.com/name=<cluster>`). AWS refuses to delete a VPC
//! while any of them remain. Only what carries one of those tags for this environment's
//! cluster is deleted; anything else in the VPC is left for DeleteVpc to refuse, loudly.

use std::collections::HashMap;

use aws_sdk_ec2::Client as Ec2;
use aws_sdk_ec2::types::{Filter, NetworkInterfaceStatus};
use aws_sdk_elasticloadbalancingv2::Client as Elb;
use strata_component::ComponentError;
use strata_component::aws::{classify, code};

/// Whether a resource's tags say Kubernetes made it for `cluster`.
pub fn made_by_kubernetes_for<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    cluster: &str,
) -> bool {
    let legacy = format!("kubernetes.io/cluster/{cluster}");
    tags.into_iter().any(|(k, v)| {
        (k == "elbv2.k8s.aws/cluster" && v == cluster)
            || (k == legacy && v == "owned")
            || (k == "cluster.k8s.amazonaws.com/name" && v == cluster)
    })
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// Load balancers and target groups in `vpc` made for `cluster`, by ARN.
async fn kubernetes_elb_resources(
    elb: &Elb,
    vpc: &str,
    cluster: &str,
) -> Result<(Vec<String>, Vec<String>), ComponentError> {
    let mut balancers = Vec::new();
    let mut marker = None;
    loop {
        let page = elb
            .describe_load_balancers()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| classify("DescribeLoadBalancers", e))?;
        balancers.extend(
            page.load_balancers()
                .iter()
                .filter(|lb| lb.vpc_id() == Some(vpc))
                .filter_map(|lb| lb.load_balancer_arn().map(str::to_owned)),
        );
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    let mut groups = Vec::new();
    let mut marker = None;
    loop {
        let page = elb
            .describe_target_groups()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| classify("DescribeTargetGroups", e))?;
        groups.extend(
            page.target_groups()
                .iter()
                .filter(|tg| tg.vpc_id() == Some(vpc))
                .filter_map(|tg| tg.target_group_arn().map(str::to_owned)),
        );
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    let mut tags: HashMap<String, Vec<(String, String)>> = HashMap::new();
    // DescribeTags takes at most 20 ARNs.
    for chunk in balancers
        .iter()
        .chain(&groups)
        .collect::<Vec<_>>()
        .chunks(20)
    {
        let described = elb
            .describe_tags()
            .set_resource_arns(Some(chunk.iter().map(|a| (*a).clone()).collect()))
            .send()
            .await
            .map_err(|e| classify("DescribeTags", e))?;
        for d in described.tag_descriptions() {
            tags.insert(
                d.resource_arn().unwrap_or_default().to_owned(),
                d.tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap_or_default().to_owned(),
                            t.value().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect(),
            );
        }
    }
    let ours = |arn: &String| {
        tags.get(arn).is_some_and(|t| {
            made_by_kubernetes_for(t.iter().map(|(k, v)| (k.as_str(), v.as_str())), cluster)
        })
    };
    Ok((
        balancers.iter().filter(|a| ours(a)).cloned().collect(),
        groups.iter().filter(|a| ours(a)).cloned().collect(),
    ))
}

/// Deletes one pass of what Kubernetes left in `vpc`; `Ok(true)` once nothing is left.
pub async fn sweep(ec2: &Ec2, elb: &Elb, vpc: &str, cluster: &str) -> Result<bool, ComponentError> {
    let (balancers, groups) = kubernetes_elb_resources(elb, vpc, cluster).await?;
    let mut clean = balancers.is_empty() && groups.is_empty();
    for arn in &balancers {
        match elb
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if code(&e) == Some("LoadBalancerNotFound") => {}
            Err(e) => return Err(classify(&format!("DeleteLoadBalancer {arn}"), e)),
        }
    }
    for arn in &groups {
        match elb.delete_target_group().target_group_arn(arn).send().await {
            Ok(_) => {}
            Err(e) if code(&e) == Some("TargetGroupNotFound") => {}
            // Still attached to a load balancer that is going: the next poll.
            Err(e) if code(&e) == Some("ResourceInUse") => {}
            Err(e) => return Err(classify(&format!("DeleteTargetGroup {arn}"), e)),
        }
    }
    let legacy = format!("tag:kubernetes.io/cluster/{cluster}");
    for tag in [
        ("tag:elbv2.k8s.aws/cluster", cluster),
        (legacy.as_str(), "owned"),
    ] {
        let found = ec2
            .describe_security_groups()
            .filters(filter("vpc-id", vpc))
            .filters(filter(tag.0, tag.1))
            .send()
            .await
            .map_err(|e| classify("DescribeSecurityGroups", e))?;
        for group in found.security_groups() {
            let id = group.group_id().unwrap_or_default();
            clean = false;
            match ec2.delete_security_group().group_id(id).send().await {
                Ok(_) => {}
                Err(e) if code(&e) == Some("InvalidGroup.NotFound") => {}
                // A load balancer's interfaces still use it while they go.
                Err(e) if code(&e) == Some("DependencyViolation") => {}
                Err(e) => return Err(classify(&format!("DeleteSecurityGroup {id}"), e)),
            }
        }
    }
    let interfaces = ec2
        .describe_network_interfaces()
        .filters(filter("vpc-id", vpc))
        .send()
        .await
        .map_err(|e| classify("DescribeNetworkInterfaces", e))?;
    for eni in interfaces.network_interfaces() {
        let id = eni.network_interface_id().unwrap_or_default();
        let by_elb = eni.description().is_some_and(|d| d.starts_with("ELB "));
        let by_cni = made_by_kubernetes_for(
            eni.tag_set()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
            cluster,
        );
        if by_elb {
            // Managed by the load balancer: it goes when the load balancer is gone.
            clean = false;
        } else if by_cni {
            clean = false;
            if eni.status() == Some(&NetworkInterfaceStatus::Available) {
                match ec2
                    .delete_network_interface()
                    .network_interface_id(id)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if code(&e) == Some("InvalidNetworkInterfaceID.NotFound") => {}
                    Err(e) => return Err(classify(&format!("DeleteNetworkInterface {id}"), e)),
                }
            }
        }
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_clusters_kubernetes_tags_count() {
        let cluster = "strata-staging";
        assert!(made_by_kubernetes_for(
            [("elbv2.k8s.aws/cluster", cluster)],
            cluster
        ));
        assert!(made_by_kubernetes_for(
            [("kubernetes.io/cluster/strata-staging", "owned")],
            cluster
        ));
        assert!(!made_by_kubernetes_for(
            [("kubernetes.io/cluster/strata-staging", "shared")],
            cluster
        ));
        assert!(!made_by_kubernetes_for(
            [("elbv2.k8s.aws/cluster", "strata-other")],
            cluster
        ));
        assert!(!made_by_kubernetes_for([("team", "shop")], cluster));
    }
}
