//! What a request names, as IAM needs it: its parameters by name (query form, JSON body, REST
//! path), the ARNs in it, and the tags it asks for.

use std::collections::BTreeMap;

use hyper::http::request::Parts;

/// A request's parameters, read once.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// Parameter name in lower case → its first value. Nested JSON fields by their own name.
    values: BTreeMap<String, String>,
    /// Every value that is an ARN.
    pub arns: Vec<String>,
    /// The tags the request asks for (EC2's `TagSpecification`, RDS's and ELB's `Tags`,
    /// Secrets Manager's `Tags`, EKS's `tags`), if it asks for any.
    pub tags: Option<BTreeMap<String, String>>,
    pub region: String,
}

impl Facts {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    fn put(&mut self, name: &str, value: &str) {
        if value.starts_with("arn:") && !self.arns.iter().any(|a| a == value) {
            self.arns.push(value.to_owned());
        }
        self.values
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| value.to_owned());
    }

    fn tag(&mut self, key: String, value: String) {
        self.tags
            .get_or_insert_with(BTreeMap::new)
            .insert(key, value);
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Reads the facts of a request to `service` (its signing name).
pub fn facts(service: &str, parts: &Parts, body: &[u8], region: &str) -> Facts {
    let mut facts = Facts {
        region: region.to_owned(),
        ..Facts::default()
    };
    let text = String::from_utf8_lossy(body);
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
        json_facts(&mut facts, None, &json);
    } else if text.contains('=') && !text.trim_start().starts_with('<') {
        form_facts(&mut facts, &text);
    }
    if let Some(query) = parts.uri.query() {
        form_facts(&mut facts, query);
    }
    path_facts(&mut facts, service, parts.uri.path());
    facts
}

fn json_facts(facts: &mut Facts, name: Option<&str>, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if let Some(name) = name {
                facts.put(name, s);
            }
        }
        Value::Array(items) => {
            for item in items {
                // Secrets Manager's `Tags: [{Key, Value}]`.
                if name.is_some_and(|n| n.eq_ignore_ascii_case("tags"))
                    && let (Some(k), Some(v)) = (item["Key"].as_str(), item["Value"].as_str())
                {
                    facts.tag(k.to_owned(), v.to_owned());
                    continue;
                }
                json_facts(facts, name, item);
            }
        }
        Value::Object(map) => {
            // EKS's `tags: {k: v}`.
            if name == Some("tags") {
                for (k, v) in map {
                    if let Some(v) = v.as_str() {
                        facts.tag(k.clone(), v.to_owned());
                    }
                }
                return;
            }
            for (k, v) in map {
                json_facts(facts, Some(k), v);
            }
        }
        _ => {}
    }
}

/// Query-form parameters: `VpcId=vpc-1`, and tags as `…Tag.N.Key`/`…Tag.N.Value` (EC2's
/// `TagSpecification.1.Tag.1.Key`, RDS's `Tags.Tag.1.Key`, ELB's `Tags.member.1.Key`).
fn form_facts(facts: &mut Facts, form: &str) {
    let pairs: Vec<(String, String)> = form
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((decode(k), decode(v)))
        })
        .collect();
    for (key, value) in &pairs {
        if let Some(prefix) = key.strip_suffix(".Key")
            && prefix.contains("Tag")
        {
            let value_key = format!("{prefix}.Value");
            let tag_value = pairs
                .iter()
                .find(|(k, _)| *k == value_key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            facts.tag(value.clone(), tag_value);
            continue;
        }
        // `Filter.1.Value.1` and the like name no resource.
        let name = key
            .rsplit('.')
            .find(|s| !s.bytes().all(|b| b.is_ascii_digit()));
        if let Some(name) = name
            && !key.contains("Filter")
        {
            facts.put(name, value);
        }
    }
}

/// The REST services' path parameters.
fn path_facts(facts: &mut Facts, service: &str, path: &str) {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (service, s.as_slice()) {
        ("s3", [bucket, key @ ..]) => {
            facts.put("BucketName", bucket);
            facts.put(
                "ObjectName",
                &if key.is_empty() {
                    "*".to_owned()
                } else {
                    key.join("/")
                },
            );
        }
        ("eks", ["tags", arn]) => facts.put("resourceArn", arn),
        ("eks", ["clusters", cluster, rest @ ..]) => {
            facts.put("ClusterName", cluster);
            if let ["node-groups", nodegroup, ..] = rest {
                facts.put("NodegroupName", nodegroup);
            }
        }
        ("route53", [_, "hostedzone" | "change", id, ..]) => facts.put("Id", id),
        ("lambda", [_, "functions", function, ..]) => facts.put("FunctionName", function),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str) -> Parts {
        hyper::Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn each_protocol_gives_its_parameters_and_tags() {
        let ec2 = facts(
            "ec2",
            &parts("POST", "/"),
            b"Action=CreateSubnet&VpcId=vpc-1&TagSpecification.1.ResourceType=subnet&\
              TagSpecification.1.Tag.1.Key=strata%3Amanaged&TagSpecification.1.Tag.1.Value=true",
            "eu-west-1",
        );
        assert_eq!(ec2.get("vpcid"), Some("vpc-1"));
        assert_eq!(ec2.tags.unwrap()["strata:managed"], "true");
        let json = facts(
            "secretsmanager",
            &parts("POST", "/"),
            br#"{"Name":"rds!db-1","Tags":[{"Key":"a","Value":"b"}],"X":{"RoleArn":"arn:aws:iam::1:role/r"}}"#,
            "us-east-1",
        );
        assert_eq!(json.get("name"), Some("rds!db-1"));
        assert_eq!(json.arns, vec!["arn:aws:iam::1:role/r".to_owned()]);
        assert_eq!(json.tags.unwrap()["a"], "b");
        let eks = facts(
            "eks",
            &parts("GET", "/clusters/strata-a/node-groups/ng"),
            b"",
            "us-east-1",
        );
        assert_eq!(eks.get("ClusterName"), Some("strata-a"));
        assert_eq!(eks.get("NodegroupName"), Some("ng"));
        let s3 = facts(
            "s3",
            &parts("PUT", "/strata-a?tagging"),
            b"<Tagging/>",
            "us-east-1",
        );
        assert_eq!(s3.get("BucketName"), Some("strata-a"));
        assert_eq!(s3.get("ObjectName"), Some("*"));
    }
}
