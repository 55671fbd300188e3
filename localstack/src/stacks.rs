//! CloudFormation as AWS answers it, where moto 5.2.5 differs. Test infrastructure only.
//!
//! - DescribeChangeSet of a change set that does not exist: AWS answers `ChangeSetNotFound`;
//!   moto answers `ValidationError` ("Stack with id <change set> does not exist"), which
//!   reads like the stack is gone.
//! - An UPDATE change set: moto lists no changes at all. The router works them out when the
//!   change set is made, as CloudFormation would for the resource types known here, from
//!   the stack's template and parameters and the change set's ([`changes`]), and puts them
//!   in DescribeChangeSet's answer. A property change of a type not known here is
//!   `Conditional`, as AWS says when it depends.
//! - DetectStackDrift: moto does not serve it (an HTML page). The router answers that a
//!   detection started, and none ever finishes: a stack's drift stays `NOT_CHECKED`, so
//!   Strata reports it unchecked rather than in sync.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use serde_yaml_ng::Value;

/// The properties whose change replaces a resource, per type (AWS's resource reference:
/// "Update requires: Replacement"). Any other property of these types changes in place.
const REPLACING: &[(&str, &[&str])] = &[
    ("AWS::SQS::Queue", &["QueueName", "FifoQueue"]),
    ("AWS::SNS::Topic", &["TopicName", "FifoTopic"]),
    ("AWS::S3::Bucket", &["BucketName"]),
    ("AWS::DynamoDB::Table", &["TableName", "KeySchema"]),
];

/// One resource change, in DescribeChangeSet's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub logical_id: String,
    pub resource_type: String,
    pub action: &'static str,
    pub replacement: Option<&'static str>,
}

/// The changes worked out per (region, stack, change set name).
#[derive(Default)]
pub struct ChangeSets {
    computed: Mutex<BTreeMap<(String, String, String), Vec<Change>>>,
}

impl ChangeSets {
    pub fn record(&self, key: (String, String, String), changes: Vec<Change>) {
        self.computed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, changes);
    }

    /// DescribeChangeSet's answer with the changes worked out for it, if any were.
    pub fn describe(&self, key: &(String, String, String), answer: &[u8]) -> Option<Bytes> {
        let computed = self.computed.lock().unwrap_or_else(|e| e.into_inner());
        let changes = computed.get(key)?;
        let text = String::from_utf8_lossy(answer);
        text.contains("<Changes/>")
            .then(|| Bytes::from(text.replace("<Changes/>", &changes_xml(changes))))
    }
}

/// A form-encoded body's fields, decoded.
pub fn form(body: &[u8]) -> BTreeMap<String, String> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// `Parameters.member.N.ParameterKey` / `ParameterValue` of a form.
pub fn form_parameters(form: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    (1..)
        .map_while(|n| {
            let key = form.get(&format!("Parameters.member.{n}.ParameterKey"))?;
            let value = form
                .get(&format!("Parameters.member.{n}.ParameterValue"))
                .cloned()
                .unwrap_or_default();
            Some((key.clone(), value))
        })
        .collect()
}

/// The text of every `<tag>…</tag>` in an XML answer, unescaped.
pub fn xml_texts(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(text, _)| text))
        .map(|t| {
            t.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

/// A template's resources with every `Ref` to a parameter replaced by its value (given, or
/// the template's default): (logical id, type, properties).
fn resolved(template: &str, parameters: &BTreeMap<String, String>) -> Vec<(String, String, Value)> {
    let Ok(doc) = serde_yaml_ng::from_str::<Value>(template) else {
        return Vec::new();
    };
    let mut values = parameters.clone();
    for (k, v) in doc
        .get("Parameters")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
    {
        let (Some(k), Some(default)) = (k.as_str(), v.get("Default")) else {
            continue;
        };
        let default = match default {
            Value::String(s) => s.clone(),
            other => serde_yaml_ng::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_owned(),
        };
        values.entry(k.to_owned()).or_insert(default);
    }
    fn substitute(v: &Value, values: &BTreeMap<String, String>) -> Value {
        let reference = match v {
            Value::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
            Value::Mapping(m) if m.len() == 1 => m.get("Ref").and_then(Value::as_str),
            _ => None,
        };
        if let Some(value) = reference.and_then(|r| values.get(r)) {
            return Value::String(value.clone());
        }
        match v {
            Value::Mapping(m) => Value::Mapping(
                m.iter()
                    .map(|(k, v)| (k.clone(), substitute(v, values)))
                    .collect(),
            ),
            Value::Sequence(items) => {
                Value::Sequence(items.iter().map(|i| substitute(i, values)).collect())
            }
            // Numbers and strings alike: CloudFormation passes parameters as strings.
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            other => other.clone(),
        }
    }
    doc.get("Resources")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(id, r)| {
            Some((
                id.as_str()?.to_owned(),
                r.get("Type")?.as_str()?.to_owned(),
                substitute(r.get("Properties").unwrap_or(&Value::Null), &values),
            ))
        })
        .collect()
}

/// What CloudFormation would list for a stack going from `before` to `after` (each a
/// template and its parameters).
pub fn changes(
    before: (&str, &BTreeMap<String, String>),
    after: (&str, &BTreeMap<String, String>),
) -> Vec<Change> {
    let old = resolved(before.0, before.1);
    let new = resolved(after.0, after.1);
    let mut out = Vec::new();
    for (id, kind, properties) in &new {
        let change = |action, replacement| Change {
            logical_id: id.clone(),
            resource_type: kind.clone(),
            action,
            replacement,
        };
        match old.iter().find(|(o, _, _)| o == id) {
            None => out.push(change("Add", None)),
            Some((_, old_kind, _)) if old_kind != kind => out.push(change("Modify", Some("True"))),
            Some((_, _, old_properties)) if old_properties != properties => {
                let field = |p: &Value, k: &str| p.get(k).cloned();
                let mut keys: Vec<&str> = [old_properties, properties]
                    .iter()
                    .filter_map(|p| p.as_mapping())
                    .flat_map(|m| m.keys().filter_map(Value::as_str))
                    .collect();
                keys.dedup();
                let changed: Vec<&str> = keys
                    .into_iter()
                    .filter(|k| field(old_properties, k) != field(properties, k))
                    .collect();
                let replacement = match REPLACING.iter().find(|(t, _)| t == kind) {
                    None => "Conditional",
                    Some((_, replacing)) if changed.iter().any(|k| replacing.contains(k)) => "True",
                    Some(_) => "False",
                };
                out.push(change("Modify", Some(replacement)));
            }
            Some(_) => {}
        }
    }
    for (id, kind, _) in &old {
        if !new.iter().any(|(n, _, _)| n == id) {
            out.push(Change {
                logical_id: id.clone(),
                resource_type: kind.clone(),
                action: "Remove",
                replacement: None,
            });
        }
    }
    out
}

fn changes_xml(changes: &[Change]) -> String {
    let members: String = changes
        .iter()
        .map(|c| {
            format!(
                "<member><Type>Resource</Type><ResourceChange><Action>{}</Action><LogicalResourceId>{}</LogicalResourceId><ResourceType>{}</ResourceType>{}</ResourceChange></member>",
                c.action,
                c.logical_id,
                c.resource_type,
                c.replacement
                    .map(|r| format!("<Replacement>{r}</Replacement>"))
                    .unwrap_or_default()
            )
        })
        .collect();
    format!("<Changes>{members}</Changes>")
}

/// DetectStackDrift's answer: a detection started (it never finishes here).
pub fn drift_detection_started() -> hyper::Response<http_body_util::Full<Bytes>> {
    hyper::Response::builder()
        .status(hyper::StatusCode::OK)
        .header("content-type", "text/xml")
        .body(http_body_util::Full::new(Bytes::from_static(
            b"<DetectStackDriftResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><DetectStackDriftResult><StackDriftDetectionId>local-never-finishes</StackDriftDetectionId></DetectStackDriftResult><ResponseMetadata><RequestId>local</RequestId></ResponseMetadata></DetectStackDriftResponse>",
        )))
        .expect("static headers are valid")
}

/// Whether a request is CloudFormation's `action` (query protocol).
pub fn is_action(parts: &hyper::http::request::Parts, body: &[u8], action: &str) -> bool {
    crate::iam::signing_name(parts).as_deref() == Some("cloudformation")
        && String::from_utf8_lossy(body)
            .split('&')
            .any(|pair| pair == format!("Action={action}"))
}

/// moto's answer for a missing change set, reworded as AWS's.
pub fn change_set_not_found(answer: &[u8]) -> Option<Bytes> {
    let text = String::from_utf8_lossy(answer);
    let missing = text.contains("<Code>ValidationError</Code>") && text.contains("does not exist");
    missing.then(|| {
        Bytes::from(
            "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
             <Error><Type>Sender</Type><Code>ChangeSetNotFound</Code>\
             <Message>ChangeSet does not exist</Message></Error>\
             <RequestId>local</RequestId></ErrorResponse>",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "Parameters:\n  Timeout: { Type: Number, Default: 30 }\n  Name: { Type: String, Default: jobs }\nResources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: !Ref Timeout\n      QueueName: !Ref Name\n  Topic:\n    Type: AWS::SNS::Topic\n";

    fn parameters(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn changes_say_what_is_modified_in_place_replaced_added_and_removed() {
        let none = parameters(&[]);
        let timeout = parameters(&[("Timeout", "90")]);
        assert_eq!(changes((TEMPLATE, &none), (TEMPLATE, &none)), vec![]);
        let in_place = changes((TEMPLATE, &none), (TEMPLATE, &timeout));
        assert_eq!(
            in_place,
            vec![Change {
                logical_id: "Queue".into(),
                resource_type: "AWS::SQS::Queue".into(),
                action: "Modify",
                replacement: Some("False"),
            }]
        );
        let renamed = changes(
            (TEMPLATE, &none),
            (TEMPLATE, &parameters(&[("Name", "other")])),
        );
        assert_eq!(renamed[0].replacement, Some("True"));
        let grown = TEMPLATE.replace("  Topic:", "  Dead:\n    Type: AWS::SQS::Queue\n  Topic:");
        let shrunk = TEMPLATE.replace("  Topic:\n    Type: AWS::SNS::Topic\n", "");
        let added = changes((TEMPLATE, &none), (&grown, &none));
        assert_eq!(
            (added[0].logical_id.as_str(), added[0].action),
            ("Dead", "Add")
        );
        let removed = changes((TEMPLATE, &none), (&shrunk, &none));
        assert_eq!(
            (removed[0].logical_id.as_str(), removed[0].action),
            ("Topic", "Remove")
        );
        let xml = changes_xml(&in_place);
        assert!(
            xml.contains("<Action>Modify</Action><LogicalResourceId>Queue</LogicalResourceId>")
        );
        assert!(xml.contains("<Replacement>False</Replacement>"));
    }

    #[test]
    fn forms_and_xml_are_read_as_the_sdk_writes_them() {
        let form = form(b"Action=CreateChangeSet&TemplateBody=a%3A%20b%0A&Parameters.member.1.ParameterKey=Timeout&Parameters.member.1.ParameterValue=90");
        assert_eq!(form["TemplateBody"], "a: b\n");
        assert_eq!(form_parameters(&form), parameters(&[("Timeout", "90")]));
        let xml = "<TemplateBody>Resources: {Q: {Type: &quot;x&quot;}} &amp; &lt;</TemplateBody>";
        assert_eq!(
            xml_texts(xml, "TemplateBody"),
            ["Resources: {Q: {Type: \"x\"}} & <"]
        );
    }

    #[test]
    fn only_a_missing_change_set_is_reworded() {
        let moto = b"<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id strata-up-1 does not exist</Message></Error></ErrorResponse>";
        let aws = change_set_not_found(moto).unwrap();
        assert!(String::from_utf8_lossy(&aws).contains("<Code>ChangeSetNotFound</Code>"));
        let other = b"<ErrorResponse><Error><Code>ValidationError</Code><Message>Parameters: [X] must have values</Message></Error></ErrorResponse>";
        assert!(change_set_not_found(other).is_none());
    }
}
