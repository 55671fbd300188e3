//! The tags every network resource carries, and the tag filters that find it again: EC2
//! resources have no unique names, so a resource is this environment's only if its tags say so.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use strata_core::Component;
use strata_core::tags::{self, Owner};

pub(crate) const ROLE: &str = "strata:role";

pub(crate) fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// The tags of one resource: Strata's, its role, and a readable Name.
pub(crate) fn tag_spec(kind: ResourceType, environment: &Owner, role: &str) -> TagSpecification {
    let mut builder = TagSpecification::builder().resource_type(kind);
    for (k, v) in environment.tags(Component::Network) {
        builder = builder.tags(tag(k, &v));
    }
    builder
        .tags(tag(ROLE, role))
        .tags(tag("Name", &format!("strata-{environment}-{role}")))
        .build()
}

pub(crate) fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// Filters that match this environment's network resources, of one role or of any.
pub(crate) fn owned(environment: &Owner, role: Option<&str>) -> Vec<Filter> {
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
pub(crate) trait Tagged {
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
pub(crate) fn ours<'a, 'o, T: Tagged>(
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

/// The value of `key` among a resource's tags.
pub(crate) fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}
