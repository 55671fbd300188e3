//! The VPC (found by its tags; one only named like it is refused), its DNS attributes, the
//! availability zones its subnets go in, and its internet gateway.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{ResourceType, Vpc, VpcAttributeName};
use strata_component::ComponentError;
use strata_component::aws::classify;
use strata_core::tags::Owner;

use crate::ec2::{enabled, once, rejected, returned_id, until_known};
use crate::tagging::{filter, ours, owned, tag_spec};

pub(crate) async fn zones(c: &Client, count: usize) -> Result<Vec<String>, ComponentError> {
    let out = c
        .describe_availability_zones()
        .filters(filter("state", "available"))
        .send()
        .await
        .map_err(|e| classify("DescribeAvailabilityZones", e))?;
    let mut names: Vec<String> = out
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name().map(str::to_owned))
        .collect();
    names.sort();
    if names.len() < count {
        return Err(rejected(format!(
            "the region has {} availability zones; the spec asks for {count}",
            names.len()
        )));
    }
    names.truncate(count);
    Ok(names)
}

/// The VPCs carrying this environment's network tags (role `vpc`): one, unless a step raced.
pub(crate) async fn our_vpcs(c: &Client, env: &Owner) -> Result<Vec<Vpc>, ComponentError> {
    let found = c
        .describe_vpcs()
        .set_filters(Some(owned(env, Some("vpc"))))
        .send()
        .await
        .map_err(|e| classify("DescribeVpcs", e))?;
    Ok(ours(found.vpcs(), env, Some("vpc")).cloned().collect())
}

pub(crate) async fn ensure_vpc(
    c: &Client,
    env: &Owner,
    cidr: &str,
) -> Result<String, ComponentError> {
    if let Some(vpc) = our_vpcs(c, env).await?.first() {
        if vpc.cidr_block() != Some(cidr) {
            return Err(rejected(format!(
                "the VPC has CIDR {:?} and the spec asks for {cidr}; a VPC's CIDR cannot change",
                vpc.cidr_block()
            )));
        }
        let id = vpc.vpc_id().unwrap_or_default().to_owned();
        // Also when found: a step that crashed between the create and these would leave
        // them unset for good.
        converge_vpc_dns(c, &id).await?;
        return Ok(id);
    }
    let name = format!("strata-{env}-vpc");
    let named = c
        .describe_vpcs()
        .filters(filter("tag:Name", &name))
        .send()
        .await
        .map_err(|e| classify("DescribeVpcs", e))?;
    if let Some(vpc) = named.vpcs().first() {
        return Err(ComponentError::ResourceNotOwned(format!(
            "VPC {} is named {name} but lacks environment {env}'s network tags; Strata leaves it alone",
            vpc.vpc_id().unwrap_or_default()
        )));
    }
    let created = c
        .create_vpc()
        .cidr_block(cidr)
        .tag_specifications(tag_spec(ResourceType::Vpc, env, "vpc"))
        .customize()
        .config_override(once())
        .send()
        .await
        .map_err(|e| classify("CreateVpc", e))?;
    let id = returned_id("CreateVpc", created.vpc().and_then(|v| v.vpc_id()))?;
    until_known(&format!("DescribeVpcs {id}"), || {
        c.describe_vpcs().vpc_ids(&id).send()
    })
    .await?;
    converge_vpc_dns(c, &id).await?;
    Ok(id)
}

/// The VPC's DNS attributes (EKS and RDS endpoints need DNS inside the VPC), by their names
/// in EC2's API.
pub(crate) const DNS_ATTRIBUTES: [(VpcAttributeName, &str); 2] = [
    (VpcAttributeName::EnableDnsSupport, "enableDnsSupport"),
    (VpcAttributeName::EnableDnsHostnames, "enableDnsHostnames"),
];

/// Whether one DNS attribute of the VPC is on (EC2 reads one attribute per call).
pub(crate) async fn dns_attribute(
    c: &Client,
    vpc: &str,
    (attribute, name): &(VpcAttributeName, &str),
) -> Result<Option<bool>, ComponentError> {
    let answer = c
        .describe_vpc_attribute()
        .vpc_id(vpc)
        .attribute(attribute.clone())
        .send()
        .await
        .map_err(|e| classify(&format!("DescribeVpcAttribute {name}"), e))?;
    Ok(answer
        .enable_dns_support()
        .or(answer.enable_dns_hostnames())
        .and_then(|a| a.value()))
}

/// Turns on each DNS attribute that is off, and only those.
async fn converge_vpc_dns(c: &Client, vpc: &str) -> Result<(), ComponentError> {
    for dns in &DNS_ATTRIBUTES {
        if dns_attribute(c, vpc, dns).await? == Some(true) {
            continue;
        }
        let modify = c.modify_vpc_attribute().vpc_id(vpc);
        let modify = match dns.0 {
            VpcAttributeName::EnableDnsSupport => modify.enable_dns_support(enabled()),
            _ => modify.enable_dns_hostnames(enabled()),
        };
        modify
            .send()
            .await
            .map_err(|e| classify(&format!("ModifyVpcAttribute {}", dns.1), e))?;
    }
    Ok(())
}

pub(crate) async fn ensure_internet_gateway(
    c: &Client,
    env: &Owner,
    vpc: &str,
) -> Result<String, ComponentError> {
    let found = c
        .describe_internet_gateways()
        .set_filters(Some(owned(env, Some("igw"))))
        .send()
        .await
        .map_err(|e| classify("DescribeInternetGateways", e))?;
    let (id, attached) = match ours(found.internet_gateways(), env, Some("igw")).next() {
        Some(igw) => (
            igw.internet_gateway_id().unwrap_or_default().to_owned(),
            igw.attachments().iter().any(|a| a.vpc_id() == Some(vpc)),
        ),
        None => {
            let created = c
                .create_internet_gateway()
                .tag_specifications(tag_spec(ResourceType::InternetGateway, env, "igw"))
                .customize()
                .config_override(once())
                .send()
                .await
                .map_err(|e| classify("CreateInternetGateway", e))?;
            let gateway = created.internet_gateway();
            let id = returned_id(
                "CreateInternetGateway",
                gateway.and_then(|g| g.internet_gateway_id()),
            )?;
            until_known(&format!("DescribeInternetGateways {id}"), || {
                c.describe_internet_gateways()
                    .internet_gateway_ids(&id)
                    .send()
            })
            .await?;
            (id, false)
        }
    };
    if !attached {
        c.attach_internet_gateway()
            .internet_gateway_id(&id)
            .vpc_id(vpc)
            .send()
            .await
            .map_err(|e| classify("AttachInternetGateway", e))?;
    }
    Ok(id)
}
