//! Reads `infra/template.yaml` (SAM), the one source of truth for function names, their
//! environment variables, tables and state-machine definitions with their substitutions.
//! The local stack resolves the intrinsics it needs the way CloudFormation would
//! ([`intrinsics`]), and makes no resource whose `Condition` is false.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::LocalStackError;

mod intrinsics;

pub(crate) use intrinsics::Context;
use intrinsics::{bad, scalar};

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

/// A `${Name}` left in a definition (ASL's own `$.path` syntax never has a brace).
fn unresolved_placeholder(definition: &str) -> Option<String> {
    let start = definition.find("${")? + 2;
    let end = definition[start..].find('}')? + start;
    Some(definition[start..end].to_owned())
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
