//! Reads `infra/template.yaml` (SAM), the one source of truth for function names, their
//! environment variables, tables and state-machine definitions with their substitutions.
//! The local stack resolves the intrinsics it needs (`Ref`, `Fn::GetAtt … .Arn`, `Fn::Sub`,
//! and `Fn::If` over conditions of `Fn::Equals` and `Fn::Not`) the way CloudFormation would,
//! with local account, region, stack name and the parameters' defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::LocalStackError;

pub const ACCOUNT_ID: &str = "123456789012";

#[derive(Debug, Clone)]
pub struct Template {
    pub functions: Vec<FunctionDef>,
    pub tables: Vec<TableDef>,
    pub state_machines: Vec<StateMachineDef>,
    /// EventBridge buses (logical id, name).
    pub event_buses: Vec<(String, String)>,
    /// EventBridge Scheduler schedules (moto never fires them: the local stack does).
    pub schedules: Vec<ScheduleDef>,
    /// EventBridge rules that target a function (a SAM `EventBridgeRule` event): moto never
    /// delivers them to a Lambda, so the local stack does.
    pub rules: Vec<RuleDef>,
}

#[derive(Debug, Clone)]
pub struct RuleDef {
    /// The function's logical id.
    pub function: String,
    /// The event's name under the function's `Events`.
    pub name: String,
    /// The rule's event pattern, as JSON.
    pub pattern: serde_json::Value,
}

/// EventBridge's matching, for the patterns the template uses: every key of the pattern must
/// be in the event; a list matches a value equal to one of its entries, a map matches
/// recursively.
pub fn pattern_matches(pattern: &serde_json::Value, event: &serde_json::Value) -> bool {
    use serde_json::Value as Json;
    match pattern {
        Json::Object(fields) => fields
            .iter()
            .all(|(key, want)| event.get(key).is_some_and(|got| pattern_matches(want, got))),
        Json::Array(allowed) => allowed.contains(event),
        other => other == event,
    }
}

#[derive(Debug, Clone)]
pub struct ScheduleDef {
    pub logical_id: String,
    /// The target function's ARN, resolved.
    pub target_arn: String,
    /// The target's `Input`, with the scheduler's `<aws.scheduler.…>` placeholders left in.
    pub input: String,
}

#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub logical_id: String,
    /// The cargo binary (SAM `Metadata.BuildProperties.Binary`); also the local function name.
    pub binary: String,
    pub environment: BTreeMap<String, String>,
    /// What its role allows.
    pub permissions: crate::policy::Permissions,
}

#[derive(Debug, Clone)]
pub struct TableDef {
    pub logical_id: String,
    pub name: String,
    /// `AttributeDefinitions`, `KeySchema`, `GlobalSecondaryIndexes`, as written.
    pub properties: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct StateMachineDef {
    pub logical_id: String,
    pub name: String,
    pub definition_path: PathBuf,
    /// The definition with every `${Name}` substitution applied.
    pub definition: String,
}

pub(crate) struct Context<'a> {
    region: &'a str,
    stack: &'a str,
    pub(crate) resources: &'a serde_yaml_ng::Mapping,
    parameters: BTreeMap<String, String>,
    conditions: Option<&'a serde_yaml_ng::Mapping>,
}

impl Template {
    pub fn load(path: &Path, region: &str, stack: &str) -> Result<Self, LocalStackError> {
        let text = std::fs::read_to_string(path).map_err(|e| LocalStackError::io(path, e))?;
        let doc: Value = serde_yaml_ng::from_str(&text).map_err(|e| bad(format!("{e}")))?;
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| bad("no Resources".into()))?;
        let parameters = doc
            .get("Parameters")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), scalar(v.get("Default")?)?)))
            .collect();
        let ctx = Context {
            region,
            stack,
            resources,
            parameters,
            conditions: doc.get("Conditions").and_then(Value::as_mapping),
        };
        let global_env = doc
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Environment"))
            .and_then(|e| e.get("Variables"));
        // SAM resolves DefinitionUri against the template's folder.
        let base = path.parent().unwrap_or(Path::new("."));

        let mut template = Template {
            functions: Vec::new(),
            tables: Vec::new(),
            state_machines: Vec::new(),
            event_buses: Vec::new(),
            schedules: Vec::new(),
            rules: Vec::new(),
        };
        for (id, resource) in resources {
            let id = id
                .as_str()
                .ok_or_else(|| bad("a resource id is not a string".into()))?;
            // A resource under a false condition is not made, as in CloudFormation.
            if let Some(condition) = resource.get("Condition").and_then(Value::as_str) {
                if !ctx.condition(condition, id)? {
                    continue;
                }
            }
            let props = resource.get("Properties").cloned().unwrap_or(Value::Null);
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::Serverless::Function") => {
                    let binary = resource
                        .get("Metadata")
                        .and_then(|m| m.get("BuildProperties"))
                        .and_then(|b| b.get("Binary"))
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad(format!("{id}: no Metadata.BuildProperties.Binary")))?;
                    let mut environment = BTreeMap::new();
                    let own = props.get("Environment").and_then(|e| e.get("Variables"));
                    for vars in [global_env, own].into_iter().flatten() {
                        for (k, v) in vars.as_mapping().into_iter().flatten() {
                            let k = k.as_str().ok_or_else(|| bad(format!("{id}: env name")))?;
                            environment.insert(k.to_owned(), ctx.resolve(v, id)?);
                        }
                    }
                    for (name, event) in props
                        .get("Events")
                        .and_then(Value::as_mapping)
                        .into_iter()
                        .flatten()
                    {
                        if event.get("Type").and_then(Value::as_str) != Some("EventBridgeRule") {
                            continue;
                        }
                        let pattern = event
                            .get("Properties")
                            .and_then(|p| p.get("Pattern"))
                            .ok_or_else(|| bad(format!("{id}: {name:?} has no Pattern")))?;
                        template.rules.push(RuleDef {
                            function: id.to_owned(),
                            name: name.as_str().unwrap_or_default().to_owned(),
                            pattern: serde_json::to_value(pattern)
                                .map_err(|e| bad(format!("{id}: pattern: {e}")))?,
                        });
                    }
                    template.functions.push(FunctionDef {
                        logical_id: id.to_owned(),
                        binary: binary.to_owned(),
                        environment,
                        permissions: crate::policy::of_function(&ctx, id, &props)?,
                    });
                }
                Some("AWS::Scheduler::Schedule") => {
                    let target = props
                        .get("Target")
                        .ok_or_else(|| bad(format!("{id}: no Target")))?;
                    let arn = target
                        .get("Arn")
                        .ok_or_else(|| bad(format!("{id}: no Target.Arn")))?;
                    template.schedules.push(ScheduleDef {
                        logical_id: id.to_owned(),
                        target_arn: ctx.resolve(arn, id)?,
                        input: target
                            .get("Input")
                            .and_then(Value::as_str)
                            .unwrap_or("{}")
                            .to_owned(),
                    });
                }
                Some("AWS::Events::EventBus") => {
                    template
                        .event_buses
                        .push((id.to_owned(), ctx.physical_name(id)?));
                }
                Some("AWS::DynamoDB::Table") => {
                    template.tables.push(TableDef {
                        logical_id: id.to_owned(),
                        name: ctx.physical_name(id)?,
                        properties: ctx.resolve_tree(&props, id)?,
                    });
                }
                Some("AWS::Serverless::StateMachine") => {
                    let uri = props
                        .get("DefinitionUri")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad(format!("{id}: no DefinitionUri")))?;
                    let definition_path = base.join(uri);
                    let mut definition = std::fs::read_to_string(&definition_path)
                        .map_err(|e| LocalStackError::io(&definition_path, e))?;
                    for (k, v) in props
                        .get("DefinitionSubstitutions")
                        .and_then(Value::as_mapping)
                        .into_iter()
                        .flatten()
                    {
                        let k = k
                            .as_str()
                            .ok_or_else(|| bad(format!("{id}: substitution")))?;
                        definition = definition.replace(&format!("${{{k}}}"), &ctx.resolve(v, id)?);
                    }
                    if let Some(left) = unresolved_placeholder(&definition) {
                        return Err(bad(format!(
                            "{id}: {} uses ${{{left}}} but DefinitionSubstitutions has no {left}",
                            definition_path.display()
                        )));
                    }
                    template.state_machines.push(StateMachineDef {
                        logical_id: id.to_owned(),
                        name: ctx.physical_name(id)?,
                        definition_path,
                        definition,
                    });
                }
                _ => {}
            }
        }
        Ok(template)
    }

    pub fn state_machine(&self, logical_id: &str) -> Option<&StateMachineDef> {
        self.state_machines
            .iter()
            .find(|s| s.logical_id == logical_id)
    }

    /// A schedule's target function (logical id) and its input.
    pub fn schedule(&self, logical_id: &str) -> Result<(String, String), LocalStackError> {
        let schedule = self
            .schedules
            .iter()
            .find(|s| s.logical_id == logical_id)
            .ok_or_else(|| bad(format!("no schedule {logical_id}")))?;
        let function = self
            .functions
            .iter()
            .find(|f| {
                schedule
                    .target_arn
                    .ends_with(&format!(":function:{}", f.binary))
            })
            .ok_or_else(|| {
                bad(format!(
                    "{logical_id}: target {} is not a template function",
                    schedule.target_arn
                ))
            })?;
        Ok((function.logical_id.clone(), schedule.input.clone()))
    }

    /// The one environment `cargo lambda watch` gives every function. Two functions that
    /// want different values for one variable cannot share it, and are refused.
    pub fn shared_environment(&self) -> Result<BTreeMap<String, String>, LocalStackError> {
        let mut env = BTreeMap::new();
        for f in &self.functions {
            for (k, v) in &f.environment {
                if let Some(previous) = env.insert(k.clone(), v.clone()) {
                    if previous != *v {
                        return Err(bad(format!(
                            "{}: {k} differs between functions; cargo lambda watch shares one environment",
                            f.logical_id
                        )));
                    }
                }
            }
        }
        Ok(env)
    }
}

fn bad(message: String) -> LocalStackError {
    LocalStackError::Template(message)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A `${Name}` left in a definition (ASL's own `$.path` syntax never has a brace).
fn unresolved_placeholder(definition: &str) -> Option<String> {
    let start = definition.find("${")? + 2;
    let end = definition[start..].find('}')? + start;
    Some(definition[start..end].to_owned())
}

impl Context<'_> {
    fn resource_type(&self, id: &str) -> Option<&str> {
        self.resources.get(id)?.get("Type")?.as_str()
    }

    fn physical_name(&self, id: &str) -> Result<String, LocalStackError> {
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
        let (function, arg) = match v {
            Value::Tagged(tagged) => (tagged.tag.to_string(), tagged.value.clone()),
            Value::Mapping(m) if m.len() == 1 => {
                let (k, v) = m.iter().next().expect("one entry");
                (k.as_str().unwrap_or_default().to_owned(), v.clone())
            }
            _ => return Err(bad(format!("{at}: cannot resolve {v:?}"))),
        };
        match (function.trim_start_matches('!'), &arg) {
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
    fn condition(&self, name: &str, at: &str) -> Result<bool, LocalStackError> {
        let body = self
            .conditions
            .and_then(|c| c.get(name))
            .ok_or_else(|| bad(format!("{at}: unknown condition {name}")))?;
        self.evaluate(body, at)
    }

    /// `Fn::Equals [a, b]`, `Fn::Not [c]`, or `{Condition: name}`.
    fn evaluate(&self, v: &Value, at: &str) -> Result<bool, LocalStackError> {
        let (function, arg) = match v {
            Value::Tagged(tagged) => (tagged.tag.to_string(), tagged.value.clone()),
            Value::Mapping(m) if m.len() == 1 => {
                let (k, v) = m.iter().next().expect("one entry");
                (k.as_str().unwrap_or_default().to_owned(), v.clone())
            }
            _ => return Err(bad(format!("{at}: cannot evaluate condition {v:?}"))),
        };
        match (function.trim_start_matches('!'), &arg) {
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
        let (function, arg) = match v {
            Value::Tagged(tagged) => (tagged.tag.to_string(), tagged.value.clone()),
            Value::Mapping(m) if m.len() == 1 => {
                let (k, v) = m.iter().next().expect("one entry");
                (k.as_str().unwrap_or_default().to_owned(), v.clone())
            }
            _ => return Err(bad(format!("{at}: not a list: {v:?}"))),
        };
        match (function.trim_start_matches('!'), &arg) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(template: &str, definition: &str) -> Result<Template, LocalStackError> {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        std::fs::create_dir_all(dir.join("infra")).unwrap();
        std::fs::create_dir_all(dir.join("statemachines")).unwrap();
        std::fs::write(dir.join("infra/template.yaml"), template).unwrap();
        std::fs::write(dir.join("statemachines/m.asl.json"), definition).unwrap();
        Template::load(&dir.join("infra/template.yaml"), "eu-west-1", "stack")
    }

    const BASE: &str = r#"
Parameters:
  Level: { Type: String, Default: debug }
Globals:
  Function:
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-state"
      KeySchema: [{ AttributeName: pk, KeyType: HASH }]
  Fn:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: worker } }
    Properties:
      Environment:
        Variables:
          LEVEL: !Ref Level
          QUEUE: { "Fn::Sub": "${AWS::Region}:${AWS::AccountId}" }
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: ../statemachines/m.asl.json
      DefinitionSubstitutions:
        FnArn: !GetAtt Fn.Arn
        TableArn: { "Fn::GetAtt": [Table, Arn] }
"#;

    #[test]
    fn the_ecr_push_rule_matches_only_successful_pushes() {
        let t = Template::load(
            &crate::workspace_root().join("infra/template.yaml"),
            "eu-west-1",
            "stack",
        )
        .unwrap();
        let rule = t.rules.iter().find(|r| r.name == "EcrPush").unwrap();
        assert_eq!(rule.function, "SyncFunction");
        let push = serde_json::json!({
            "source": "aws.ecr", "detail-type": "ECR Image Action",
            "detail": {"action-type": "PUSH", "result": "SUCCESS", "repository-name": "shop/ui"}
        });
        assert!(pattern_matches(&rule.pattern, &push));
        for (path, other) in [
            ("/detail/action-type", "DELETE"),
            ("/detail/result", "FAILURE"),
            ("/source", "aws.s3"),
        ] {
            let mut event = push.clone();
            *event.pointer_mut(path).unwrap() = serde_json::json!(other);
            assert!(!pattern_matches(&rule.pattern, &event), "{path}={other}");
        }
    }

    #[test]
    fn intrinsics_resolve_like_cloudformation() {
        let t = load(
            BASE,
            r#"{"a": "${FnArn}", "b": "${TableArn}", "c": "$.path"}"#,
        )
        .unwrap();
        assert_eq!(t.tables[0].name, "stack-state");
        let f = &t.functions[0];
        assert_eq!(f.binary, "worker");
        assert_eq!(f.environment["TABLE_NAME"], "stack-state");
        assert_eq!(f.environment["LEVEL"], "debug");
        assert_eq!(f.environment["QUEUE"], "eu-west-1:123456789012");
        let m = t.state_machine("Machine").unwrap();
        assert_eq!(m.name, "stack-Machine");
        assert_eq!(
            m.definition,
            r#"{"a": "arn:aws:lambda:eu-west-1:123456789012:function:worker", "b": "arn:aws:dynamodb:eu-west-1:123456789012:table/stack-state", "c": "$.path"}"#
        );
    }

    #[test]
    fn lists_joins_substitution_variables_and_conditional_resources_resolve() {
        let template = r#"
Parameters:
  Zones: { Type: CommaDelimitedList, Default: "Z1,Z2" }
  Adopt: { Type: String, Default: "true" }
Conditions:
  Creates: !Equals [!Ref Adopt, "false"]
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Condition: Creates
    Properties: { TableName: t }
  Fn:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: worker } }
    Properties:
      Environment:
        Variables:
          JOINED: !Join ["+", !Ref Zones]
      Policies:
        - Statement:
            - Effect: Allow
              Action: route53:ChangeResourceRecordSets
              Resource: !Split
                - ","
                - !Sub
                  - "arn:aws:route53:::hostedzone/${Ids}"
                  - Ids: !Join [",arn:aws:route53:::hostedzone/", !Ref Zones]
"#;
        let t = load(template, "{}").unwrap();
        assert!(
            t.tables.is_empty(),
            "a resource under a false condition is not made"
        );
        let f = &t.functions[0];
        assert_eq!(f.environment["JOINED"], "Z1+Z2");
        assert_eq!(
            f.permissions.statements[0].resources,
            [
                "arn:aws:route53:::hostedzone/Z1",
                "arn:aws:route53:::hostedzone/Z2"
            ]
        );
    }

    #[test]
    fn if_chooses_by_the_condition_over_the_parameters_defaults() {
        let conditional = BASE
            .replace(
                "Globals:",
                "Conditions:\n  IsDebug: !Equals [!Ref Level, debug]\n  NotDebug: { \"Fn::Not\": [{ Condition: IsDebug }] }\nGlobals:",
            )
            .replace(
                "          LEVEL: !Ref Level",
                "          LEVEL: !If [IsDebug, verbose, quiet]\n          OTHER: { \"Fn::If\": [NotDebug, yes, !Ref Level] }",
            );
        let t = load(&conditional, r#"{"a": "${FnArn}", "b": "${TableArn}"}"#).unwrap();
        assert_eq!(t.functions[0].environment["LEVEL"], "verbose");
        assert_eq!(t.functions[0].environment["OTHER"], "debug");
        let unknown = conditional.replace("!If [IsDebug", "!If [Nowhere");
        let err = load(&unknown, "{}").unwrap_err();
        assert!(
            err.to_string().contains("unknown condition Nowhere"),
            "{err}"
        );
    }

    #[test]
    fn a_placeholder_without_a_substitution_is_refused() {
        let err = load(BASE, r#"{"a": "${FnArn}", "b": "${Missing}"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("uses ${Missing} but DefinitionSubstitutions has no Missing"),
            "{err}"
        );
    }

    #[test]
    fn unknown_references_and_conflicting_environments_are_refused() {
        let unknown = BASE.replace("!Ref Level", "!Ref Nowhere");
        let err = load(&unknown, "{}").unwrap_err();
        assert!(err.to_string().contains("Ref to unknown Nowhere"), "{err}");

        let second = BASE.replace(
            "  Machine:",
            "  Other:\n    Type: AWS::Serverless::Function\n    Metadata: { BuildProperties: { Binary: other } }\n    Properties:\n      Environment:\n        Variables:\n          LEVEL: info\n  Machine:",
        );
        let t = load(&second, r#"{"a": "${FnArn}", "b": "${TableArn}"}"#).unwrap();
        let err = t.shared_environment().unwrap_err();
        assert!(
            err.to_string().contains("LEVEL differs between functions"),
            "{err}"
        );
    }
}
