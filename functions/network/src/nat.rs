//! The NAT gateways: how many the spec asks for, made one per address (`nat-<i>` on
//! `eip-<i>`), and removed beyond that count — a smaller `natGateways`, or sleep, which keeps
//! the addresses so a wake puts new gateways on the same public IPs.

use std::hash::{DefaultHasher, Hash, Hasher};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{DomainType, Filter, NatGatewayState, ResourceType};
use strata_component::ComponentError;
use strata_component::aws::classify;
use strata_core::spec::{NatGateways, NetworkSpec};
use strata_core::tags::Owner;

use crate::ec2::{once, rejected};
use crate::tagging::{ROLE, ours, owned, tag_spec, tag_value};

/// How many NAT gateways the spec asks for.
pub(crate) fn nat_count(net: &NetworkSpec) -> usize {
    match net.nat_gateways {
        NatGateways::None => 0,
        NatGateways::Single => 1,
        NatGateways::PerAz => usize::from(net.az_count),
    }
}

/// NAT gateways that are up or coming up (deleted ones stay listed for an hour).
pub(crate) fn live_nat() -> Filter {
    Filter::builder()
        .name("state")
        .values("pending")
        .values("available")
        .build()
}

/// CreateNatGateway's client token: the address's id and a hash of the operation (64
/// characters at most, as EC2 allows).
fn token(allocation: &str, execution: &str) -> String {
    let mut hasher = DefaultHasher::new();
    execution.hash(&mut hasher);
    format!("{allocation}-{:016x}", hasher.finish())
}

/// The NAT gateway of `role` and its state, creating it (and its address) when missing.
pub(crate) async fn ensure(
    c: &Client,
    env: &Owner,
    index: usize,
    subnet: &str,
    execution: &str,
) -> Result<(String, NatGatewayState), ComponentError> {
    let role = format!("nat-{index}");
    let found = c
        .describe_nat_gateways()
        .set_filter(Some(owned(env, Some(&role))))
        .filter(live_nat())
        .send()
        .await
        .map_err(|e| classify("DescribeNatGateways", e))?;
    if let Some(nat) = ours(found.nat_gateways(), env, Some(&role)).next() {
        return Ok((
            nat.nat_gateway_id().unwrap_or_default().to_owned(),
            nat.state().cloned().unwrap_or(NatGatewayState::Pending),
        ));
    }
    let eip_role = format!("eip-{index}");
    let addresses = c
        .describe_addresses()
        .set_filters(Some(owned(env, Some(&eip_role))))
        .send()
        .await
        .map_err(|e| classify("DescribeAddresses", e))?;
    let allocation = match ours(addresses.addresses(), env, Some(&eip_role))
        .next()
        .and_then(|a| a.allocation_id())
    {
        Some(id) => id.to_owned(),
        None => c
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_spec(ResourceType::ElasticIp, env, &eip_role))
            .customize()
            .config_override(once())
            .send()
            .await
            .map_err(|e| classify("AllocateAddress", e))?
            .allocation_id()
            .ok_or_else(|| rejected("AllocateAddress returned no id".into()))?
            .to_owned(),
    };
    // The address and the operation make the idempotency token: a retry after a lost answer
    // gets the gateway the first attempt made; a wake (a later operation, the same kept
    // address) a new one, not the gateway its sleep deleted.
    let created = c
        .create_nat_gateway()
        .subnet_id(subnet)
        .client_token(token(&allocation, execution))
        .allocation_id(&allocation)
        .tag_specifications(tag_spec(ResourceType::Natgateway, env, &role))
        .send()
        .await
        .map_err(|e| classify("CreateNatGateway", e))?;
    let nat = created
        .nat_gateway()
        .ok_or_else(|| rejected("CreateNatGateway returned nothing".into()))?;
    Ok((
        nat.nat_gateway_id().unwrap_or_default().to_owned(),
        nat.state().cloned().unwrap_or(NatGatewayState::Pending),
    ))
}

/// Deletes this environment's NAT gateways from index `keep` on (`keep` 0: every one, its
/// role tag or not) and, unless `keep_addresses`, releases their addresses once the gateways
/// are gone (AWS refuses while one still holds its address). Answers whether none is left.
pub(crate) async fn remove_beyond(
    c: &Client,
    env: &Owner,
    keep: usize,
    keep_addresses: bool,
) -> Result<bool, ComponentError> {
    let beyond = |tags: &[aws_sdk_ec2::types::Tag], prefix: &str| {
        let index = tag_value(tags, ROLE)
            .and_then(|r| r.strip_prefix(prefix))
            .and_then(|i| i.parse::<usize>().ok());
        keep == 0 || index.is_some_and(|i| i >= keep)
    };
    // Deleted gateways stay listed for an hour; deleting ones are still going.
    let found = c
        .describe_nat_gateways()
        .set_filter(Some(owned(env, None)))
        .send()
        .await
        .map_err(|e| classify("DescribeNatGateways", e))?;
    let mut left = false;
    for nat in ours(found.nat_gateways(), env, None).filter(|n| beyond(n.tags(), "nat-")) {
        let id = nat.nat_gateway_id().unwrap_or_default();
        match nat.state() {
            Some(NatGatewayState::Deleted) | Some(NatGatewayState::Failed) => {}
            Some(NatGatewayState::Deleting) => left = true,
            _ => {
                c.delete_nat_gateway()
                    .nat_gateway_id(id)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("DeleteNatGateway {id}"), e))?;
                left = true;
            }
        }
    }
    if left || keep_addresses {
        return Ok(!left);
    }
    let addresses = c
        .describe_addresses()
        .set_filters(Some(owned(env, None)))
        .send()
        .await
        .map_err(|e| classify("DescribeAddresses", e))?;
    for address in ours(addresses.addresses(), env, None).filter(|a| beyond(a.tags(), "eip-")) {
        if let Some(id) = address.allocation_id() {
            c.release_address()
                .allocation_id(id)
                .send()
                .await
                .map_err(|e| classify(&format!("ReleaseAddress {id}"), e))?;
        }
    }
    Ok(true)
}
