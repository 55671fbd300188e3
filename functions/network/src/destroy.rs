//! The destroy path: what Kubernetes left in the VPC swept first, then the NAT gateways
//! (awaited) and their addresses, then the rest in dependency order. A network a retained
//! database still lives in stays.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput;
use aws_sdk_ec2::types::{SecurityGroup, Subnet, Vpc};
use aws_sdk_elasticloadbalancingv2::Client as Elb;
use strata_component::aws::classify;
use strata_component::clients::Regional;
use strata_component::{ComponentError, Progress, Step};
use strata_core::status::ComponentPhase;
use strata_core::tags::Owner;
use strata_core::{Awaited, Component};

use crate::tagging::{Tagged, ours, owned};
use crate::vpc::our_vpcs;
use crate::{Network, nat, sweep};

impl<E: Regional<Client>, L: Regional<Elb>> Network<E, L> {
    /// One step of `destroy`: answers not done while something still has to go first.
    pub(crate) async fn destroy_step(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let env = step.environment;
        let name = step.owner;
        // A database kept by `onDelete: retain` still lives in the private subnets and the
        // database security group: the network stays with it, and says why.
        if step
            .dependencies
            .get(&Component::Database)
            .is_some_and(|db| db.phase == ComponentPhase::Retained)
        {
            let mut kept = Progress::finished(ComponentPhase::Retained);
            kept.outputs.insert(
                "retainedFor".into(),
                "the database (onDelete: retain) still uses its subnets".into(),
            );
            return Ok(kept);
        }
        let c = self.ec2.client(&env.spec.region);
        let all = || owned(name, None);

        // What Kubernetes left in the VPC goes first: AWS refuses DeleteVpc while it stays.
        let vpcs = our_vpcs(&c, name).await?;
        for vpc in vpcs.iter().filter_map(|v| v.vpc_id()) {
            let elb = self.elb.client(&env.spec.region);
            if !sweep::sweep(&c, &elb, vpc, &format!("strata-{name}")).await? {
                return Ok(Progress::waiting(ComponentPhase::Deleting));
            }
        }

        // NAT gateways next: they hold addresses and ENIs in the public subnets; their
        // addresses go once they are gone.
        if !nat::remove_beyond(&c, name, 0, false).await? {
            return Ok(
                Progress::waiting(ComponentPhase::Deleting).awaiting(Awaited::NatGatewayDelete)
            );
        }
        let igws = c
            .describe_internet_gateways()
            .set_filters(Some(all()))
            .send()
            .await
            .map_err(|e| classify("DescribeInternetGateways", e))?;
        for igw in ours(igws.internet_gateways(), name, None) {
            let id = igw.internet_gateway_id().unwrap_or_default();
            for attachment in igw.attachments() {
                c.detach_internet_gateway()
                    .internet_gateway_id(id)
                    .vpc_id(attachment.vpc_id().unwrap_or_default())
                    .send()
                    .await
                    .map_err(|e| classify(&format!("DetachInternetGateway {id}"), e))?;
            }
            c.delete_internet_gateway()
                .internet_gateway_id(id)
                .send()
                .await
                .map_err(|e| classify(&format!("DeleteInternetGateway {id}"), e))?;
        }
        let tables = c
            .describe_route_tables()
            .set_filters(Some(all()))
            .send()
            .await
            .map_err(|e| classify("DescribeRouteTables", e))?;
        for table in ours(tables.route_tables(), name, None) {
            let id = table.route_table_id().unwrap_or_default();
            for association in table.associations() {
                if let Some(association) = association.route_table_association_id() {
                    c.disassociate_route_table()
                        .association_id(association)
                        .send()
                        .await
                        .map_err(|e| classify(&format!("DisassociateRouteTable {id}"), e))?;
                }
            }
            c.delete_route_table()
                .route_table_id(id)
                .send()
                .await
                .map_err(|e| classify(&format!("DeleteRouteTable {id}"), e))?;
        }
        delete_ours(
            name,
            ("DescribeSubnets", "DeleteSubnet"),
            c.describe_subnets().set_filters(Some(all())).send(),
            DescribeSubnetsOutput::subnets,
            Subnet::subnet_id,
            |id| c.delete_subnet().subnet_id(id).send(),
        )
        .await?;
        delete_ours(
            name,
            ("DescribeSecurityGroups", "DeleteSecurityGroup"),
            c.describe_security_groups().set_filters(Some(all())).send(),
            DescribeSecurityGroupsOutput::security_groups,
            SecurityGroup::group_id,
            |id| c.delete_security_group().group_id(id).send(),
        )
        .await?;
        delete_ours(
            name,
            ("DescribeVpcs", "DeleteVpc"),
            c.describe_vpcs().set_filters(Some(all())).send(),
            DescribeVpcsOutput::vpcs,
            Vpc::vpc_id,
            |id| c.delete_vpc().vpc_id(id).send(),
        )
        .await?;
        Ok(Progress::finished(ComponentPhase::Deleted))
    }
}

/// Deletes the resources of one kind that a tag-filtered describe lists and that really are
/// this environment's network's: the describe first, then `delete` of each by its id, one
/// after the other in the order listed. A failed call ends the step, classified under its
/// name (`DescribeSubnets`, `DeleteSubnet <id>`).
async fn delete_ours<O, T, DE, F, X, XE>(
    name: &Owner,
    (describing, deleting): (&str, &str),
    describe: impl std::future::Future<Output = Result<O, SdkError<DE, HttpResponse>>>,
    listed: impl Fn(&O) -> &[T],
    id_of: impl Fn(&T) -> Option<&str>,
    delete: impl Fn(&str) -> F,
) -> Result<(), ComponentError>
where
    T: Tagged,
    DE: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    F: std::future::Future<Output = Result<X, SdkError<XE, HttpResponse>>>,
    XE: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let found = describe.await.map_err(|e| classify(describing, e))?;
    for item in ours(listed(&found), name, None) {
        let id = id_of(item).unwrap_or_default();
        delete(id)
            .await
            .map_err(|e| classify(&format!("{deleting} {id}"), e))?;
    }
    Ok(())
}
