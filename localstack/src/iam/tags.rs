//! A resource's own tags, for `aws:ResourceTag/*` conditions: asked of moto as the service's
//! own API answers them. `Ok(None)` when the resource does not exist: AWS then answers the
//! call with the service's NotFound, which moto gives.

use std::collections::BTreeMap;

use crate::router::Router;

pub type Tags = BTreeMap<String, String>;

/// Each `<key>K</key>…<value>V</value>` pair of an XML answer, tag names as `key`/`value`
/// spell them (EC2's lower case, the others' `Key`/`Value`).
fn pairs(xml: &str, key: &str, value: &str) -> Tags {
    let (open_key, close_key) = (format!("<{key}>"), format!("</{key}>"));
    let (open_value, close_value) = (format!("<{value}>"), format!("</{value}>"));
    let mut tags = Tags::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open_key) {
        rest = &rest[start + open_key.len()..];
        let Some(end) = rest.find(&close_key) else {
            break;
        };
        let k = &rest[..end];
        let v = rest
            .find(&open_value)
            .and_then(|s| {
                let after = &rest[s + open_value.len()..];
                after.find(&close_value).map(|e| &after[..e])
            })
            .unwrap_or_default();
        tags.insert(unescape(k), unescape(v));
    }
    tags
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The EC2 describe call that finds a resource of `kind` by id.
fn ec2_describe(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "vpc" => ("DescribeVpcs", "VpcId"),
        "subnet" => ("DescribeSubnets", "SubnetId"),
        "security-group" => ("DescribeSecurityGroups", "GroupId"),
        "network-interface" => ("DescribeNetworkInterfaces", "NetworkInterfaceId"),
        "internet-gateway" => ("DescribeInternetGateways", "InternetGatewayId"),
        "route-table" => ("DescribeRouteTables", "RouteTableId"),
        "natgateway" => ("DescribeNatGateways", "NatGatewayId"),
        "elastic-ip" => ("DescribeAddresses", "AllocationId"),
        _ => return None,
    })
}

fn form_value(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The tags of the resource `arn` (and its full ARN, which a Secrets Manager name lacks).
pub async fn of(
    router: &Router,
    arn: &str,
    region: &str,
) -> Result<Option<(String, Tags)>, String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, service, _, _, resource] = parts.as_slice() else {
        return Err(format!("{arn} is not an ARN"));
    };
    let unreachable = || format!("moto did not answer for the tags of {arn}");
    match *service {
        "ec2" => {
            let (kind, id) = resource
                .split_once('/')
                .ok_or_else(|| format!("{arn}: no id"))?;
            let (describe, parameter) =
                ec2_describe(kind).ok_or_else(|| format!("{kind}: tags not modelled"))?;
            // The describe answer says whether the resource exists and carries its tags.
            let answer = router
                .moto_query(
                    "ec2",
                    region,
                    format!("Action={describe}&Version=2016-11-15&{parameter}.1={id}"),
                )
                .await
                .ok_or_else(unreachable)?;
            if answer.contains("<Errors>") || !answer.contains(id) {
                return Ok(None);
            }
            let tag_set = answer
                .split_once("<tagSet>")
                .and_then(|(_, rest)| rest.split_once("</tagSet>"))
                .map_or("", |(set, _)| set);
            Ok(Some((arn.to_owned(), pairs(tag_set, "key", "value"))))
        }
        // Both answer an unknown ARN with an error, and tags as `<Key>`/`<Value>`.
        "elasticloadbalancing" | "rds" => {
            let form = match *service {
                "rds" => format!(
                    "Action=ListTagsForResource&Version=2014-10-31&ResourceName={}",
                    form_value(arn)
                ),
                _ => format!(
                    "Action=DescribeTags&Version=2015-12-01&ResourceArns.member.1={}",
                    form_value(arn)
                ),
            };
            let answer = router
                .moto_query(service, region, form)
                .await
                .ok_or_else(unreachable)?;
            Ok((!answer.contains("<Error>"))
                .then(|| (arn.to_owned(), pairs(&answer, "Key", "Value"))))
        }
        "secretsmanager" => {
            // A secret named without its suffix: `secret:<name>-*`.
            let id = resource
                .strip_prefix("secret:")
                .map(|name| match arn.ends_with("-*") {
                    true => name.trim_end_matches("-*").to_owned(),
                    false => arn.to_owned(),
                })
                .ok_or_else(|| format!("{arn}: not a secret"))?;
            let (status, answer) = router
                .moto_json(
                    "secretsmanager",
                    region,
                    "secretsmanager.DescribeSecret",
                    serde_json::json!({ "SecretId": id }).to_string(),
                )
                .await
                .ok_or_else(unreachable)?;
            if !status.is_success() {
                return Ok(None);
            }
            let answer: serde_json::Value =
                serde_json::from_str(&answer).map_err(|e| e.to_string())?;
            let tags = answer["Tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| {
                    Some((
                        t["Key"].as_str()?.to_owned(),
                        t["Value"].as_str()?.to_owned(),
                    ))
                })
                .collect();
            let full = answer["ARN"].as_str().unwrap_or(arn).to_owned();
            Ok(Some((full, tags)))
        }
        other => Err(format!("{other}: resource tags not modelled")),
    }
}

#[cfg(test)]
mod tests {
    use super::pairs;

    #[test]
    fn tags_read_from_each_dialect() {
        let ec2 = "<tagSet><item><resourceId>vpc-1</resourceId><key>strata:env</key>\
                   <value>a&amp;b</value></item><item><key>x</key><value></value></item></tagSet>";
        let tags = pairs(ec2, "key", "value");
        assert_eq!(tags["strata:env"], "a&b");
        assert_eq!(tags["x"], "");
        let rds = "<TagList><Tag><Key>k</Key><Value>v</Value></Tag></TagList>";
        assert_eq!(pairs(rds, "Key", "Value")["k"], "v");
    }
}
