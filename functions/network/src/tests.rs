//! The network handler with scripted EC2 responses: paths moto cannot produce on demand
//! (a pending NAT gateway) and ownership refusals.

use std::collections::BTreeMap;

use aws_sdk_ec2::operation::associate_route_table::AssociateRouteTableOutput;
use aws_sdk_ec2::operation::create_vpc::CreateVpcOutput;
use aws_sdk_ec2::operation::delete_vpc::DeleteVpcOutput;
use aws_sdk_ec2::operation::describe_addresses::DescribeAddressesOutput;
use aws_sdk_ec2::operation::describe_availability_zones::DescribeAvailabilityZonesOutput;
use aws_sdk_ec2::operation::describe_internet_gateways::DescribeInternetGatewaysOutput;
use aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput;
use aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput;
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput;
use aws_sdk_ec2::types::{
    AvailabilityZone, InternetGateway, InternetGatewayAttachment, NatGateway, Route, RouteTable,
    Subnet, Vpc,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use strata_core::OperationKind;

use super::*;
use strata_component::testing::{Fixed, assert_progress, context, owner};
use strata_testkit::staging;

/// The handler with EC2 answering `rules`. No load balancer call is scripted: a test that
/// reaches one fails.
fn network(rules: &[&Rule]) -> Network<Fixed<Client>, Fixed<Elb>> {
    Network {
        ec2: Fixed(mock_client!(aws_sdk_ec2, RuleMode::MatchAny, rules)),
        elb: Fixed(mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            &[]
        )),
    }
}

async fn step(rules: &[&Rule], destroy: bool) -> Result<Progress, ComponentError> {
    let network = network(rules);
    let env = staging();
    let context = context(OperationKind::Up, 1, 0);
    let dependencies = BTreeMap::new();
    strata_component::testing::step(&network, &env, &context, None, &dependencies, destroy).await
}

fn zones() -> Rule {
    mock!(Client::describe_availability_zones).then_output(|| {
        DescribeAvailabilityZonesOutput::builder()
            .availability_zones(AvailabilityZone::builder().zone_name("eu-west-1b").build())
            .availability_zones(AvailabilityZone::builder().zone_name("eu-west-1a").build())
            .availability_zones(AvailabilityZone::builder().zone_name("eu-west-1c").build())
            .build()
    })
}

/// Whether a Describe call filters on this environment's tags.
fn by_our_tags(filters: Option<&[Filter]>) -> bool {
    filters
        .unwrap_or_default()
        .iter()
        .any(|f| f.name() == Some("tag:strata:environment"))
}

#[tokio::test]
async fn a_vpc_named_like_ours_without_our_tags_is_never_touched() {
    let ours = mock!(Client::describe_vpcs)
        .match_requests(|r| by_our_tags(r.filters.as_deref()))
        .then_output(|| DescribeVpcsOutput::builder().build());
    let named = mock!(Client::describe_vpcs)
        .match_requests(|r| !by_our_tags(r.filters.as_deref()))
        .then_output(|| {
            DescribeVpcsOutput::builder()
                .vpcs(
                    Vpc::builder()
                        .vpc_id("vpc-foreign")
                        .cidr_block("10.40.0.0/16")
                        .build(),
                )
                .build()
        });
    let create = mock!(Client::create_vpc).then_output(|| CreateVpcOutput::builder().build());
    let err = step(&[&zones(), &ours, &named, &create], false)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "ResourceNotOwned");
    assert!(err.to_string().contains("vpc-foreign"), "{err}");
    assert_eq!(create.num_calls(), 0);
}

#[tokio::test]
async fn a_pending_nat_gateway_means_not_done_yet() {
    let vpc = our_vpc();
    // Each subnet as the tag-filtered describe of its role finds it.
    let subnets = mock!(Client::describe_subnets).then_output(|| {
        let mut out = DescribeSubnetsOutput::builder();
        for role in ["public-0", "public-1", "private-0", "private-1"] {
            out = out.subnets(
                Subnet::builder()
                    .subnet_id(format!("subnet-{role}"))
                    .map_public_ip_on_launch(role.starts_with("public"))
                    .set_tags(Some(network_tags("staging", role)))
                    .build(),
            );
        }
        out.build()
    });
    let igw = mock!(Client::describe_internet_gateways).then_output(|| {
        DescribeInternetGatewaysOutput::builder()
            .internet_gateways(
                InternetGateway::builder()
                    .internet_gateway_id("igw-1")
                    .attachments(InternetGatewayAttachment::builder().vpc_id("vpc-1").build())
                    .set_tags(Some(network_tags("staging", "igw")))
                    .build(),
            )
            .build()
    });
    let tables = mock!(Client::describe_route_tables).then_output(|| {
        DescribeRouteTablesOutput::builder()
            .route_tables(
                RouteTable::builder()
                    .route_table_id("rtb-1")
                    .routes(Route::builder().destination_cidr_block("0.0.0.0/0").build())
                    .set_tags(Some(network_tags("staging", "rt-public")))
                    .build(),
            )
            .build()
    });
    let associate = mock!(Client::associate_route_table)
        .then_output(|| AssociateRouteTableOutput::builder().build());
    let pending = mock!(Client::describe_nat_gateways).then_output(|| {
        DescribeNatGatewaysOutput::builder()
            .nat_gateways(nat("nat-1", NatGatewayState::Pending, "staging", "nat-0"))
            .build()
    });
    let groups = mock!(Client::describe_security_groups)
        .then_output(|| DescribeSecurityGroupsOutput::builder().build());
    let addresses = mock!(Client::describe_addresses)
        .then_output(|| DescribeAddressesOutput::builder().build());
    let dns = dns_on();
    let progress = step(
        &[
            &zones(),
            &dns,
            &vpc,
            &subnets,
            &igw,
            &tables,
            &associate,
            &pending,
            &groups,
            &addresses,
        ],
        false,
    )
    .await
    .unwrap();
    assert!(!progress.done);
    assert_eq!(progress.phase, Some(ComponentPhase::Creating));
    assert_eq!(progress.resource_ids["vpcId"], "vpc-1");
    assert_eq!(progress.resource_ids["natGatewayId.0"], "nat-1");
    // The private routes and the database group wait for the NAT gateway.
    assert_eq!(tables.num_calls(), 1, "only the public route table so far");
    assert_eq!(groups.num_calls(), 0);
}

#[tokio::test]
async fn destroying_what_is_already_gone_converges_without_deleting_anything() {
    let nats = mock!(Client::describe_nat_gateways)
        .then_output(|| DescribeNatGatewaysOutput::builder().build());
    let addresses = mock!(Client::describe_addresses)
        .then_output(|| DescribeAddressesOutput::builder().build());
    let igws = mock!(Client::describe_internet_gateways)
        .then_output(|| DescribeInternetGatewaysOutput::builder().build());
    let tables = mock!(Client::describe_route_tables)
        .then_output(|| DescribeRouteTablesOutput::builder().build());
    let subnets =
        mock!(Client::describe_subnets).then_output(|| DescribeSubnetsOutput::builder().build());
    let groups = mock!(Client::describe_security_groups)
        .then_output(|| DescribeSecurityGroupsOutput::builder().build());
    let vpcs = mock!(Client::describe_vpcs).then_output(|| DescribeVpcsOutput::builder().build());
    let delete = mock!(Client::delete_vpc).then_output(|| DeleteVpcOutput::builder().build());
    let progress = step(
        &[
            &nats, &addresses, &igws, &tables, &subnets, &groups, &vpcs, &delete,
        ],
        true,
    )
    .await
    .unwrap();
    assert_eq!(progress.phase, Some(ComponentPhase::Deleted));
    assert_eq!(delete.num_calls(), 0);
}

#[tokio::test]
async fn a_retained_database_keeps_the_network_it_lives_in() {
    let network = network(&[]);
    let env = staging();
    let context = context(OperationKind::Down, 1, 0);
    let retained = strata_core::ComponentStatus::new(ComponentPhase::Retained, 1, 0);
    let dependencies = BTreeMap::from([(Component::Database, retained)]);
    // No rule is scripted: any EC2 call would fail the step.
    let progress =
        strata_component::testing::step(&network, &env, &context, None, &dependencies, true)
            .await
            .unwrap();
    assert_progress(&progress, true, ComponentPhase::Retained);
    assert!(progress.outputs["retainedFor"].contains("onDelete: retain"));
}

fn duplicate_group() -> Rule {
    use aws_sdk_ec2::error::ErrorMetadata;
    use aws_sdk_ec2::operation::create_security_group::CreateSecurityGroupError;
    mock!(Client::create_security_group).then_error(|| {
        CreateSecurityGroupError::generic(
            ErrorMetadata::builder()
                .code("InvalidGroup.Duplicate")
                .message("The security group 'strata-staging-database' already exists")
                .build(),
        )
    })
}

fn listed_group(tags: Vec<Tag>) -> Rule {
    use aws_sdk_ec2::types::SecurityGroup;
    mock!(Client::describe_security_groups)
        .match_requests(|r| r.filters().iter().any(|f| f.name() == Some("group-name")))
        .then_output(move || {
            DescribeSecurityGroupsOutput::builder()
                .security_groups(
                    SecurityGroup::builder()
                        .group_id("sg-raced")
                        .group_name("strata-staging-database")
                        .set_tags(Some(tags.clone()))
                        .build(),
                )
                .build()
        })
}

#[tokio::test]
async fn a_database_group_created_by_a_racing_step_is_adopted_when_it_is_ours() {
    let client = mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        &[
            &duplicate_group(),
            &listed_group(network_tags("staging", "sg-database"))
        ]
    );
    let id = create_database_group(&client, &owner("staging"), "vpc-1")
        .await
        .unwrap();
    assert_eq!(id, "sg-raced");
}

#[tokio::test]
async fn a_same_named_group_without_our_tags_is_refused_not_adopted() {
    let foreign = vec![tag("strata:environment", "other")];
    let client = mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        &[&duplicate_group(), &listed_group(foreign)]
    );
    let err = create_database_group(&client, &owner("staging"), "vpc-1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ComponentError::ResourceNotOwned(_)),
        "{err:?}"
    );
}

/// Both DNS attributes of the VPC on, as DescribeVpcAttribute answers for either.
fn dns_on() -> Rule {
    use aws_sdk_ec2::operation::describe_vpc_attribute::DescribeVpcAttributeOutput;
    mock!(Client::describe_vpc_attribute).then_output(|| {
        DescribeVpcAttributeOutput::builder()
            .enable_dns_support(enabled())
            .enable_dns_hostnames(enabled())
            .build()
    })
}

/// DescribeVpcs finding staging's VPC, tagged as its network's.
fn our_vpc() -> Rule {
    mock!(Client::describe_vpcs).then_output(|| {
        DescribeVpcsOutput::builder()
            .vpcs(
                Vpc::builder()
                    .vpc_id("vpc-1")
                    .cidr_block("10.40.0.0/16")
                    .set_tags(Some(network_tags("staging", "vpc")))
                    .build(),
            )
            .build()
    })
}

/// A NAT gateway carrying `environment`'s network tags for `role`.
fn nat(id: &str, state: NatGatewayState, environment: &str, role: &str) -> NatGateway {
    NatGateway::builder()
        .nat_gateway_id(id)
        .state(state)
        .set_tags(Some(network_tags(environment, role)))
        .build()
}

fn network_tags(environment: &str, role: &str) -> Vec<Tag> {
    let mut tags: Vec<Tag> = owner(environment)
        .tags(Component::Network)
        .iter()
        .map(|(k, v)| tag(k, v))
        .collect();
    tags.push(tag(ROLE, role));
    tags
}

/// moto answers DescribeNatGateways with every NAT gateway whatever its `tag:` filters say
/// (so did the first round's perAz network, which then routed every AZ through nat-0): the
/// second AZ's gateway must be created, not taken to be the first one.
#[tokio::test]
async fn a_nat_gateway_the_filter_let_through_is_not_taken_for_another_role() {
    use aws_sdk_ec2::operation::allocate_address::AllocateAddressOutput;
    use aws_sdk_ec2::operation::create_nat_gateway::CreateNatGatewayOutput;
    let unfiltered = mock!(Client::describe_nat_gateways).then_output(|| {
        DescribeNatGatewaysOutput::builder()
            .nat_gateways(nat("nat-0", NatGatewayState::Available, "staging", "nat-0"))
            .nat_gateways(nat(
                "nat-other",
                NatGatewayState::Available,
                "other",
                "nat-1",
            ))
            .build()
    });
    let no_address = mock!(Client::describe_addresses)
        .then_output(|| DescribeAddressesOutput::builder().build());
    let allocate = mock!(Client::allocate_address).then_output(|| {
        AllocateAddressOutput::builder()
            .allocation_id("eipalloc-1")
            .build()
    });
    let create = mock!(Client::create_nat_gateway).then_output(|| {
        CreateNatGatewayOutput::builder()
            .nat_gateway(nat("nat-1", NatGatewayState::Pending, "staging", "nat-1"))
            .build()
    });
    let client = mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        &[&unfiltered, &no_address, &allocate, &create]
    );
    let (id, state) = nat::ensure(
        &client,
        &owner("staging"),
        1,
        "subnet-public-1",
        "up-staging-1-0",
    )
    .await
    .unwrap();
    assert_eq!((id.as_str(), state), ("nat-1", NatGatewayState::Pending));
    assert_eq!(create.num_calls(), 1);
    // The first AZ's is found, tags and all.
    let (id, _) = nat::ensure(
        &client,
        &owner("staging"),
        0,
        "subnet-public-0",
        "up-staging-1-0",
    )
    .await
    .unwrap();
    assert_eq!(id, "nat-0");
}

/// A step that crashed right after CreateVpc left DNS off: the next apply finds the VPC and
/// turns on what is off, and only that.
#[tokio::test]
async fn a_found_vpc_gets_the_dns_attributes_a_crash_left_off() {
    use aws_sdk_ec2::operation::describe_vpc_attribute::DescribeVpcAttributeOutput;
    use aws_sdk_ec2::operation::modify_vpc_attribute::ModifyVpcAttributeOutput;
    let found = our_vpc();
    let support_on = mock!(Client::describe_vpc_attribute)
        .match_requests(|r| r.attribute() == Some(&VpcAttributeName::EnableDnsSupport))
        .then_output(|| {
            DescribeVpcAttributeOutput::builder()
                .enable_dns_support(enabled())
                .build()
        });
    let hostnames_off = mock!(Client::describe_vpc_attribute)
        .match_requests(|r| r.attribute() == Some(&VpcAttributeName::EnableDnsHostnames))
        .then_output(|| {
            DescribeVpcAttributeOutput::builder()
                .enable_dns_hostnames(AttributeBooleanValue::builder().value(false).build())
                .build()
        });
    let modify = mock!(Client::modify_vpc_attribute)
        .match_requests(|r| r.enable_dns_hostnames().is_some() && r.enable_dns_support().is_none())
        .then_output(|| ModifyVpcAttributeOutput::builder().build());
    let client = mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        &[&found, &support_on, &hostnames_off, &modify]
    );
    let id = ensure_vpc(&client, &owner("staging"), "10.40.0.0/16")
        .await
        .unwrap();
    assert_eq!(id, "vpc-1");
    assert_eq!(modify.num_calls(), 1, "only the attribute that was off");
}
