//! The DB subnet group `strata-<env>`: made with the network's private subnets and kept in
//! step with them, deleted with the instance.

use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbSubnetGroup;
use strata_component::ComponentError;
use strata_component::aws::{classify, code};
use strata_component::clients::Regional;
use strata_core::tags::Owner;

use crate::Database;
use crate::resources::{check_owned, instance_name, rds_tags, tags_of};

/// Creates the subnet group, or checks it is ours and has the network's private subnets.
pub(crate) async fn ensure_subnet_group(
    client: &Client,
    environment: &Owner,
    subnets: &[String],
) -> Result<(), ComponentError> {
    let name = instance_name(&environment.environment);
    match client
        .describe_db_subnet_groups()
        .db_subnet_group_name(&name)
        .send()
        .await
    {
        Ok(out) => {
            let group = out
                .db_subnet_groups()
                .first()
                .cloned()
                .unwrap_or_else(|| DbSubnetGroup::builder().build());
            let arn = group.db_subnet_group_arn().unwrap_or_default();
            check_owned(
                &format!("DB subnet group {name}"),
                &tags_of(client, arn).await?,
                environment,
            )?;
            let mut have: Vec<&str> = group
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_identifier())
                .collect();
            have.sort_unstable();
            let mut want: Vec<&str> = subnets.iter().map(String::as_str).collect();
            want.sort_unstable();
            if have != want {
                client
                    .modify_db_subnet_group()
                    .db_subnet_group_name(&name)
                    .set_subnet_ids(Some(subnets.to_vec()))
                    .send()
                    .await
                    .map_err(|e| classify(&format!("ModifyDBSubnetGroup {name}"), e))?;
            }
            Ok(())
        }
        Err(e) if code(&e) == Some("DBSubnetGroupNotFoundFault") => client
            .create_db_subnet_group()
            .db_subnet_group_name(&name)
            .db_subnet_group_description(format!("strata {environment}: the database's subnets"))
            .set_subnet_ids(Some(subnets.to_vec()))
            .set_tags(Some(rds_tags(environment)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&format!("CreateDBSubnetGroup {name}"), e)),
        Err(e) => Err(classify(&format!("DescribeDBSubnetGroups {name}"), e)),
    }
}

impl<C: Regional<Client>> Database<C> {
    pub(crate) async fn delete_subnet_group(
        &self,
        client: &Client,
        env: &Owner,
    ) -> Result<(), ComponentError> {
        let name = instance_name(&env.environment);
        let group = match client
            .describe_db_subnet_groups()
            .db_subnet_group_name(&name)
            .send()
            .await
        {
            Ok(out) => out
                .db_subnet_groups()
                .first()
                .cloned()
                .unwrap_or_else(|| DbSubnetGroup::builder().build()),
            Err(e) if code(&e) == Some("DBSubnetGroupNotFoundFault") => return Ok(()),
            Err(e) => return Err(classify(&format!("DescribeDBSubnetGroups {name}"), e)),
        };
        let arn = group.db_subnet_group_arn().unwrap_or_default();
        check_owned(
            &format!("DB subnet group {name}"),
            &tags_of(client, arn).await?,
            env,
        )?;
        match client
            .delete_db_subnet_group()
            .db_subnet_group_name(&name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("DBSubnetGroupNotFoundFault") => Ok(()),
            Err(e) => Err(classify(&format!("DeleteDBSubnetGroup {name}"), e)),
        }
    }
}
