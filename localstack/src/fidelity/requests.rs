//! Mends of EC2's and RDS's request handling where moto is laxer than AWS: the dependency
//! checks of DeleteVpc and DeleteSubnet, a NAT gateway's idempotency token, and an RDS delete
//! that keeps its automated backups.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;

use super::Fault;

/// EC2's DeleteVpc and DeleteSubnet as AWS enforces them. moto refuses DeleteVpc only for
/// subnets, non-main route tables and VPN gateways, and DeleteSubnet for nothing; AWS
/// refuses both with `DependencyViolation` while an internet gateway, a security group, a
/// network interface, a NAT gateway or a load balancer still uses them. The router asks moto
/// for those dependents (with [`DependencyCheck::queries`]) and refuses the delete if any
/// remain, so a teardown order that works here works on AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencyCheck {
    Vpc(String),
    Subnet(String),
}

/// One Describe call the check needs: the service (for the signature scope), the form body,
/// and the element whose presence in the answer marks a dependent.
pub struct Query {
    pub service: &'static str,
    pub form: String,
    pub dependent: &'static str,
    /// What to say when it is found.
    pub what: &'static str,
}

fn form_value<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

/// An RDS DeleteDBInstance that keeps the instance's automated backups, rewritten to drop
/// them. AWS keeps them as retained automated backups, apart from snapshots; moto keeps them
/// as `rds:<instance>-<minute>` snapshots, and a new instance of the same name within the
/// same minute (a recreate restoring its final snapshot) then fails with
/// DBSnapshotAlreadyExists. What the handler asks for is checked by its own tests.
pub fn drop_kept_automated_backups(body: &[u8]) -> Option<Bytes> {
    let text = std::str::from_utf8(body).ok()?;
    let keeps = form_value(text, "Action")? == "DeleteDBInstance"
        && form_value(text, "DeleteAutomatedBackups") == Some("false");
    keeps.then(|| {
        Bytes::from(text.replace(
            "DeleteAutomatedBackups=false",
            "DeleteAutomatedBackups=true",
        ))
    })
}

/// The NAT gateway an EC2 DeleteNatGateway request names.
pub fn deleted_nat_gateway(body: &[u8]) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    (form_value(body, "Action")? == "DeleteNatGateway")
        .then(|| form_value(body, "NatGatewayId").map(str::to_owned))
        .flatten()
}

/// The idempotency token of an EC2 CreateNatGateway request. AWS answers a repeated token
/// with the NAT gateway it made the first time; moto ignores it and makes another.
pub fn nat_gateway_token(body: &[u8]) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    (form_value(body, "Action")? == "CreateNatGateway")
        .then(|| form_value(body, "ClientToken").map(str::to_owned))
        .flatten()
}

/// The text of the first `<name>…</name>` in an XML answer.
pub fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_owned())
}

impl DependencyCheck {
    /// The check an EC2 request calls for, if it is a DeleteVpc or DeleteSubnet.
    pub fn of(body: &[u8]) -> Option<Self> {
        let body = std::str::from_utf8(body).ok()?;
        match form_value(body, "Action")? {
            "DeleteVpc" => Some(Self::Vpc(form_value(body, "VpcId")?.to_owned())),
            "DeleteSubnet" => Some(Self::Subnet(form_value(body, "SubnetId")?.to_owned())),
            _ => None,
        }
    }

    pub fn queries(&self) -> Vec<Query> {
        let ec2 = |action: &str, filters: &[(&str, &str)]| {
            let mut form = format!("Action={action}&Version=2016-11-15");
            for (i, (name, value)) in filters.iter().enumerate() {
                let n = i + 1;
                form.push_str(&format!(
                    "&Filter.{n}.Name={name}&Filter.{n}.Value.1={value}"
                ));
            }
            form
        };
        let elb = "Action=DescribeLoadBalancers&Version=2015-12-01".to_owned();
        match self {
            Self::Vpc(vpc) => vec![
                Query {
                    service: "ec2",
                    form: ec2("DescribeInternetGateways", &[("attachment.vpc-id", vpc)]),
                    dependent: "<internetGatewayId>",
                    what: "an attached internet gateway",
                },
                Query {
                    service: "ec2",
                    form: ec2("DescribeNetworkInterfaces", &[("vpc-id", vpc)]),
                    dependent: "<networkInterfaceId>",
                    what: "a network interface",
                },
                Query {
                    service: "ec2",
                    form: ec2("DescribeSecurityGroups", &[("vpc-id", vpc)]),
                    // The default group goes with the VPC; any other one is a dependent.
                    dependent: "<groupName>",
                    what: "a security group other than the default",
                },
                Query {
                    service: "elasticloadbalancing",
                    form: elb,
                    dependent: "",
                    what: "a load balancer",
                },
            ],
            Self::Subnet(subnet) => vec![
                Query {
                    service: "ec2",
                    form: ec2(
                        "DescribeNatGateways",
                        &[("subnet-id", subnet), ("state", "available")],
                    ),
                    dependent: "<natGatewayId>",
                    what: "a NAT gateway",
                },
                Query {
                    service: "ec2",
                    form: ec2(
                        "DescribeNatGateways",
                        &[("subnet-id", subnet), ("state", "pending")],
                    ),
                    dependent: "<natGatewayId>",
                    what: "a NAT gateway",
                },
                Query {
                    service: "ec2",
                    form: ec2("DescribeNetworkInterfaces", &[("subnet-id", subnet)]),
                    dependent: "<networkInterfaceId>",
                    what: "a network interface",
                },
                Query {
                    service: "elasticloadbalancing",
                    form: elb,
                    dependent: "",
                    what: "a load balancer",
                },
            ],
        }
    }

    /// Whether `answer` (to `query`) names a dependent of this VPC or subnet.
    pub fn found(&self, query: &Query, answer: &str) -> bool {
        match (self, query.service) {
            (Self::Vpc(vpc), "elasticloadbalancing") => {
                answer.contains(&format!("<VpcId>{vpc}</VpcId>"))
            }
            (Self::Subnet(subnet), "elasticloadbalancing") => {
                answer.contains(&format!("<SubnetId>{subnet}</SubnetId>"))
            }
            (_, _) if query.dependent == "<groupName>" => answer
                .match_indices("<groupName>")
                .any(|(i, _)| !answer[i..].starts_with("<groupName>default</groupName>")),
            _ => answer.contains(query.dependent),
        }
    }

    /// EC2's refusal, naming the first dependent found.
    pub fn refusal(&self, what: &str) -> Response<Full<Bytes>> {
        let message = match self {
            Self::Vpc(vpc) => format!(
                "The vpc '{vpc}' has dependencies and cannot be deleted ({what} remains; enforced by the local stack as on AWS)."
            ),
            Self::Subnet(subnet) => format!(
                "The subnet '{subnet}' has dependencies and cannot be deleted ({what} remains; enforced by the local stack as on AWS)."
            ),
        };
        Fault::ec2("", "", 400, "DependencyViolation").response_with(&message)
    }
}

#[cfg(test)]
mod dependency_tests {
    use super::*;

    #[test]
    fn deletes_of_vpcs_and_subnets_are_checked_and_the_default_group_is_no_dependent() {
        let vpc = DependencyCheck::of(b"Action=DeleteVpc&Version=2016-11-15&VpcId=vpc-1").unwrap();
        assert_eq!(vpc, DependencyCheck::Vpc("vpc-1".into()));
        assert_eq!(
            DependencyCheck::of(b"Action=DeleteSubnet&SubnetId=subnet-2"),
            Some(DependencyCheck::Subnet("subnet-2".into()))
        );
        assert!(DependencyCheck::of(b"Action=DeleteVpcEndpoints&VpcId=vpc-1").is_none());
        let queries = vpc.queries();
        let groups = queries
            .iter()
            .find(|q| q.dependent == "<groupName>")
            .unwrap();
        assert!(!vpc.found(groups, "<item><groupName>default</groupName></item>"));
        assert!(vpc.found(
            groups,
            "<item><groupName>default</groupName></item><item><groupName>k8s-elb</groupName></item>"
        ));
        let lbs = queries
            .iter()
            .find(|q| q.service == "elasticloadbalancing")
            .unwrap();
        assert!(vpc.found(lbs, "<member><VpcId>vpc-1</VpcId></member>"));
        assert!(!vpc.found(lbs, "<member><VpcId>vpc-10</VpcId></member>"));
        assert_eq!(vpc.refusal("a load balancer").status(), 400);
    }
}
