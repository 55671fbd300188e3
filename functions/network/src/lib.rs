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
use aws_sdk_elasticloadbalancingv2::Client as Elb;
use strata_component::clients::{FromConfig, Regional};
use strata_core::Component;

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
use strata_component::{ComponentError, Progress};
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

/// The network handler, with what makes its clients for the environment's region: `ec2`
/// EC2's, `elb` Elastic Load Balancing's (for what Kubernetes left, [`sweep`]).
pub struct Network<E, L> {
    pub ec2: E,
    pub elb: L,
}

impl Network<FromConfig<Client>, FromConfig<Elb>> {
    /// The deployed handler, its clients made from the function's SDK config.
    pub fn new(config: aws_config::SdkConfig) -> Self {
        Self {
            ec2: FromConfig::new(config.clone(), Client::new),
            elb: FromConfig::new(config, Elb::new),
        }
    }
}

strata_component::handler_from_steps!(
    Component::Network,
    impl<E: Regional<Client>, L: Regional<Elb>> for Network<E, L>
);

#[cfg(test)]
mod tests;
