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
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, IpRange, NatGatewayState, ResourceType, Tag,
    TagSpecification, VpcAttributeName,
};
use strata_component::aws::{classify, code};
use strata_component::{ComponentError, ComponentHandler, Progress, Step};
use strata_core::drift::{FieldDrift, Observed};
use strata_core::spec::{DatabaseEngine, NatGateways, NetworkSpec};
use strata_core::status::ComponentPhase;
use strata_core::tags::{self, Owner};
use strata_core::{Awaited, Component, subnet_cidrs};

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

const ROLE: &str = "strata:role";

/// The most availability zones a spec may name (`validate` allows 2 to 6): the most NAT
/// gateways an environment can have had.
const MAX_AZ_COUNT: usize = 6;

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// The tags of one resource: Strata's, its role, and a readable Name.
fn tag_spec(kind: ResourceType, environment: &Owner, role: &str) -> TagSpecification {
    let mut builder = TagSpecification::builder().resource_type(kind);
    for (k, v) in environment.tags(Component::Network) {
        builder = builder.tags(tag(k, &v));
    }
    builder
        .tags(tag(ROLE, role))
        .tags(tag("Name", &format!("strata-{environment}-{role}")))
        .build()
}

/// For a create EC2 cannot repeat safely (no idempotency token): the SDK must not send it
/// again after an answer was lost, or a second VPC (gateway, route table, address) is
/// made. The step fails transient instead, and its next attempt finds by its tags what
/// the first made.
fn once() -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::config::Builder::default()
        .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// Filters that match this environment's network resources, of one role or of any.
fn owned(environment: &Owner, role: Option<&str>) -> Vec<Filter> {
    let mut filters: Vec<Filter> = tags::base(&environment.environment, Component::Network)
        .iter()
        .map(|(k, v)| filter(&format!("tag:{k}"), v))
        .collect();
    if let Some(role) = role {
        filters.push(filter(&format!("tag:{ROLE}"), role));
    }
    filters
}

/// An EC2 resource with tags.
trait Tagged {
    fn tags(&self) -> &[Tag];
}

macro_rules! tagged {
    ($($t:ty),*) => {$(
        impl Tagged for $t {
            fn tags(&self) -> &[Tag] {
                <$t>::tags(self)
            }
        }
    )*};
}
tagged!(
    aws_sdk_ec2::types::NatGateway,
    aws_sdk_ec2::types::Address,
    aws_sdk_ec2::types::InternetGateway,
    aws_sdk_ec2::types::Subnet,
    aws_sdk_ec2::types::RouteTable,
    aws_sdk_ec2::types::SecurityGroup,
    aws_sdk_ec2::types::Vpc
);

/// What a tag-filtered Describe returned that really carries this environment's network tags
/// (and `role`'s): a filter is not a guarantee (moto ignores `tag:` filters on
/// DescribeNatGateways, and a wrong match here would reuse or delete another's resource).
fn ours<'a, 'o, T: Tagged>(
    items: &'a [T],
    environment: &'o Owner,
    role: Option<&'o str>,
) -> impl Iterator<Item = &'a T> + use<'a, 'o, T> {
    items.iter().filter(move |item| {
        let tags = item.tags();
        environment.owns(
            tags.iter().filter_map(|t| Some((t.key()?, t.value()?))),
            Component::Network,
        ) && role.is_none_or(|role| tag_value(tags, ROLE) == Some(role))
    })
}

/// How many NAT gateways the spec asks for.
fn nat_count(net: &NetworkSpec) -> usize {
    match net.nat_gateways {
        NatGateways::None => 0,
        NatGateways::Single => 1,
        NatGateways::PerAz => usize::from(net.az_count),
    }
}

/// NAT gateways that are up or coming up (deleted ones stay listed for an hour).
fn live_nat() -> Filter {
    Filter::builder()
        .name("state")
        .values("pending")
        .values("available")
        .build()
}

fn enabled() -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(true).build()
}

fn rejected(message: String) -> ComponentError {
    ComponentError::AwsRejected(message)
}

/// The database's port, opened from inside the VPC.
fn database_port(engine: DatabaseEngine) -> i32 {
    match engine {
        DatabaseEngine::Postgres => 5432,
        DatabaseEngine::Mysql => 3306,
    }
}

async fn zones(c: &Client, count: usize) -> Result<Vec<String>, ComponentError> {
    let out = c
        .describe_availability_zones()
        .filters(filter("state", "available"))
        .send()
        .await
        .map_err(|e| classify("DescribeAvailabilityZones", e))?;
    let mut names: Vec<String> = out
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name().map(str::to_owned))
        .collect();
    names.sort();
    if names.len() < count {
        return Err(rejected(format!(
            "the region has {} availability zones; the spec asks for {count}",
            names.len()
        )));
    }
    names.truncate(count);
    Ok(names)
}

async fn ensure_vpc(c: &Client, env: &Owner, cidr: &str) -> Result<String, ComponentError> {
    let found = c
        .describe_vpcs()
        .set_filters(Some(owned(env, Some("vpc"))))
        .send()
        .await
        .map_err(|e| classify("DescribeVpcs", e))?;
    if let Some(vpc) = ours(found.vpcs(), env, Some("vpc")).next() {
        if vpc.cidr_block() != Some(cidr) {
            return Err(rejected(format!(
                "the VPC has CIDR {:?} and the spec asks for {cidr}; a VPC's CIDR cannot change",
                vpc.cidr_block()
            )));
        }
        let id = vpc.vpc_id().unwrap_or_default().to_owned();
        // Also when found: a step that crashed between the create and these would leave
        // them unset for good.
        converge_vpc_dns(c, &id).await?;
        return Ok(id);
    }
    let name = format!("strata-{env}-vpc");
    let named = c
        .describe_vpcs()
        .filters(filter("tag:Name", &name))
        .send()
        .await
        .map_err(|e| classify("DescribeVpcs", e))?;
    if let Some(vpc) = named.vpcs().first() {
        return Err(ComponentError::ResourceNotOwned(format!(
            "VPC {} is named {name} but lacks environment {env}'s network tags; Strata leaves it alone",
            vpc.vpc_id().unwrap_or_default()
        )));
    }
    let created = c
        .create_vpc()
        .cidr_block(cidr)
        .tag_specifications(tag_spec(ResourceType::Vpc, env, "vpc"))
        .customize()
        .config_override(once())
        .send()
        .await
        .map_err(|e| classify("CreateVpc", e))?;
    let id = created
        .vpc()
        .and_then(|v| v.vpc_id())
        .ok_or_else(|| rejected("CreateVpc returned no id".into()))?
        .to_owned();
    until_known(&format!("DescribeVpcs {id}"), || async {
        c.describe_vpcs().vpc_ids(&id).send().await.map(|_| ())
    })
    .await?;
    converge_vpc_dns(c, &id).await?;
    Ok(id)
}

/// EC2 is eventually consistent: an id a `Create*` just answered may be unknown to the
/// next calls for a moment (the EC2 API reference: "wait and retry"). Waits until a
/// describe by the id finds it — 100 ms doubling to 2 s, about 7 s in all — so the calls
/// that follow in this step name something EC2 knows. Still unknown then: transient, and
/// the state machine's retry finds the resource by its tags.
async fn until_known<F, Fut, E>(what: &str, describe: F) -> Result<(), ComponentError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<
            Output = Result<
                (),
                aws_sdk_ec2::error::SdkError<E, aws_sdk_ec2::config::http::HttpResponse>,
            >,
        >,
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut wait = std::time::Duration::from_millis(100);
    for _ in 0..7 {
        match describe().await {
            Ok(()) => return Ok(()),
            Err(e) if code(&e).is_some_and(|c| c.ends_with(".NotFound")) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(2));
            }
            Err(e) => return Err(classify(what, e)),
        }
    }
    Err(ComponentError::AwsTransient(format!(
        "{what}: still unknown to EC2 after its create"
    )))
}

/// The VPC's DNS attributes (EKS and RDS endpoints need DNS inside the VPC), by their names
/// in EC2's API.
const DNS_ATTRIBUTES: [(VpcAttributeName, &str); 2] = [
    (VpcAttributeName::EnableDnsSupport, "enableDnsSupport"),
    (VpcAttributeName::EnableDnsHostnames, "enableDnsHostnames"),
];

/// Whether one DNS attribute of the VPC is on (EC2 reads one attribute per call).
async fn dns_attribute(
    c: &Client,
    vpc: &str,
    (attribute, name): &(VpcAttributeName, &str),
) -> Result<Option<bool>, ComponentError> {
    let answer = c
        .describe_vpc_attribute()
        .vpc_id(vpc)
        .attribute(attribute.clone())
        .send()
        .await
        .map_err(|e| classify(&format!("DescribeVpcAttribute {name}"), e))?;
    Ok(answer
        .enable_dns_support()
        .or(answer.enable_dns_hostnames())
        .and_then(|a| a.value()))
}

/// Turns on each DNS attribute that is off, and only those.
async fn converge_vpc_dns(c: &Client, vpc: &str) -> Result<(), ComponentError> {
    for dns in &DNS_ATTRIBUTES {
        if dns_attribute(c, vpc, dns).await? == Some(true) {
            continue;
        }
        let modify = c.modify_vpc_attribute().vpc_id(vpc);
        let modify = match dns.0 {
            VpcAttributeName::EnableDnsSupport => modify.enable_dns_support(enabled()),
            _ => modify.enable_dns_hostnames(enabled()),
        };
        modify
            .send()
            .await
            .map_err(|e| classify(&format!("ModifyVpcAttribute {}", dns.1), e))?;
    }
    Ok(())
}

struct SubnetPlan<'a> {
    role: String,
    cidr: &'a str,
    zone: &'a str,
    public: bool,
}

/// The `kind-i` subnet (`public-0`, `private-1`, …), made when missing.
async fn subnet(
    c: &Client,
    env: &Owner,
    vpc: &str,
    (kind, i): (&str, usize),
    cidr: &str,
    zone: &str,
) -> Result<String, ComponentError> {
    let plan = SubnetPlan {
        role: format!("{kind}-{i}"),
        cidr,
        zone,
        public: kind == "public",
    };
    ensure_subnet(c, env, vpc, &plan).await
}

async fn ensure_subnet(
    c: &Client,
    env: &Owner,
    vpc: &str,
    plan: &SubnetPlan<'_>,
) -> Result<String, ComponentError> {
    let found = c
        .describe_subnets()
        .set_filters(Some(owned(env, Some(&plan.role))))
        .filters(filter("vpc-id", vpc))
        .send()
        .await
        .map_err(|e| classify("DescribeSubnets", e))?;
    if let Some(subnet) = ours(found.subnets(), env, Some(&plan.role)).next() {
        let id = subnet.subnet_id().unwrap_or_default().to_owned();
        // Also when found: a crash right after the create would leave it off for good.
        if plan.public && subnet.map_public_ip_on_launch() != Some(true) {
            public_addresses_on_launch(c, &id).await?;
        }
        return Ok(id);
    }
    // What EKS and the AWS load balancer controller look for when placing load balancers.
    let mut spec = tag_spec(ResourceType::Subnet, env, &plan.role);
    let elb_role = if plan.public {
        "kubernetes.io/role/elb"
    } else {
        "kubernetes.io/role/internal-elb"
    };
    spec.tags.get_or_insert_with(Vec::new).extend([
        tag(elb_role, "1"),
        tag(&format!("kubernetes.io/cluster/strata-{env}"), "shared"),
    ]);
    let created = c
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block(plan.cidr)
        .availability_zone(plan.zone)
        .tag_specifications(spec)
        .send()
        .await
        .map_err(|e| match code(&e) {
            // Another step of this environment (one a failed Parallel branch left running)
            // created it a moment ago: the retry finds it by its tags.
            Some("InvalidSubnet.Conflict") => ComponentError::AwsTransient(format!(
                "CreateSubnet {}: {} is being created by another step",
                plan.role, plan.cidr
            )),
            _ => classify(&format!("CreateSubnet {}", plan.role), e),
        })?;
    let id = created
        .subnet()
        .and_then(|s| s.subnet_id())
        .ok_or_else(|| rejected("CreateSubnet returned no id".into()))?
        .to_owned();
    until_known(&format!("DescribeSubnets {id}"), || async {
        c.describe_subnets()
            .subnet_ids(&id)
            .send()
            .await
            .map(|_| ())
    })
    .await?;
    if plan.public {
        public_addresses_on_launch(c, &id).await?;
    }
    Ok(id)
}

/// A public subnet gives its instances (the nodes) public addresses.
async fn public_addresses_on_launch(c: &Client, subnet: &str) -> Result<(), ComponentError> {
    c.modify_subnet_attribute()
        .subnet_id(subnet)
        .map_public_ip_on_launch(enabled())
        .send()
        .await
        .map_err(|e| classify(&format!("ModifySubnetAttribute {subnet}"), e))?;
    Ok(())
}

async fn ensure_internet_gateway(
    c: &Client,
    env: &Owner,
    vpc: &str,
) -> Result<String, ComponentError> {
    let found = c
        .describe_internet_gateways()
        .set_filters(Some(owned(env, Some("igw"))))
        .send()
        .await
        .map_err(|e| classify("DescribeInternetGateways", e))?;
    let (id, attached) = match ours(found.internet_gateways(), env, Some("igw")).next() {
        Some(igw) => (
            igw.internet_gateway_id().unwrap_or_default().to_owned(),
            igw.attachments().iter().any(|a| a.vpc_id() == Some(vpc)),
        ),
        None => {
            let created = c
                .create_internet_gateway()
                .tag_specifications(tag_spec(ResourceType::InternetGateway, env, "igw"))
                .customize()
                .config_override(once())
                .send()
                .await
                .map_err(|e| classify("CreateInternetGateway", e))?;
            let id = created
                .internet_gateway()
                .and_then(|g| g.internet_gateway_id())
                .ok_or_else(|| rejected("CreateInternetGateway returned no id".into()))?
                .to_owned();
            until_known(&format!("DescribeInternetGateways {id}"), || async {
                c.describe_internet_gateways()
                    .internet_gateway_ids(&id)
                    .send()
                    .await
                    .map(|_| ())
            })
            .await?;
            (id, false)
        }
    };
    if !attached {
        c.attach_internet_gateway()
            .internet_gateway_id(&id)
            .vpc_id(vpc)
            .send()
            .await
            .map_err(|e| classify("AttachInternetGateway", e))?;
    }
    Ok(id)
}

/// Where a route table's default route goes.
enum Target<'a> {
    Gateway(&'a str),
    Nat(&'a str),
    Nowhere,
}

async fn ensure_route_table(
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
            let id = created
                .route_table()
                .and_then(|r| r.route_table_id())
                .ok_or_else(|| rejected("CreateRouteTable returned no id".into()))?
                .to_owned();
            until_known(&format!("DescribeRouteTables {id}"), || async {
                c.describe_route_tables()
                    .route_table_ids(&id)
                    .send()
                    .await
                    .map(|_| ())
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

async fn ensure_database_group(
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
async fn create_database_group(
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
            let id = out
                .group_id()
                .map(str::to_owned)
                .ok_or_else(|| rejected("CreateSecurityGroup returned no id".into()))?;
            until_known(&format!("DescribeSecurityGroups {id}"), || async {
                c.describe_security_groups()
                    .group_ids(&id)
                    .send()
                    .await
                    .map(|_| ())
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

/// What observing found so far: resources gone, fields changed.
#[derive(Default)]
struct Findings {
    missing: Vec<String>,
    fields: Vec<FieldDrift>,
}

/// The value of `key` among a resource's tags.
fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

impl<C: ClientFor> Network<C> {
    /// Reads only, one describe per kind of resource, each found by this environment's
    /// network tags: what `apply` would create or put back is what is compared.
    async fn findings(
        &self,
        env: &strata_core::Environment,
        name: &Owner,
    ) -> Result<Findings, ComponentError> {
        let net = &env.spec.network;
        let c = self.clients.client(&env.spec.region);
        let mut found = Findings::default();
        let vpcs = c
            .describe_vpcs()
            .set_filters(Some(owned(name, Some("vpc"))))
            .send()
            .await
            .map_err(|e| classify("DescribeVpcs", e))?;
        let Some(vpc) = ours(vpcs.vpcs(), name, Some("vpc")).next() else {
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
        let env = step.environment;
        let name = step.owner;
        let net = &env.spec.network;
        let c = self.clients.client(&env.spec.region);
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

    async fn destroy(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
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
        let c = self.clients.client(&env.spec.region);
        let all = || owned(name, None);

        // What Kubernetes left in the VPC goes first: AWS refuses DeleteVpc while it stays.
        let vpcs = c
            .describe_vpcs()
            .set_filters(Some(owned(name, Some("vpc"))))
            .send()
            .await
            .map_err(|e| classify("DescribeVpcs", e))?;
        for vpc in ours(vpcs.vpcs(), name, Some("vpc")).filter_map(|v| v.vpc_id()) {
            let elb = self.clients.elb(&env.spec.region);
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
        let subnets = c
            .describe_subnets()
            .set_filters(Some(all()))
            .send()
            .await
            .map_err(|e| classify("DescribeSubnets", e))?;
        for subnet in ours(subnets.subnets(), name, None) {
            let id = subnet.subnet_id().unwrap_or_default();
            c.delete_subnet()
                .subnet_id(id)
                .send()
                .await
                .map_err(|e| classify(&format!("DeleteSubnet {id}"), e))?;
        }
        let groups = c
            .describe_security_groups()
            .set_filters(Some(all()))
            .send()
            .await
            .map_err(|e| classify("DescribeSecurityGroups", e))?;
        for group in ours(groups.security_groups(), name, None) {
            let id = group.group_id().unwrap_or_default();
            c.delete_security_group()
                .group_id(id)
                .send()
                .await
                .map_err(|e| classify(&format!("DeleteSecurityGroup {id}"), e))?;
        }
        let vpcs = c
            .describe_vpcs()
            .set_filters(Some(all()))
            .send()
            .await
            .map_err(|e| classify("DescribeVpcs", e))?;
        for vpc in ours(vpcs.vpcs(), name, None) {
            let id = vpc.vpc_id().unwrap_or_default();
            c.delete_vpc()
                .vpc_id(id)
                .send()
                .await
                .map_err(|e| classify(&format!("DeleteVpc {id}"), e))?;
        }
        Ok(Progress::finished(ComponentPhase::Deleted))
    }
}

mod nat;
pub mod sweep;

#[cfg(test)]
mod tests;
