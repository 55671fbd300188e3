//! CloudFormation's intrinsic functions as the local stack resolves them: `Ref`,
//! `Fn::GetAtt`, `Fn::Sub` (with or without its variable map), `Fn::Join`, `Fn::Split`, and
//! `Fn::If` over conditions of `Fn::Equals`, `Fn::Not` and `Condition`, with the local
//! account, region and stack name and the parameters' defaults.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

use super::ACCOUNT_ID;
use crate::LocalStackError;

pub(crate) struct Context<'a> {
    pub(super) region: &'a str,
    pub(super) stack: &'a str,
    pub(crate) resources: &'a serde_yaml_ng::Mapping,
    pub(super) parameters: BTreeMap<String, String>,
    pub(super) conditions: Option<&'a serde_yaml_ng::Mapping>,
}

pub(super) fn bad(message: String) -> LocalStackError {
    LocalStackError::Template(message)
}

pub(super) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An intrinsic's name (a tag's without its `!`) and argument: `!Ref x` or `{Ref: x}`.
fn intrinsic(v: &Value) -> Option<(String, Value)> {
    match v {
        Value::Tagged(tagged) => Some((
            tagged.tag.to_string().trim_start_matches('!').to_owned(),
            tagged.value.clone(),
        )),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next().expect("one entry");
            Some((k.as_str().unwrap_or_default().to_owned(), v.clone()))
        }
        _ => None,
    }
}

impl Context<'_> {
    fn resource_type(&self, id: &str) -> Option<&str> {
        self.resources.get(id)?.get("Type")?.as_str()
    }

    pub(super) fn physical_name(&self, id: &str) -> Result<String, LocalStackError> {
        let props = self.resources.get(id).and_then(|r| r.get("Properties"));
        let named = ["TableName", "Name", "FunctionName", "RoleName"]
            .iter()
            .find_map(|k| props.and_then(|p| p.get(*k)));
        match named {
            Some(v) => self.resolve(v, id),
            None => match self.resource_type(id) {
                Some("AWS::Serverless::Function") => Ok(self
                    .resources
                    .get(id)
                    .and_then(|r| {
                        r.get("Metadata")?
                            .get("BuildProperties")?
                            .get("Binary")?
                            .as_str()
                    })
                    .unwrap_or(id)
                    .to_owned()),
                _ => Ok(format!("{}-{id}", self.stack)),
            },
        }
    }

    fn arn(&self, id: &str) -> Result<String, LocalStackError> {
        let name = self.physical_name(id)?;
        let (region, account) = (self.region, ACCOUNT_ID);
        match self.resource_type(id) {
            Some("AWS::Serverless::Function") => {
                Ok(format!("arn:aws:lambda:{region}:{account}:function:{name}"))
            }
            Some("AWS::IAM::Role") => Ok(format!("arn:aws:iam::{account}:role/{name}")),
            Some("AWS::DynamoDB::Table") => {
                Ok(format!("arn:aws:dynamodb:{region}:{account}:table/{name}"))
            }
            Some("AWS::Serverless::StateMachine") => Ok(format!(
                "arn:aws:states:{region}:{account}:stateMachine:{name}"
            )),
            Some("AWS::Events::EventBus") => Ok(format!(
                "arn:aws:events:{region}:{account}:event-bus/{name}"
            )),
            other => Err(bad(format!("no local ARN for {id} ({other:?})"))),
        }
    }

    fn reference(&self, name: &str, at: &str) -> Result<String, LocalStackError> {
        match name {
            "AWS::Region" => Ok(self.region.to_owned()),
            "AWS::AccountId" => Ok(ACCOUNT_ID.to_owned()),
            "AWS::StackName" => Ok(self.stack.to_owned()),
            // One local stack is one control plane: its id says it is local.
            "AWS::StackId" => Ok(format!(
                "arn:aws:cloudformation:{}:{ACCOUNT_ID}:stack/{}/local",
                self.region, self.stack
            )),
            "AWS::Partition" => Ok("aws".to_owned()),
            _ if self.parameters.contains_key(name) => Ok(self.parameters[name].clone()),
            _ => match self.resource_type(name) {
                // Ref of a state machine is its ARN; of a table or function, its name.
                Some("AWS::Serverless::StateMachine") => self.arn(name),
                Some(_) => self.physical_name(name),
                None => Err(bad(format!("{at}: Ref to unknown {name}"))),
            },
        }
    }

    fn get_att(&self, target: &str, at: &str) -> Result<String, LocalStackError> {
        match target.split_once('.') {
            Some((id, "Arn")) => self.arn(id),
            Some((id, "Name")) => self.physical_name(id),
            _ => Err(bad(format!("{at}: unsupported GetAtt {target}"))),
        }
    }

    fn sub(&self, text: &str, at: &str) -> Result<String, LocalStackError> {
        self.sub_with(text, &BTreeMap::new(), at)
    }

    /// `Fn::Sub` with its own variables (the list form `[text, {name: value}]`).
    fn sub_with(
        &self,
        text: &str,
        variables: &BTreeMap<String, String>,
        at: &str,
    ) -> Result<String, LocalStackError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| bad(format!("{at}: unclosed ${{ in Sub")))?
                + start;
            let name = &rest[start + 2..end];
            out.push_str(&if let Some(value) = variables.get(name) {
                value.clone()
            } else if name.contains('.') {
                self.get_att(name, at)?
            } else {
                self.reference(name, at)?
            });
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Resolves a value that must become a string.
    pub(crate) fn resolve(&self, v: &Value, at: &str) -> Result<String, LocalStackError> {
        if let Some(s) = scalar(v) {
            return Ok(s);
        }
        let Some((function, arg)) = intrinsic(v) else {
            return Err(bad(format!("{at}: cannot resolve {v:?}")));
        };
        match (function.as_str(), &arg) {
            ("Ref", Value::String(name)) => self.reference(name, at),
            ("GetAtt", Value::String(target)) | ("Fn::GetAtt", Value::String(target)) => {
                self.get_att(target, at)
            }
            ("GetAtt" | "Fn::GetAtt", Value::Sequence(parts)) if parts.len() == 2 => {
                let id = parts[0].as_str().unwrap_or_default();
                let att = parts[1].as_str().unwrap_or_default();
                self.get_att(&format!("{id}.{att}"), at)
            }
            ("Sub" | "Fn::Sub", Value::String(text)) => self.sub(text, at),
            ("Sub" | "Fn::Sub", Value::Sequence(parts)) if parts.len() == 2 => {
                let text = parts[0]
                    .as_str()
                    .ok_or_else(|| bad(format!("{at}: Sub's text must be a string")))?;
                let mut variables = BTreeMap::new();
                for (k, v) in parts[1].as_mapping().into_iter().flatten() {
                    let k = k
                        .as_str()
                        .ok_or_else(|| bad(format!("{at}: Sub variable")))?;
                    variables.insert(k.to_owned(), self.resolve(v, at)?);
                }
                self.sub_with(text, &variables, at)
            }
            ("Join" | "Fn::Join", Value::Sequence(parts)) if parts.len() == 2 => {
                let delimiter = self.resolve(&parts[0], at)?;
                Ok(self.resolve_list(&parts[1], at)?.join(&delimiter))
            }
            ("If" | "Fn::If", Value::Sequence(parts)) if parts.len() == 3 => {
                let condition = parts[0].as_str().unwrap_or_default();
                let chosen = if self.condition(condition, at)? {
                    &parts[1]
                } else {
                    &parts[2]
                };
                self.resolve(chosen, at)
            }
            _ => Err(bad(format!("{at}: unsupported intrinsic {function}"))),
        }
    }

    /// A named condition of the template's `Conditions`.
    pub(super) fn condition(&self, name: &str, at: &str) -> Result<bool, LocalStackError> {
        let body = self
            .conditions
            .and_then(|c| c.get(name))
            .ok_or_else(|| bad(format!("{at}: unknown condition {name}")))?;
        self.evaluate(body, at)
    }

    /// `Fn::Equals [a, b]`, `Fn::Not [c]`, or `{Condition: name}`.
    fn evaluate(&self, v: &Value, at: &str) -> Result<bool, LocalStackError> {
        let Some((function, arg)) = intrinsic(v) else {
            return Err(bad(format!("{at}: cannot evaluate condition {v:?}")));
        };
        match (function.as_str(), &arg) {
            ("Equals" | "Fn::Equals", Value::Sequence(p)) if p.len() == 2 => {
                Ok(self.resolve(&p[0], at)? == self.resolve(&p[1], at)?)
            }
            ("Not" | "Fn::Not", Value::Sequence(p)) if p.len() == 1 => {
                Ok(!self.evaluate(&p[0], at)?)
            }
            ("Condition", Value::String(name)) => self.condition(name, at),
            _ => Err(bad(format!(
                "{at}: unsupported condition function {function}"
            ))),
        }
    }

    /// A value that must become a list: a sequence, `Fn::Split`, or a `Ref` to a
    /// `CommaDelimitedList` parameter.
    fn resolve_list(&self, v: &Value, at: &str) -> Result<Vec<String>, LocalStackError> {
        if let Value::Sequence(items) = v {
            return items.iter().map(|i| self.resolve(i, at)).collect();
        }
        let Some((function, arg)) = intrinsic(v) else {
            return Err(bad(format!("{at}: not a list: {v:?}")));
        };
        match (function.as_str(), &arg) {
            ("Split" | "Fn::Split", Value::Sequence(parts)) if parts.len() == 2 => {
                let delimiter = self.resolve(&parts[0], at)?;
                let text = self.resolve(&parts[1], at)?;
                Ok(text.split(delimiter.as_str()).map(str::to_owned).collect())
            }
            ("Ref", Value::String(name)) if self.parameters.contains_key(name) => Ok(self
                .parameters[name]
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect()),
            _ => Err(bad(format!("{at}: unsupported list intrinsic {function}"))),
        }
    }

    fn is_split(v: &Value) -> bool {
        match v {
            Value::Tagged(tagged) => tagged.tag.to_string().trim_start_matches('!') == "Split",
            Value::Mapping(m) if m.len() == 1 => {
                m.keys().next().and_then(Value::as_str) == Some("Fn::Split")
            }
            _ => false,
        }
    }

    /// Resolves every intrinsic inside a tree, giving JSON.
    pub(crate) fn resolve_tree(
        &self,
        v: &Value,
        at: &str,
    ) -> Result<serde_json::Value, LocalStackError> {
        if Self::is_split(v) {
            let items = self.resolve_list(v, at)?;
            return Ok(serde_json::Value::Array(
                items.into_iter().map(serde_json::Value::String).collect(),
            ));
        }
        Ok(match v {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::to_value(n).unwrap_or_default(),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Sequence(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(|i| self.resolve_tree(i, at))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Tagged(_) => serde_json::Value::String(self.resolve(v, at)?),
            Value::Mapping(m) => {
                let intrinsic = m.len() == 1
                    && m.keys()
                        .next()
                        .and_then(Value::as_str)
                        .is_some_and(|k| k == "Ref" || k.starts_with("Fn::"));
                if intrinsic {
                    serde_json::Value::String(self.resolve(v, at)?)
                } else {
                    let mut out = serde_json::Map::new();
                    for (k, v) in m {
                        let k = k.as_str().ok_or_else(|| bad(format!("{at}: key")))?;
                        out.insert(k.to_owned(), self.resolve_tree(v, at)?);
                    }
                    serde_json::Value::Object(out)
                }
            }
        })
    }
}
