//! The network component: a VPC with the spec's CIDR, one public and one private subnet per
//! availability zone (tagged for EKS and its load balancer controller), an internet gateway,
//! NAT gateways as the spec says (`none`, `single`, `perAz`), route tables, and the database
//! security group (the database's port, from inside the VPC only).
//!
//! EC2 resources have no unique names, so each is found by its tags: the `strata:*` tags
//! and `strata:role` (`vpc`, `public-0`, `private-1`, `igw`, `nat-0`, `rt-public`, …). A VPC
//! named `strata-<env>` that lacks this environment's tags is never touched
//! (`ResourceNotOwned`). `apply` answers `done: false` while a NAT gateway is pending.
//! `destroy` first sweeps what Kubernetes left in the VPC ([`sweep`]: load balancers,
//! target groups, security groups and network interfaces tagged for this environment's
//! cluster) and waits until it is gone, then deletes NAT gateways and waits for them,
//! releases their addresses and deletes the rest in dependency order.

use aws_sdk_ec2::Client;
use strata_component::{ComponentError, ComponentHandler, Progress, Step};
use strata_core::Component;
use strata_core::drift::Observed;

// What the unit tests reach through `use super::*`.
#[cfg(test)]
use crate::{
    database_group::create_database_group,
    ec2::enabled,
    tagging::{ROLE, tag},
    vpc::ensure_vpc,
};
#[cfg(test)]
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, NatGatewayState, Tag, VpcAttributeName};
#[cfg(test)]
use strata_core::status::ComponentPhase;

mod apply;
mod database_group;
mod destroy;
mod ec2;
mod nat;
mod observe;
mod routes;
mod subnets;
pub mod sweep;
mod tagging;
mod vpc;

/// Makes EC2 and ELB clients for a region (environments live in the region their spec
/// names).
pub trait ClientFor: Send + Sync {
    fn client(&self, region: &str) -> Client;
    fn elb(&self, region: &str) -> aws_sdk_elasticloadbalancingv2::Client;
}

/// Builds regional clients from one loaded SDK config.
pub struct RegionalClients(pub aws_config::SdkConfig);

impl ClientFor for RegionalClients {
    fn client(&self, region: &str) -> Client {
        let config = aws_sdk_ec2::config::Builder::from(&self.0)
            .region(aws_sdk_ec2::config::Region::new(region.to_owned()))
            .build();
        Client::from_conf(config)
    }

    fn elb(&self, region: &str) -> aws_sdk_elasticloadbalancingv2::Client {
        let config = aws_sdk_elasticloadbalancingv2::config::Builder::from(&self.0)
            .region(aws_sdk_elasticloadbalancingv2::config::Region::new(
                region.to_owned(),
            ))
            .build();
        aws_sdk_elasticloadbalancingv2::Client::from_conf(config)
    }
}

pub struct Network<C: ClientFor> {
    pub clients: C,
}

impl<C: ClientFor> ComponentHandler for Network<C> {
    fn component(&self) -> Component {
        Component::Network
    }

    /// The VPC and its CIDR, every subnet, the internet gateway's attachment, the NAT
    /// gateways, each route table's default route and subnets, the database group's rule.
    async fn observe(&self, step: &Step<'_>) -> Result<Observed, ComponentError> {
        let found = self.findings(step.environment, step.owner).await?;
        Ok(Observed::from_findings(found.missing, found.fields))
    }

    async fn apply(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        self.apply_step(step).await
    }

    async fn destroy(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        self.destroy_step(step).await
    }
}

#[cfg(test)]
mod tests;
