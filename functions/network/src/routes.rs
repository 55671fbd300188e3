//! The route tables: each one's default route (to the internet gateway, a NAT gateway, or
//! none) pointed where the spec says, and its subnets associated.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::ResourceType;
use strata_component::ComponentError;
use strata_component::aws::{classify, code};
use strata_core::tags::Owner;

use crate::ec2::{once, returned_id, until_known};
use crate::tagging::{ours, owned, tag_spec};

/// Where a route table's default route goes.
pub(crate) enum Target<'a> {
    Gateway(&'a str),
    Nat(&'a str),
    Nowhere,
}

pub(crate) async fn ensure_route_table(
    c: &Client,
    env: &Owner,
    vpc: &str,
    role: &str,
    target: Target<'_>,
    subnets: &[String],
) -> Result<String, ComponentError> {
    let found = c
        .describe_route_tables()
        .set_filters(Some(owned(env, Some(role))))
        .send()
        .await
        .map_err(|e| classify("DescribeRouteTables", e))?;
    let (id, default, associated) = match ours(found.route_tables(), env, Some(role)).next() {
        Some(rt) => (
            rt.route_table_id().unwrap_or_default().to_owned(),
            rt.routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                .map(|r| r.nat_gateway_id().or(r.gateway_id()).map(str::to_owned)),
            rt.associations()
                .iter()
                .filter_map(|a| a.subnet_id().map(str::to_owned))
                .collect::<Vec<_>>(),
        ),
        None => {
            let created = c
                .create_route_table()
                .vpc_id(vpc)
                .tag_specifications(tag_spec(ResourceType::RouteTable, env, role))
                .customize()
                .config_override(once())
                .send()
                .await
                .map_err(|e| classify("CreateRouteTable", e))?;
            let table = created.route_table();
            let id = returned_id("CreateRouteTable", table.and_then(|r| r.route_table_id()))?;
            until_known(&format!("DescribeRouteTables {id}"), || {
                c.describe_route_tables().route_table_ids(&id).send()
            })
            .await?;
            (id, None, Vec::new())
        }
    };
    let wanted = match target {
        Target::Gateway(igw) => Some(igw),
        Target::Nat(nat) => Some(nat),
        Target::Nowhere => None,
    };
    // A default route to a gateway that is no more (a NAT gateway a sleep removed, now
    // back with a new id) is pointed at the one wanted.
    if let (Some(Some(current)), Some(wanted)) = (&default, wanted)
        && current != wanted
    {
        let replace = c
            .replace_route()
            .route_table_id(&id)
            .destination_cidr_block("0.0.0.0/0");
        let replace = match target {
            Target::Gateway(igw) => replace.gateway_id(igw),
            _ => replace.nat_gateway_id(wanted),
        };
        replace
            .send()
            .await
            .map_err(|e| classify(&format!("ReplaceRoute {role}"), e))?;
    }
    if default.is_none() {
        let route = c
            .create_route()
            .route_table_id(&id)
            .destination_cidr_block("0.0.0.0/0");
        let route = match target {
            Target::Gateway(igw) => Some(route.gateway_id(igw)),
            Target::Nat(nat) => Some(route.nat_gateway_id(nat)),
            Target::Nowhere => None,
        };
        if let Some(route) = route {
            route.send().await.map_err(|e| match code(&e) {
                // A step of a failed operation still in flight made it after our describe:
                // the retry finds it.
                Some("RouteAlreadyExists") => ComponentError::AwsTransient(format!(
                    "CreateRoute {role}: the default route appeared meanwhile"
                )),
                _ => classify(&format!("CreateRoute {role}"), e),
            })?;
        }
    }
    for subnet in subnets.iter().filter(|s| !associated.contains(s)) {
        c.associate_route_table()
            .route_table_id(&id)
            .subnet_id(subnet)
            .send()
            .await
            .map_err(|e| classify(&format!("AssociateRouteTable {role}"), e))?;
    }
    Ok(id)
}
