//! The apply path: the VPC, subnets and gateways made or put back in dependency order, the
//! NAT gateways started early (they take minutes) and awaited, then the private routes and
//! the database group.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::NatGatewayState;
use aws_sdk_elasticloadbalancingv2::Client as Elb;
use strata_component::clients::Regional;
use strata_component::{ComponentError, Progress, Step};
use strata_core::status::ComponentPhase;
use strata_core::{Awaited, subnet_cidrs};

use crate::Network;
use crate::database_group::{database_port, ensure_database_group};
use crate::ec2::rejected;
use crate::nat::{self, nat_count};
use crate::routes::{Target, ensure_route_table};
use crate::subnets::subnet;
use crate::vpc::{ensure_internet_gateway, ensure_vpc, zones};

/// The most availability zones a spec may name (`validate` allows 2 to 6): the most NAT
/// gateways an environment can have had.
const MAX_AZ_COUNT: usize = 6;

impl<E: Regional<Client>, L: Regional<Elb>> Network<E, L> {
    /// One step of `apply`: everything made or put back that can be now.
    pub(crate) async fn apply_step(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let env = step.environment;
        let name = step.owner;
        let net = &env.spec.network;
        let c = self.ec2.client(&env.spec.region);
        let count = usize::from(net.az_count);
        let zones = zones(&c, count).await?;
        let (public_cidrs, private_cidrs) = subnet_cidrs(&net.cidr, net.az_count)
            .ok_or_else(|| ComponentError::InvalidInput("spec.network.cidr: too small".into()))?;

        let mut progress = Progress::waiting(ComponentPhase::Creating);
        let vpc = ensure_vpc(&c, name, &net.cidr).await?;
        progress.resource_ids.insert("vpcId".into(), vpc.clone());
        // The NAT gateways are the slow part (minutes): they start as soon as the public
        // subnets and the internet gateway they need exist; the rest is made meanwhile.
        let mut public = Vec::new();
        for i in 0..count {
            public.push(subnet(&c, name, &vpc, ("public", i), &public_cidrs[i], &zones[i]).await?);
        }
        let igw = ensure_internet_gateway(&c, name, &vpc).await?;

        let nat_count = nat_count(net);
        let mut nats = Vec::new();
        for (j, subnet) in public.iter().enumerate().take(nat_count) {
            let (id, state) = nat::ensure(&c, name, j, subnet, &step.context.execution).await?;
            if state == NatGatewayState::Failed {
                return Err(rejected(format!("NAT gateway {id} failed")));
            }
            progress
                .resource_ids
                .insert(format!("natGatewayId.{j}"), id.clone());
            nats.push((id, state));
        }
        let mut private = Vec::new();
        for i in 0..count {
            private
                .push(subnet(&c, name, &vpc, ("private", i), &private_cidrs[i], &zones[i]).await?);
        }
        ensure_route_table(&c, name, &vpc, "rt-public", Target::Gateway(&igw), &public).await?;
        // Gateways beyond the count (a smaller `natGateways`, or sleep, which keeps their
        // addresses) go, and so do their ids from the status.
        progress.gone_ids = (nat_count..MAX_AZ_COUNT)
            .map(|j| format!("natGatewayId.{j}"))
            .collect();
        let extra_gone = nat::remove_beyond(&c, name, nat_count, step.context.asleep).await?;
        if nats.iter().any(|(_, s)| *s != NatGatewayState::Available) {
            // The state machine polls until the NAT gateways are up.
            return Ok(progress.awaiting(Awaited::NatGatewayCreate));
        }
        if !extra_gone {
            return Ok(progress.awaiting(Awaited::NatGatewayDelete));
        }
        for (i, subnet) in private.iter().enumerate() {
            let target = match nats.get(i).or(nats.first()) {
                Some((nat, _)) => Target::Nat(nat),
                None => Target::Nowhere,
            };
            let role = format!("rt-private-{i}");
            ensure_route_table(&c, name, &vpc, &role, target, std::slice::from_ref(subnet)).await?;
        }
        let port = env.spec.database.as_ref().map(|d| database_port(d.engine));
        let group = ensure_database_group(&c, name, &vpc, &net.cidr, port).await?;

        progress.done = true;
        progress.phase = Some(ComponentPhase::Ready);
        for (key, value) in [
            ("vpcId", vpc),
            ("vpcCidr", net.cidr.clone()),
            ("availabilityZones", zones.join(",")),
            ("publicSubnetIds", public.join(",")),
            ("privateSubnetIds", private.join(",")),
            ("databaseSecurityGroupId", group),
        ] {
            progress.outputs.insert(key.to_owned(), value);
        }
        Ok(progress)
    }
}
