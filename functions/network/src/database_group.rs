//! The database security group: the database's port, open from inside the VPC only; one made
//! by a racing step is adopted when its tags say it is ours.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType};
use strata_component::ComponentError;
use strata_component::aws::{classify, code};
use strata_core::spec::DatabaseEngine;
use strata_core::tags::Owner;

use crate::ec2::{returned_id, until_known};
use crate::tagging::{filter, ours, owned, tag_spec};

/// The database's port, opened from inside the VPC.
pub(crate) fn database_port(engine: DatabaseEngine) -> i32 {
    match engine {
        DatabaseEngine::Postgres => 5432,
        DatabaseEngine::Mysql => 3306,
    }
}

pub(crate) async fn ensure_database_group(
    c: &Client,
    env: &Owner,
    vpc: &str,
    cidr: &str,
    port: Option<i32>,
) -> Result<String, ComponentError> {
    let found = c
        .describe_security_groups()
        .set_filters(Some(owned(env, Some("sg-database"))))
        .filters(filter("vpc-id", vpc))
        .send()
        .await
        .map_err(|e| classify("DescribeSecurityGroups", e))?;
    let id = match ours(found.security_groups(), env, Some("sg-database"))
        .next()
        .and_then(|g| g.group_id())
    {
        Some(id) => id.to_owned(),
        None => create_database_group(c, env, vpc).await?,
    };
    if let Some(port) = port {
        let rule = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
            .build();
        match c
            .authorize_security_group_ingress()
            .group_id(&id)
            .ip_permissions(rule)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if code(&e) == Some("InvalidPermission.Duplicate") => {}
            Err(e) => return Err(classify("AuthorizeSecurityGroupIngress", e)),
        }
    }
    Ok(id)
}

/// Creates the database group. Another step of this environment (a retry, or a failed
/// execution's step still running beside a resumed one) may create it between our describe
/// and our create: AWS then answers `InvalidGroup.Duplicate`, and the group that exists is
/// adopted if its tags say it is this environment's network's, refused otherwise.
pub(crate) async fn create_database_group(
    c: &Client,
    env: &Owner,
    vpc: &str,
) -> Result<String, ComponentError> {
    let name = format!("strata-{env}-database");
    let created = c
        .create_security_group()
        .group_name(&name)
        .description(format!(
            "strata {env}: the database, reachable from inside the VPC"
        ))
        .vpc_id(vpc)
        .tag_specifications(tag_spec(ResourceType::SecurityGroup, env, "sg-database"))
        .send()
        .await;
    match created {
        Ok(out) => {
            let id = returned_id("CreateSecurityGroup", out.group_id())?;
            until_known(&format!("DescribeSecurityGroups {id}"), || {
                c.describe_security_groups().group_ids(&id).send()
            })
            .await?;
            Ok(id)
        }
        Err(e) if code(&e) == Some("InvalidGroup.Duplicate") => {
            let existing = c
                .describe_security_groups()
                .filters(filter("group-name", &name))
                .filters(filter("vpc-id", vpc))
                .send()
                .await
                .map_err(|e| classify("DescribeSecurityGroups", e))?;
            let group = existing.security_groups().first().ok_or_else(|| {
                // Created and deleted again between the two calls: the next attempt sees
                // which it is.
                ComponentError::AwsTransient(format!(
                    "security group {name} was reported as existing but is not listed"
                ))
            })?;
            ours(std::slice::from_ref(group), env, Some("sg-database"))
                .next()
                .and_then(|g| g.group_id())
                .map(str::to_owned)
                .ok_or_else(|| {
                    ComponentError::ResourceNotOwned(format!(
                        "security group {name} in {vpc} exists without environment {env}'s tags"
                    ))
                })
        }
        Err(e) => Err(classify("CreateSecurityGroup", e)),
    }
}
