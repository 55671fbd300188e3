//! The subnets, one public and one private per availability zone, tagged for EKS and its
//! load balancer controller; a public one gives its instances public addresses.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::ResourceType;
use strata_component::ComponentError;
use strata_component::aws::{classify, code};
use strata_core::tags::Owner;

use crate::ec2::{enabled, returned_id, until_known};
use crate::tagging::{filter, ours, owned, tag, tag_spec};

struct SubnetPlan<'a> {
    role: String,
    cidr: &'a str,
    zone: &'a str,
    public: bool,
}

/// The `kind-i` subnet (`public-0`, `private-1`, …), made when missing.
pub(crate) async fn subnet(
    c: &Client,
    env: &Owner,
    vpc: &str,
    (kind, i): (&str, usize),
    cidr: &str,
    zone: &str,
) -> Result<String, ComponentError> {
    let plan = SubnetPlan {
        role: format!("{kind}-{i}"),
        cidr,
        zone,
        public: kind == "public",
    };
    ensure_subnet(c, env, vpc, &plan).await
}

async fn ensure_subnet(
    c: &Client,
    env: &Owner,
    vpc: &str,
    plan: &SubnetPlan<'_>,
) -> Result<String, ComponentError> {
    let found = c
        .describe_subnets()
        .set_filters(Some(owned(env, Some(&plan.role))))
        .filters(filter("vpc-id", vpc))
        .send()
        .await
        .map_err(|e| classify("DescribeSubnets", e))?;
    if let Some(subnet) = ours(found.subnets(), env, Some(&plan.role)).next() {
        let id = subnet.subnet_id().unwrap_or_default().to_owned();
        // Also when found: a crash right after the create would leave it off for good.
        if plan.public && subnet.map_public_ip_on_launch() != Some(true) {
            public_addresses_on_launch(c, &id).await?;
        }
        return Ok(id);
    }
    // What EKS and the AWS load balancer controller look for when placing load balancers.
    let mut spec = tag_spec(ResourceType::Subnet, env, &plan.role);
    let elb_role = if plan.public {
        "kubernetes.io/role/elb"
    } else {
        "kubernetes.io/role/internal-elb"
    };
    spec.tags.get_or_insert_with(Vec::new).extend([
        tag(elb_role, "1"),
        tag(&format!("kubernetes.io/cluster/strata-{env}"), "shared"),
    ]);
    let created = c
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block(plan.cidr)
        .availability_zone(plan.zone)
        .tag_specifications(spec)
        .send()
        .await
        .map_err(|e| match code(&e) {
            // Another step of this environment (one a failed Parallel branch left running)
            // created it a moment ago: the retry finds it by its tags.
            Some("InvalidSubnet.Conflict") => ComponentError::AwsTransient(format!(
                "CreateSubnet {}: {} is being created by another step",
                plan.role, plan.cidr
            )),
            _ => classify(&format!("CreateSubnet {}", plan.role), e),
        })?;
    let id = returned_id("CreateSubnet", created.subnet().and_then(|s| s.subnet_id()))?;
    until_known(&format!("DescribeSubnets {id}"), || {
        c.describe_subnets().subnet_ids(&id).send()
    })
    .await?;
    if plan.public {
        public_addresses_on_launch(c, &id).await?;
    }
    Ok(id)
}

/// A public subnet gives its instances (the nodes) public addresses.
async fn public_addresses_on_launch(c: &Client, subnet: &str) -> Result<(), ComponentError> {
    c.modify_subnet_attribute()
        .subnet_id(subnet)
        .map_public_ip_on_launch(enabled())
        .send()
        .await
        .map_err(|e| classify(&format!("ModifySubnetAttribute {subnet}"), e))?;
    Ok(())
}
