//! Drift: the live network read back (one describe per kind of resource) and compared with
//! what `apply` would create or put back.

use aws_sdk_ec2::Client;
use aws_sdk_elasticloadbalancingv2::Client as Elb;
use strata_component::aws::classify;
use strata_component::clients::Regional;
use strata_component::{ComponentError, Step};
use strata_core::drift::{FieldDrift, Observed};
use strata_core::tags::Owner;

use crate::Network;
use crate::database_group::database_port;
use crate::nat::{live_nat, nat_count};
use crate::tagging::{ROLE, filter, ours, owned, tag_value};
use crate::vpc::{DNS_ATTRIBUTES, dns_attribute, our_vpcs};

/// What observing found so far: resources gone, fields changed.
#[derive(Default)]
pub(crate) struct Findings {
    pub(crate) missing: Vec<String>,
    pub(crate) fields: Vec<FieldDrift>,
}

impl<E: Regional<Client>, L: Regional<Elb>> Network<E, L> {
    /// The VPC and its CIDR, every subnet, the internet gateway's attachment, the NAT
    /// gateways, each route table's default route and subnets, the database group's rule.
    pub(crate) async fn observe_step(&self, step: &Step<'_>) -> Result<Observed, ComponentError> {
        let found = self.findings(step.environment, step.owner).await?;
        Ok(Observed::from_findings(found.missing, found.fields))
    }

    /// Reads only, one describe per kind of resource, each found by this environment's
    /// network tags: what `apply` would create or put back is what is compared.
    pub(crate) async fn findings(
        &self,
        env: &strata_core::Environment,
        name: &Owner,
    ) -> Result<Findings, ComponentError> {
        let net = &env.spec.network;
        let c = self.ec2.client(&env.spec.region);
        let mut found = Findings::default();
        let vpcs = our_vpcs(&c, name).await?;
        let Some(vpc) = vpcs.first() else {
            found.missing.push(format!("vpc strata-{name}-vpc"));
            return Ok(found);
        };
        let vpc_id = vpc.vpc_id().unwrap_or_default();
        if vpc.cidr_block() != Some(net.cidr.as_str()) {
            found.fields.push(FieldDrift::new(
                format!("vpc {vpc_id}/cidrBlock"),
                &net.cidr,
                vpc.cidr_block().unwrap_or("unset"),
            ));
        }
        for dns in &DNS_ATTRIBUTES {
            let value = dns_attribute(&c, vpc_id, dns).await?;
            if value != Some(true) {
                found.fields.push(FieldDrift::new(
                    format!("vpc {vpc_id}/{}", dns.1),
                    "true",
                    value.map_or("unset".to_owned(), |v| v.to_string()),
                ));
            }
        }

        let subnets = c
            .describe_subnets()
            .set_filters(Some(owned(name, None)))
            .filters(filter("vpc-id", vpc_id))
            .send()
            .await
            .map_err(|e| classify("DescribeSubnets", e))?;
        let subnet = |role: &str| ours(subnets.subnets(), name, Some(role)).next();
        let mut public = Vec::new();
        let mut private = Vec::new();
        for i in 0..usize::from(net.az_count) {
            for (ids, kind) in [(&mut public, "public"), (&mut private, "private")] {
                let role = format!("{kind}-{i}");
                let Some(found_subnet) = subnet(&role) else {
                    found.missing.push(format!("subnet strata-{name}-{role}"));
                    continue;
                };
                let id = found_subnet.subnet_id().unwrap_or_default();
                if kind == "public" && found_subnet.map_public_ip_on_launch() != Some(true) {
                    found.fields.push(FieldDrift::new(
                        format!("subnet {id}/mapPublicIpOnLaunch"),
                        "true",
                        "false",
                    ));
                }
                ids.push(id.to_owned());
            }
        }

        let gateways = c
            .describe_internet_gateways()
            .set_filters(Some(owned(name, Some("igw"))))
            .send()
            .await
            .map_err(|e| classify("DescribeInternetGateways", e))?;
        let igw = match gateways.internet_gateways().first() {
            None => {
                found
                    .missing
                    .push(format!("internet gateway strata-{name}-igw"));
                None
            }
            Some(igw) => {
                let id = igw.internet_gateway_id().unwrap_or_default();
                if !igw.attachments().iter().any(|a| a.vpc_id() == Some(vpc_id)) {
                    found.fields.push(FieldDrift::new(
                        format!("internet gateway {id}/attachments"),
                        vpc_id,
                        "detached",
                    ));
                }
                Some(id.to_owned())
            }
        };

        let nat_count = nat_count(net);
        let nats = c
            .describe_nat_gateways()
            .set_filter(Some(owned(name, None)))
            .filter(live_nat())
            .send()
            .await
            .map_err(|e| classify("DescribeNatGateways", e))?;
        let mut nat_ids = Vec::new();
        for j in 0..nat_count {
            let role = format!("nat-{j}");
            match ours(nats.nat_gateways(), name, Some(&role))
                .next()
                .and_then(|n| n.nat_gateway_id())
            {
                Some(id) => nat_ids.push(id.to_owned()),
                None => found
                    .missing
                    .push(format!("nat gateway strata-{name}-{role}")),
            }
        }

        let tables = c
            .describe_route_tables()
            .set_filters(Some(owned(name, None)))
            .filters(filter("vpc-id", vpc_id))
            .send()
            .await
            .map_err(|e| classify("DescribeRouteTables", e))?;
        let mut expected_tables = vec![("rt-public".to_owned(), igw, public)];
        for (i, subnet) in private.into_iter().enumerate() {
            let nat = nat_ids.get(i).or(nat_ids.first()).cloned();
            let nat = if nat_count == 0 { None } else { nat };
            expected_tables.push((format!("rt-private-{i}"), nat, vec![subnet]));
        }
        for (role, target, subnets) in expected_tables {
            let Some(table) = tables
                .route_tables()
                .iter()
                .find(|t| tag_value(t.tags(), ROLE) == Some(role.as_str()))
            else {
                found
                    .missing
                    .push(format!("route table strata-{name}-{role}"));
                continue;
            };
            let id = table.route_table_id().unwrap_or_default();
            if let Some(target) = target {
                let default = table
                    .routes()
                    .iter()
                    .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"));
                let via = default.and_then(|r| r.gateway_id().or(r.nat_gateway_id()));
                if via != Some(target.as_str()) {
                    found.fields.push(FieldDrift::new(
                        format!("route table {id}/routes[0.0.0.0/0]"),
                        target,
                        via.unwrap_or("absent"),
                    ));
                }
            }
            let associated: Vec<&str> = table
                .associations()
                .iter()
                .filter_map(|a| a.subnet_id())
                .collect();
            for subnet in subnets.iter().filter(|s| !associated.contains(&s.as_str())) {
                found.fields.push(FieldDrift::new(
                    format!("route table {id}/associations"),
                    subnet,
                    "not associated",
                ));
            }
        }

        let groups = c
            .describe_security_groups()
            .set_filters(Some(owned(name, Some("sg-database"))))
            .filters(filter("vpc-id", vpc_id))
            .send()
            .await
            .map_err(|e| classify("DescribeSecurityGroups", e))?;
        match groups.security_groups().first() {
            None => found
                .missing
                .push(format!("security group strata-{name}-database")),
            Some(group) => {
                if let Some(port) = env.spec.database.as_ref().map(|d| database_port(d.engine)) {
                    let open = group.ip_permissions().iter().any(|p| {
                        p.ip_protocol() == Some("tcp")
                            && p.from_port() == Some(port)
                            && p.to_port() == Some(port)
                            && p.ip_ranges().iter().any(|r| r.cidr_ip() == Some(&net.cidr))
                    });
                    if !open {
                        found.fields.push(FieldDrift::new(
                            format!(
                                "security group {}/ingress[tcp {port}]",
                                group.group_id().unwrap_or_default()
                            ),
                            &net.cidr,
                            "absent",
                        ));
                    }
                }
            }
        }
        Ok(found)
    }
}
