//! Each function's IAM permissions as the template grants them: the inline statements of its
//! own role (SAM `Policies`) or of the role it names (`Role: !GetAtt X.Arn`), resolved like
//! CloudFormation would, and the managed policies attached. The least-privilege test compares
//! them with the AWS calls the function's code makes; SAM policy templates are refused here
//! (they grant more than any code calls), so every grant is written out in the template.

use serde_yaml_ng::Value;

use crate::LocalStackError;
use crate::template::Context;

/// Allow or Deny.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Effect {
    #[default]
    Allow,
    Deny,
}

/// One statement, resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Statement {
    pub effect: Effect,
    pub actions: Vec<String>,
    /// `NotAction`: the statement covers every action but these.
    pub not_actions: Vec<String>,
    pub resources: Vec<String>,
    /// `NotResource`: every resource but these.
    pub not_resources: Vec<String>,
    /// The statement's `Condition`, as written (resolved), if any.
    pub condition: Option<serde_json::Value>,
}

/// What a function may do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Permissions {
    /// The role's logical id: the function's own (`<Function>Role`, as SAM names it) or the
    /// shared one it names.
    pub role: String,
    pub statements: Vec<Statement>,
    /// Managed policies by ARN or name (AWSLambdaBasicExecutionRole: logging only).
    pub managed: Vec<String>,
}

impl Permissions {
    /// Whether some Allow statement names `action` (IAM's case-insensitive match, `*`
    /// wildcards), whatever its resources and condition.
    pub fn allows(&self, action: &str) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && match s.not_actions.is_empty() {
                    true => s.actions.iter().any(|p| action_matches(p, action)),
                    false => !s.not_actions.iter().any(|p| action_matches(p, action)),
                }
        })
    }
}

/// IAM's action matching: case-insensitive, `*` any run of characters, `?` one.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    glob(pattern, action, true)
}

/// IAM's wildcard matching, for actions (case-insensitive) and ARNs (case-sensitive).
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    fn go(p: &[u8], a: &[u8], ignore_case: bool) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                go(&p[1..], a, ignore_case) || (!a.is_empty() && go(p, &a[1..], ignore_case))
            }
            (Some(b'?'), Some(_)) => go(&p[1..], &a[1..], ignore_case),
            (Some(x), Some(y)) if x == y || (ignore_case && x.eq_ignore_ascii_case(y)) => {
                go(&p[1..], &a[1..], ignore_case)
            }
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes(), ignore_case)
}

fn bad(message: String) -> LocalStackError {
    LocalStackError::Template(message)
}

fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn statements(
    ctx: &Context<'_>,
    document: &Value,
    at: &str,
) -> Result<Vec<Statement>, LocalStackError> {
    let resolved = ctx.resolve_tree(document, at)?;
    let list = match resolved.get("Statement") {
        Some(serde_json::Value::Array(items)) => items.clone(),
        Some(one @ serde_json::Value::Object(_)) => vec![one.clone()],
        _ => return Err(bad(format!("{at}: a policy without Statement"))),
    };
    let mut out = Vec::new();
    for s in list {
        let effect = match s.get("Effect").and_then(|e| e.as_str()) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            _ => return Err(bad(format!("{at}: a statement without Effect: {s}"))),
        };
        out.push(Statement {
            effect,
            actions: strings(s.get("Action")),
            not_actions: strings(s.get("NotAction")),
            resources: strings(s.get("Resource")),
            not_resources: strings(s.get("NotResource")),
            condition: s.get("Condition").cloned(),
        });
    }
    Ok(out)
}

/// The permissions of the function `id` with properties `props`.
pub(crate) fn of_function(
    ctx: &Context<'_>,
    id: &str,
    props: &Value,
) -> Result<Permissions, LocalStackError> {
    if let Some(role) = props.get("Role") {
        let role_id = match role {
            Value::Tagged(t) => t
                .value
                .as_str()
                .map(|s| s.trim_end_matches(".Arn").to_owned()),
            _ => None,
        }
        .ok_or_else(|| bad(format!("{id}: Role must be !GetAtt <Role>.Arn")))?;
        let role_props = ctx
            .resources
            .get(role_id.as_str())
            .and_then(|r| r.get("Properties"))
            .ok_or_else(|| bad(format!("{id}: no role {role_id}")))?;
        let mut permissions = Permissions {
            role: role_id.clone(),
            ..Permissions::default()
        };
        for policy in role_props
            .get("Policies")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let document = policy
                .get("PolicyDocument")
                .ok_or_else(|| bad(format!("{role_id}: a policy without PolicyDocument")))?;
            permissions
                .statements
                .extend(statements(ctx, document, &role_id)?);
        }
        for arn in role_props
            .get("ManagedPolicyArns")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            permissions.managed.push(ctx.resolve(arn, &role_id)?);
        }
        return Ok(permissions);
    }
    // SAM makes `<Function>Role` with AWSLambdaBasicExecutionRole and the listed policies.
    let mut permissions = Permissions {
        role: format!("{id}Role"),
        managed: vec!["AWSLambdaBasicExecutionRole".into()],
        ..Permissions::default()
    };
    for policy in props
        .get("Policies")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        match policy {
            Value::String(name) => permissions.managed.push(name.clone()),
            Value::Mapping(m) if m.get("Statement").is_some() => {
                permissions.statements.extend(statements(ctx, policy, id)?);
            }
            Value::Mapping(m) => {
                let name = m.keys().next().and_then(Value::as_str).unwrap_or("?");
                return Err(bad(format!(
                    "{id}: the SAM policy template {name} grants more than the code calls; \
                     write its statements out"
                )));
            }
            other => return Err(bad(format!("{id}: unreadable policy {other:?}"))),
        }
    }
    Ok(permissions)
}

#[cfg(test)]
mod tests {
    use super::action_matches;

    #[test]
    fn actions_match_like_iam() {
        assert!(action_matches("ec2:Describe*", "ec2:DescribeVpcs"));
        assert!(action_matches("EC2:describevpcs", "ec2:DescribeVpcs"));
        assert!(!action_matches("ec2:Describe*", "ec2:DeleteVpc"));
        assert!(action_matches("s3:Get?ucketTagging", "s3:GetBucketTagging"));
        assert!(!action_matches("s3:GetBucket", "s3:GetBucketTagging"));
    }
}
