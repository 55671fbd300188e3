//! The resources a request acts on, named as IAM names them: the action's resource types from
//! the reference, each ARN format filled from the request's own parameters.

use super::evaluate::Target;
use super::reference::{ActionDef, Service};
use super::request::Facts;
use crate::template::ACCOUNT_ID;

/// Request parameters that carry an ARN variable under another name.
fn aliases(service: &str, variable: &str) -> &'static [&'static str] {
    match (service, variable) {
        ("ec2", "SecurityGroupId") => &["GroupId"],
        ("rds", "DbInstanceName") => &["DBInstanceIdentifier"],
        ("rds", "SnapshotName") => &["DBSnapshotIdentifier"],
        ("rds", "SubnetGroupName") => &["DBSubnetGroupName"],
        ("rds", "ParameterGroupName") => &["DBParameterGroupName"],
        ("secretsmanager", "SecretId") => &["SecretId", "Name"],
        _ => &[],
    }
}

/// Whether the action makes the resource it names (AWS names it with `*` until it exists).
pub fn creates(action: &str) -> bool {
    ["Create", "Allocate", "Run", "Restore", "Import", "Copy"]
        .iter()
        .any(|verb| action.starts_with(verb))
}

/// `format` with `${Partition}`, `${Region}` and `${Account}` filled, each other variable
/// given to `fill`; how many `fill` knew and how many it did not.
fn fill(
    format: &str,
    region: &str,
    mut value: impl FnMut(&str) -> Option<String>,
) -> (String, usize, usize) {
    let (mut out, mut known, mut unknown) = (String::new(), 0, 0);
    let mut rest = format;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let variable = &rest[start + 2..start + end];
        match variable {
            "Partition" => out.push_str("aws"),
            "Region" => out.push_str(region),
            "Account" => out.push_str(ACCOUNT_ID),
            other => match value(other) {
                Some(v) => {
                    known += 1;
                    out.push_str(&v);
                }
                None => {
                    unknown += 1;
                    out.push('*');
                }
            },
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    (out, known, unknown)
}

/// The targets of `action` (of `service`, prefix `prefix`) as the request names them.
pub fn targets(prefix: &str, service: &Service, action: &ActionDef, facts: &Facts) -> Vec<Target> {
    if action.resource_types.is_empty() {
        return vec![Target {
            arn: "*".into(),
            exact: true,
            keys: action.condition_keys.clone(),
        }];
    }
    let create = creates(&action.name);
    let mut named = Vec::new();
    let mut unnamed = Vec::new();
    for listed in &action.resource_types {
        let Some(def) = service.resource_type(&listed.name) else {
            continue;
        };
        let mut keys = action.condition_keys.clone();
        keys.extend(listed.condition_keys.iter().cloned());
        keys.extend(def.condition_keys.iter().cloned());
        // An ARN the request carries whole (a state machine's, a role's, a load balancer's).
        let (pattern, ..) = fill(&def.arn, &facts.region, |_| None);
        if let Some(arn) = facts
            .arns
            .iter()
            .find(|a| super::evaluate::arn_matches(&pattern, a))
        {
            named.push((
                listed.required,
                Target {
                    arn: arn.clone(),
                    exact: true,
                    keys,
                },
            ));
            continue;
        }
        let (arn, known, unknown) = fill(&def.arn, &facts.region, |variable| {
            std::iter::once(variable)
                .chain(aliases(prefix, variable).iter().copied())
                .find_map(|name| facts.get(name))
                .filter(|v| !v.starts_with("arn:"))
                .map(str::to_owned)
        });
        // A secret named without its random suffix: AWS's ARN has one.
        let (arn, unknown) = match prefix == "secretsmanager" && known > 0 && unknown == 0 {
            true => (format!("{arn}-*"), 1),
            false => (arn, unknown),
        };
        let target = Target {
            arn,
            exact: unknown == 0,
            keys,
        };
        if known > 0 {
            named.push((
                listed.required,
                Target {
                    exact: target.exact || create,
                    ..target
                },
            ));
        } else if listed.required {
            unnamed.push(target);
        }
    }
    // An optional type named only in part beside one named whole is another name of the same
    // resource (`event-busv2/<bus>/<id>` beside `event-bus/<bus>`).
    let whole = named.iter().any(|(_, t)| t.exact);
    let mut named: Vec<Target> = named
        .into_iter()
        .filter(|(required, t)| t.exact || *required || !whole)
        .map(|(_, t)| t)
        .collect();
    // A required type the request names nothing of is the one a create makes (`vpc/*`), or,
    // when the request names none at all, a resource this cannot name.
    if create || named.is_empty() {
        named.extend(unnamed.into_iter().map(|t| Target { exact: create, ..t }));
    }
    named
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_fill_from_the_request_and_a_create_names_its_resource_with_a_star() {
        let (arn, known, unknown) = fill(
            "arn:${Partition}:ec2:${Region}:${Account}:subnet/${SubnetId}",
            "eu-west-1",
            |v| (v == "SubnetId").then(|| "subnet-1".to_owned()),
        );
        assert_eq!(
            arn,
            format!("arn:aws:ec2:eu-west-1:{ACCOUNT_ID}:subnet/subnet-1")
        );
        assert_eq!((known, unknown), (1, 0));
        let (arn, _, unknown) = fill(
            "arn:${Partition}:eks:${Region}:${Account}:nodegroup/${ClusterName}/${NodegroupName}/${UUID}",
            "us-east-1",
            |_| None,
        );
        assert!(arn.ends_with("nodegroup/*/*/*"));
        assert_eq!(unknown, 3);
        assert!(creates("CreateVpc") && creates("AllocateAddress") && !creates("DeleteVpc"));
    }
}
