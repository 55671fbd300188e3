//! IAM's evaluation of one action on one resource: explicit denies first, then any allow,
//! with `Resource`/`NotResource` matched as ARN globs and `Condition` evaluated against the
//! request's context. What this cannot know (a key it has no value for, an ARN part the
//! request does not name) makes the answer [`Decision::Unknown`], never a guess.

use std::collections::BTreeMap;

use crate::policy::{Effect, Statement, action_matches, glob};

/// A resource a request acts on, as IAM names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub arn: String,
    /// False when part of the ARN stands for a value the request does not name (written `*`);
    /// a create's own `*` (AWS names a resource not made yet so) is exact.
    pub exact: bool,
    /// The condition keys the reference lists for this action on this resource type.
    pub keys: Vec<String>,
}

/// The values of the condition keys for one target.
#[derive(Debug, Default, Clone)]
pub struct Context {
    pub request_tags: Option<BTreeMap<String, String>>,
    /// The resource's own tags: `None` when not looked up (no statement needs them).
    pub resource_tags: Option<Result<BTreeMap<String, String>, String>>,
    /// Keys the caller sets itself: `iam:PassedToService`, `ec2:CreateAction`.
    pub extra: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Allow,
    /// Explicit (a Deny statement) or implicit (no Allow).
    Deny {
        explicit: bool,
    },
    /// Whether AWS would allow depends on what is written here.
    Unknown(String),
}

/// Whether `arn` matches the policy's `pattern`: `*` any run, `?` one character; case matters.
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    glob(pattern, arn, false)
}

/// Whether a key the reference lists (`aws:RequestTag/${TagKey}`, `secretsmanager:ResourceTag/tag-key`)
/// covers `key` (`aws:RequestTag/strata:managed`).
fn listed(keys: &[String], key: &str) -> bool {
    keys.iter().any(|k| {
        let k = k.to_ascii_lowercase();
        let key = key.to_ascii_lowercase();
        match k.split_once('/') {
            Some((base, _)) => key.split_once('/').is_some_and(|(b, _)| b == base),
            None => k == key,
        }
    })
}

/// The values of `key` in this context: `Ok(None)` when absent, `Err` when unknowable.
fn values(key: &str, target: &Target, context: &Context) -> Result<Option<Vec<String>>, String> {
    let lower = key.to_ascii_lowercase();
    if let Some(value) = context
        .extra
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.clone())
    {
        return Ok(Some(vec![value]));
    }
    if !listed(&target.keys, key) {
        // Keys AWS sets on every request, which Strata does not use, are not modelled.
        return if lower.starts_with("aws:") && !lower.contains("tag") {
            Err(format!("the global condition key {key} is not modelled"))
        } else {
            Ok(None)
        };
    }
    if let Some(tag) = lower
        .strip_prefix("aws:requesttag/")
        .map(|_| &key["aws:RequestTag/".len()..])
    {
        return Ok(context
            .request_tags
            .as_ref()
            .and_then(|t| t.get(tag))
            .map(|v| vec![v.clone()]));
    }
    if lower == "aws:tagkeys" {
        return Ok(context
            .request_tags
            .as_ref()
            .map(|t| t.keys().cloned().collect()));
    }
    if let Some(at) = lower.find(":resourcetag/") {
        let tag = &key[at + ":ResourceTag/".len()..];
        return match &context.resource_tags {
            None => Err(format!("{key}: the resource's tags were not looked up")),
            Some(Err(why)) => Err(format!("{key}: {why}")),
            Some(Ok(tags)) => Ok(tags.get(tag).map(|v| vec![v.clone()])),
        };
    }
    Err(format!("the condition key {key} is not modelled"))
}

/// One condition operator on one key, against the policy's values.
fn holds(operator: &str, present: Option<&[String]>, wanted: &[String]) -> Result<bool, String> {
    let (set, op) = match operator.split_once(':') {
        Some((set, op)) => (Some(set), op),
        None => (None, operator),
    };
    let (op, if_exists) = match op.strip_suffix("IfExists") {
        Some(op) => (op, true),
        None => (op, false),
    };
    if op == "Null" {
        let absent = present.is_none_or(|v| v.is_empty());
        return Ok(wanted
            .iter()
            .any(|w| w.eq_ignore_ascii_case(&absent.to_string())));
    }
    let (negated, matcher): (bool, fn(&str, &str) -> bool) = match op {
        "StringEquals" | "ArnEquals" => (false, |w, v| w == v),
        "StringNotEquals" | "ArnNotEquals" => (true, |w, v| w == v),
        "StringEqualsIgnoreCase" => (false, |w, v| w.eq_ignore_ascii_case(v)),
        "StringNotEqualsIgnoreCase" => (true, |w, v| w.eq_ignore_ascii_case(v)),
        "StringLike" | "ArnLike" => (false, arn_matches),
        "StringNotLike" | "ArnNotLike" => (true, arn_matches),
        "Bool" => (false, |w, v| w.eq_ignore_ascii_case(v)),
        other => return Err(format!("the condition operator {other} is not modelled")),
    };
    let one = |v: &String| wanted.iter().any(|w| matcher(w, v));
    Ok(match (set, present) {
        (Some("ForAllValues"), None) => true,
        (Some("ForAllValues"), Some(vs)) => vs.iter().all(|v| one(v) != negated),
        (Some("ForAnyValue"), None) => false,
        (Some("ForAnyValue"), Some(vs)) => vs.iter().any(|v| one(v) != negated),
        (Some(other), _) => return Err(format!("the set operator {other} is not modelled")),
        (None, None) => if_exists || negated,
        (None, Some(vs)) => {
            let any = vs.iter().any(one);
            if negated { !any } else { any }
        }
    })
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Array(items) => items.iter().flat_map(strings).collect(),
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Bool(b) => vec![b.to_string()],
        other => vec![other.to_string()],
    }
}

/// Whether a statement's `Condition` holds (every operator, every key).
fn condition(statement: &Statement, target: &Target, context: &Context) -> Result<bool, String> {
    let Some(serde_json::Value::Object(operators)) = &statement.condition else {
        return Ok(true);
    };
    for (operator, keys) in operators {
        let serde_json::Value::Object(keys) = keys else {
            return Err(format!("unreadable condition {operator}"));
        };
        for (key, wanted) in keys {
            let present = values(key, target, context)?;
            if !holds(operator, present.as_deref(), &strings(wanted))? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Whether `statement` applies to `action` on `target`.
fn applies(
    statement: &Statement,
    action: &str,
    target: &Target,
    context: &Context,
) -> Result<bool, String> {
    let action_in = if statement.not_actions.is_empty() {
        statement.actions.iter().any(|p| action_matches(p, action))
    } else {
        !statement
            .not_actions
            .iter()
            .any(|p| action_matches(p, action))
    };
    if !action_in {
        return Ok(false);
    }
    let resource_in = if statement.not_resources.is_empty() {
        statement
            .resources
            .iter()
            .any(|p| arn_matches(p, &target.arn))
    } else {
        !statement
            .not_resources
            .iter()
            .any(|p| arn_matches(p, &target.arn))
    };
    if !resource_in {
        return match target.exact {
            true => Ok(false),
            false => Err(format!(
                "{} names a value the request does not carry",
                target.arn
            )),
        };
    }
    condition(statement, target, context)
}

/// Whether any statement's condition asks for the resource's own tags.
pub fn needs_resource_tags(statements: &[Statement], action: &str) -> bool {
    statements.iter().any(|s| {
        s.actions.iter().any(|p| action_matches(p, action))
            && s.condition
                .as_ref()
                .is_some_and(|c| c.to_string().to_ascii_lowercase().contains("resourcetag/"))
    })
}

/// IAM's decision for `action` on `target`.
pub fn decide(
    statements: &[Statement],
    action: &str,
    target: &Target,
    context: &Context,
) -> Decision {
    let mut unknown = None;
    for s in statements.iter().filter(|s| s.effect == Effect::Deny) {
        match applies(s, action, target, context) {
            Ok(true) => return Decision::Deny { explicit: true },
            Ok(false) => {}
            Err(why) => unknown = Some(why),
        }
    }
    for s in statements.iter().filter(|s| s.effect == Effect::Allow) {
        match applies(s, action, target, context) {
            Ok(true) if unknown.is_none() => return Decision::Allow,
            Ok(_) => {}
            Err(why) => unknown = unknown.or(Some(why)),
        }
    }
    match unknown {
        Some(why) => Decision::Unknown(why),
        None => Decision::Deny { explicit: false },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn allow(
        actions: &[&str],
        resources: &[&str],
        condition: Option<serde_json::Value>,
    ) -> Statement {
        Statement {
            effect: Effect::Allow,
            actions: actions.iter().map(|s| s.to_string()).collect(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            condition,
            ..Statement::default()
        }
    }

    fn target(arn: &str, exact: bool) -> Target {
        Target {
            arn: arn.into(),
            exact,
            keys: vec![
                "aws:RequestTag/${TagKey}".into(),
                "aws:ResourceTag/${TagKey}".into(),
                "aws:TagKeys".into(),
            ],
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn resources_and_tag_conditions_decide() {
        let statements = vec![
            allow(
                &["ec2:CreateVpc"],
                &["arn:aws:ec2:*:1:vpc/*"],
                Some(json!({"StringEquals": {"aws:RequestTag/strata:managed": "true"}})),
            ),
            allow(
                &["ec2:DeleteVpc"],
                &["arn:aws:ec2:*:1:vpc/*"],
                Some(json!({"StringLike": {"aws:ResourceTag/strata:environment": "strata-*"}})),
            ),
        ];
        let vpc = target("arn:aws:ec2:us-east-1:1:vpc/*", true);
        let tagged = Context {
            request_tags: Some(tags(&[("strata:managed", "true")])),
            ..Context::default()
        };
        assert_eq!(
            decide(&statements, "ec2:CreateVpc", &vpc, &tagged),
            Decision::Allow
        );
        assert_eq!(
            decide(&statements, "ec2:CreateVpc", &vpc, &Context::default()),
            Decision::Deny { explicit: false }
        );
        let existing = target("arn:aws:ec2:us-east-1:1:vpc/vpc-1", true);
        let owned = Context {
            resource_tags: Some(Ok(tags(&[("strata:environment", "strata-a")]))),
            ..Context::default()
        };
        assert_eq!(
            decide(&statements, "ec2:DeleteVpc", &existing, &owned),
            Decision::Allow
        );
        let foreign = Context {
            resource_tags: Some(Ok(tags(&[("strata:environment", "theirs")]))),
            ..Context::default()
        };
        assert_eq!(
            decide(&statements, "ec2:DeleteVpc", &existing, &foreign),
            Decision::Deny { explicit: false }
        );
        assert!(matches!(
            decide(&statements, "ec2:DeleteVpc", &existing, &Context::default()),
            Decision::Unknown(_)
        ));
    }

    #[test]
    fn an_explicit_deny_wins_and_not_resource_excludes() {
        let mut deny = allow(&["s3:*"], &["arn:aws:s3:::strata-secret*"], None);
        deny.effect = Effect::Deny;
        let mut everything_but = allow(&["s3:DeleteBucket"], &[], None);
        everything_but.not_resources = vec!["arn:aws:s3:::keep-*".into()];
        let statements = vec![allow(&["s3:*"], &["*"], None), deny, everything_but];
        let ctx = Context::default();
        assert_eq!(
            decide(
                &statements,
                "s3:DeleteBucket",
                &target("arn:aws:s3:::strata-secrets", true),
                &ctx
            ),
            Decision::Deny { explicit: true }
        );
        assert_eq!(
            decide(
                &statements[2..],
                "s3:DeleteBucket",
                &target("arn:aws:s3:::keep-me", true),
                &ctx
            ),
            Decision::Deny { explicit: false }
        );
        assert_eq!(
            decide(
                &statements[2..],
                "s3:DeleteBucket",
                &target("arn:aws:s3:::other", true),
                &ctx
            ),
            Decision::Allow
        );
    }

    #[test]
    fn operators_follow_iam() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(holds("StringLike", Some(&v(&["strata-a"])), &v(&["strata-*"])).unwrap());
        assert!(!holds("StringLike", None, &v(&["strata-*"])).unwrap());
        assert!(holds("StringLikeIfExists", None, &v(&["strata-*"])).unwrap());
        assert!(holds("StringNotEquals", None, &v(&["x"])).unwrap());
        assert!(
            holds(
                "ForAllValues:StringEquals",
                Some(&v(&["a", "b"])),
                &v(&["a", "b", "c"])
            )
            .unwrap()
        );
        assert!(
            !holds(
                "ForAllValues:StringEquals",
                Some(&v(&["a", "d"])),
                &v(&["a", "b"])
            )
            .unwrap()
        );
        assert!(
            holds(
                "ForAnyValue:StringEquals",
                Some(&v(&["a", "d"])),
                &v(&["d"])
            )
            .unwrap()
        );
        assert!(holds("Null", None, &v(&["true"])).unwrap());
        assert!(holds("Bool", Some(&v(&["true"])), &v(&["true"])).unwrap());
        assert!(holds("NumericLessThan", None, &v(&["1"])).is_err());
    }
}
