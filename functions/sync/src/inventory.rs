//! The inventory: every resource tagged `strata:environment=<name>` in the environment's
//! region, from the Resource Groups Tagging API, plus what that API does not return, from
//! the services' own calls: the EKS cluster and node group, the Route 53 record, the ECR
//! repositories of the services' images and the Elastic IPs.

use std::collections::BTreeMap;
use std::future::Future;

use strata_core::status::{EnvironmentStatus, INVENTORY_LIMIT, InventoryItem};
use strata_core::{Component, Environment, tags};

use crate::sdk_failure;

/// Takes the inventory of one environment, from its spec and recorded status.
pub trait Inventory: Send + Sync {
    fn take(
        &self,
        env: &Environment,
        status: &EnvironmentStatus,
    ) -> impl Future<Output = Result<Vec<InventoryItem>, String>> + Send;
}

/// The first `INVENTORY_LIMIT` items by type and id, and how many were left out.
pub fn bounded(mut items: Vec<InventoryItem>) -> (Vec<InventoryItem>, usize) {
    items.sort_by(|a, b| (&a.resource_type, &a.id).cmp(&(&b.resource_type, &b.id)));
    items.dedup_by(|a, b| a.resource_type == b.resource_type && a.id == b.id);
    let omitted = items.len().saturating_sub(INVENTORY_LIMIT);
    items.truncate(INVENTORY_LIMIT);
    (items, omitted)
}

/// `<service>:<type>` and the id of an ARN: `arn:aws:ec2:r:a:vpc/vpc-1` → (`ec2:vpc`,
/// `vpc-1`), `arn:aws:rds:r:a:db:strata-x` → (`rds:db`, `strata-x`), `arn:aws:s3:::b` →
/// (`s3:bucket`, `b`).
pub fn parse_arn(arn: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, service, _, _, resource] = parts.as_slice() else {
        return None;
    };
    let (kind, id) = match resource.find(['/', ':']) {
        Some(at) => (&resource[..at], &resource[at + 1..]),
        None if *service == "s3" => ("bucket", *resource),
        None => ("resource", *resource),
    };
    Some((format!("{service}:{kind}"), id.to_owned()))
}

fn item(
    resource_type: &str,
    id: &str,
    state: Option<&str>,
    attributes: &[(&str, Option<String>)],
    tags: BTreeMap<String, String>,
) -> InventoryItem {
    InventoryItem {
        id: id.to_owned(),
        resource_type: resource_type.to_owned(),
        state: state.map(str::to_owned),
        attributes: attributes
            .iter()
            .filter_map(|(k, v)| Some(((*k).to_owned(), v.clone()?)))
            .collect(),
        tags,
    }
}

/// [`Inventory`] through AWS, with clients for the environment's region.
#[derive(Debug, Clone)]
pub struct AwsInventory(pub aws_config::SdkConfig);

impl AwsInventory {
    fn regional(&self, region: &str) -> aws_config::SdkConfig {
        self.0
            .to_builder()
            .region(aws_config::Region::new(region.to_owned()))
            .build()
    }

    async fn tagged(
        &self,
        config: &aws_config::SdkConfig,
        name: &str,
    ) -> Result<Vec<InventoryItem>, String> {
        use aws_sdk_resourcegroupstagging::types::TagFilter;
        let client = aws_sdk_resourcegroupstagging::Client::new(config);
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        // Bounded: a page is up to 100; more than the limit is counted, not listed.
        for _ in 0..5 {
            let page = client
                .get_resources()
                .tag_filters(
                    TagFilter::builder()
                        .key(tags::ENVIRONMENT)
                        .values(name)
                        .build(),
                )
                .set_pagination_token(token.clone())
                .send()
                .await
                .map_err(|e| sdk_failure("GetResources", e))?;
            for mapping in page.resource_tag_mapping_list() {
                let Some((kind, id)) = mapping.resource_arn().and_then(parse_arn) else {
                    continue;
                };
                let found = mapping
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect();
                items.push(item(&kind, &id, None, &[], found));
            }
            token = page
                .pagination_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Ok(items)
    }

    async fn cluster(
        &self,
        config: &aws_config::SdkConfig,
        status: &EnvironmentStatus,
    ) -> Result<Vec<InventoryItem>, String> {
        let Some(ids) = status
            .components
            .get(&Component::Cluster)
            .map(|c| &c.resource_ids)
        else {
            return Ok(Vec::new());
        };
        let Some(cluster) = ids.get("clusterName") else {
            return Ok(Vec::new());
        };
        let client = aws_sdk_eks::Client::new(config);
        let mut items = Vec::new();
        match client.describe_cluster().name(cluster).send().await {
            Ok(out) => {
                if let Some(c) = out.cluster() {
                    items.push(item(
                        "eks:cluster",
                        cluster,
                        c.status().map(|s| s.as_str()),
                        &[
                            ("version", c.version().map(str::to_owned)),
                            ("endpoint", c.endpoint().map(str::to_owned)),
                        ],
                        c.tags().cloned().unwrap_or_default().into_iter().collect(),
                    ));
                }
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(items);
            }
            Err(e) => {
                return Err(sdk_failure(&format!("DescribeCluster {cluster}"), e));
            }
        }
        if let Some(nodegroup) = ids.get("nodegroupName") {
            match client
                .describe_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(nodegroup)
                .send()
                .await
            {
                Ok(out) => {
                    if let Some(n) = out.nodegroup() {
                        let scaling = n.scaling_config();
                        items.push(item(
                            "eks:nodegroup",
                            nodegroup,
                            n.status().map(|s| s.as_str()),
                            &[
                                ("instanceTypes", Some(n.instance_types().join(","))),
                                (
                                    "desiredSize",
                                    scaling
                                        .and_then(|s| s.desired_size())
                                        .map(|d| d.to_string()),
                                ),
                            ],
                            n.tags().cloned().unwrap_or_default().into_iter().collect(),
                        ));
                    }
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) => {}
                Err(e) => {
                    return Err(sdk_failure(&format!("DescribeNodegroup {nodegroup}"), e));
                }
            }
        }
        Ok(items)
    }

    async fn record(&self, status: &EnvironmentStatus) -> Result<Vec<InventoryItem>, String> {
        let Some(dns) = status.components.get(&Component::Dns) else {
            return Ok(Vec::new());
        };
        let (Some(zone), Some(name)) = (
            dns.resource_ids.get("hostedZoneId"),
            dns.outputs.get("name"),
        ) else {
            return Ok(Vec::new());
        };
        // Route 53 is global.
        let client = aws_sdk_route53::Client::new(&self.0);
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let out = client
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .start_record_name(&fqdn)
            .max_items(4)
            .send()
            .await
            .map_err(|e| sdk_failure(&format!("ListResourceRecordSets {zone}"), e))?;
        Ok(out
            .resource_record_sets()
            .iter()
            .filter(|r| r.name() == fqdn)
            .map(|r| {
                let target = r
                    .alias_target()
                    .map(|a| a.dns_name().to_owned())
                    .or_else(|| r.resource_records().first().map(|v| v.value().to_owned()));
                item(
                    "route53:record",
                    &format!("{fqdn} {}", r.r#type().as_str()),
                    None,
                    &[
                        ("type", Some(r.r#type().as_str().to_owned())),
                        ("target", target),
                    ],
                    BTreeMap::new(),
                )
            })
            .collect())
    }

    async fn repositories(&self, env: &Environment) -> Result<Vec<InventoryItem>, String> {
        let mut by_region: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        for service in &env.spec.app.services {
            if let Some((account, region, repository)) = service.ecr_repository() {
                by_region
                    .entry((account, region))
                    .or_default()
                    .push(repository);
            }
        }
        let mut items = Vec::new();
        for ((account, region), names) in by_region {
            let client = aws_sdk_ecr::Client::new(&self.regional(region));
            let out = client
                .describe_repositories()
                .registry_id(account)
                .set_repository_names(Some(names.iter().map(|n| (*n).to_owned()).collect()))
                .send()
                .await
                .map_err(|e| sdk_failure("DescribeRepositories", e))?;
            for repository in out.repositories() {
                items.push(item(
                    "ecr:repository",
                    repository.repository_name().unwrap_or_default(),
                    None,
                    &[("uri", repository.repository_uri().map(str::to_owned))],
                    BTreeMap::new(),
                ));
            }
        }
        Ok(items)
    }

    async fn addresses(
        &self,
        config: &aws_config::SdkConfig,
        name: &str,
    ) -> Result<Vec<InventoryItem>, String> {
        use aws_sdk_ec2::types::Filter;
        let client = aws_sdk_ec2::Client::new(config);
        let out = client
            .describe_addresses()
            .filters(
                Filter::builder()
                    .name(format!("tag:{}", tags::ENVIRONMENT))
                    .values(name)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_failure("DescribeAddresses", e))?;
        Ok(out
            .addresses()
            .iter()
            .map(|a| {
                item(
                    "ec2:elastic-ip",
                    a.allocation_id().unwrap_or_default(),
                    Some(if a.association_id().is_some() {
                        "associated"
                    } else {
                        "unassociated"
                    }),
                    &[
                        ("publicIp", a.public_ip().map(str::to_owned)),
                        ("associationId", a.association_id().map(str::to_owned)),
                    ],
                    a.tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                        .collect(),
                )
            })
            .collect())
    }
}

impl Inventory for AwsInventory {
    async fn take(
        &self,
        env: &Environment,
        status: &EnvironmentStatus,
    ) -> Result<Vec<InventoryItem>, String> {
        let config = self.regional(&env.spec.region);
        let (tagged, cluster, record, repositories, addresses) = tokio::join!(
            self.tagged(&config, env.name()),
            self.cluster(&config, status),
            self.record(status),
            self.repositories(env),
            self.addresses(&config, env.name()),
        );
        let mut items = tagged?;
        items.extend(cluster?);
        items.extend(record?);
        items.extend(repositories?);
        items.extend(addresses?);
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_their_type_and_id() {
        for (arn, kind, id) in [
            (
                "arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-1",
                "ec2:vpc",
                "vpc-1",
            ),
            (
                "arn:aws:rds:eu-west-1:123456789012:db:strata-x",
                "rds:db",
                "strata-x",
            ),
            (
                "arn:aws:s3:::strata-x-assets",
                "s3:bucket",
                "strata-x-assets",
            ),
            (
                "arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/k8s-x/0f",
                "elasticloadbalancing:loadbalancer",
                "app/k8s-x/0f",
            ),
            (
                "arn:aws:secretsmanager:eu-west-1:1:secret:rds!db-1-abc",
                "secretsmanager:secret",
                "rds!db-1-abc",
            ),
        ] {
            assert_eq!(
                parse_arn(arn),
                Some((kind.to_owned(), id.to_owned())),
                "{arn}"
            );
        }
        assert_eq!(parse_arn("not-an-arn"), None);
    }

    #[test]
    fn the_inventory_is_sorted_deduplicated_and_bounded() {
        let items: Vec<InventoryItem> = (0..INVENTORY_LIMIT + 7)
            .rev()
            .chain([3])
            .map(|i| {
                item(
                    "ec2:subnet",
                    &format!("subnet-{i:03}"),
                    None,
                    &[],
                    BTreeMap::new(),
                )
            })
            .collect();
        let (kept, omitted) = bounded(items);
        assert_eq!(kept.len(), INVENTORY_LIMIT);
        assert_eq!(omitted, 7);
        assert_eq!(kept[0].id, "subnet-000");
        assert_eq!(kept[3].id, "subnet-003");
        assert_eq!(kept[4].id, "subnet-004", "the duplicate is listed once");
    }
}
