//! Kind `cloudFormation`: one stack per environment and component, `strata-<env>-<component>`,
//! in the environment's region, deployed with the control plane's stack role and tagged as
//! the environment's. Its parameters are the resolved inputs, its outputs the component's.
//!
//! - **apply** creates the stack (CreateStack), or, when the live template or a parameter
//!   differs from the spec, updates it through a change set named after the operation
//!   (created, then executed once it is ready). A change set AWS finds empty ends the step.
//! - **destroy** deletes the stack.
//! - **observe** reports the last drift detection's findings and starts the next one
//!   (detection takes AWS seconds to minutes; a sync does not wait for it).
//!
//! A create or delete that fails during this operation fails the step with AWS's reason;
//! one left failed by an earlier operation is cleared and tried again (a failed create
//! leaves no resources). Not compared: a parameter removed from the inputs (its live value
//! stays until the template changes), and `NoEcho` parameters (AWS shows them masked). No
//! capability is acknowledged: a template that makes IAM resources or uses macros is refused
//! by AWS with InsufficientCapabilities, which names them.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    ChangeSetStatus, ChangeSetType, ExecutionStatus, Parameter, StackResourceDriftStatus, Tag,
    TemplateStage,
};
use aws_sdk_cloudformation::types::{Stack as Described, StackDriftStatus};
use strata_component::{ComponentError, Progress, Step, aws::classify};
use strata_core::custom::CloudFormationSpec;
use strata_core::drift::{FieldDrift, Observed};
use strata_core::{Component, ComponentPhase};

/// The one change set (or request token) of an operation: AWS names allow letters, digits
/// and hyphens, starting with a letter, at most 128.
pub fn operation_token(prefix: &str, execution: &str) -> String {
    let mut token = format!("{prefix}-");
    token.extend(
        execution
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }),
    );
    token.truncate(128);
    token
}

/// The stack of `component` in `environment`.
pub fn stack_name(environment: &str, component: Component) -> String {
    format!("strata-{environment}-{}", component.name())
}

/// What AWS reports when a change set would change nothing.
fn empty_change_set(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

pub struct Stack<'a> {
    pub client: Client,
    pub step: &'a Step<'a>,
    pub component: Component,
    pub spec: &'a CloudFormationSpec,
    pub parameters: BTreeMap<String, String>,
    /// The role CloudFormation deploys with (iam:PassRole is granted for it alone).
    pub role_arn: &'a str,
}

impl Stack<'_> {
    fn name(&self) -> String {
        stack_name(&self.step.context.environment, self.component)
    }

    fn token(&self) -> String {
        operation_token("strata", &self.step.context.execution)
    }

    fn tags(&self) -> Vec<Tag> {
        self.step
            .owner
            .tags(self.component)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    }

    fn parameters(&self) -> Vec<Parameter> {
        parameters(&self.parameters)
    }

    async fn describe(&self) -> Result<Option<Described>, ComponentError> {
        describe(&self.client, &self.name()).await
    }

    /// Refuses a stack by this name that is not this environment's component.
    fn check_owner(&self, stack: &Described) -> Result<(), ComponentError> {
        let tags = stack
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value()?)));
        self.step.owner.check(tags, self.component).map_err(|why| {
            ComponentError::ResourceNotOwned(format!(
                "stack {} is not {}'s {}: {why}",
                self.name(),
                self.step.owner,
                self.component
            ))
        })
    }

    /// Whether AWS's clock puts `at` within this operation.
    fn during_this_operation(
        &self,
        at: Option<&aws_sdk_cloudformation::primitives::DateTime>,
    ) -> bool {
        at.is_some_and(|t| t.secs() >= self.step.context.started_at as i64)
    }

    fn failed(&self, stack: &Described, what: &str) -> ComponentError {
        ComponentError::AwsRejected(format!(
            "stack {} {what} ({}): {}",
            self.name(),
            status_of(stack),
            stack.stack_status_reason().unwrap_or("AWS gave no reason")
        ))
    }

    pub async fn apply(&self) -> Result<Progress, ComponentError> {
        let Some(stack) = self.describe().await? else {
            return self.create().await;
        };
        self.check_owner(&stack)?;
        let status = status_of(&stack);
        match status {
            "REVIEW_IN_PROGRESS" | "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" => {
                if status != "REVIEW_IN_PROGRESS"
                    && self.during_this_operation(stack.creation_time())
                {
                    return Err(self.failed(&stack, "could not be created"));
                }
                // A create that failed earlier, or a change set's stack never created: it
                // holds no resources of the spec's; it goes, and the next step creates it.
                self.delete().await?;
                Ok(self.waiting(ComponentPhase::Creating, &stack))
            }
            s if s.ends_with("_IN_PROGRESS") => Ok(self.waiting(phase_of(s), &stack)),
            "CREATE_COMPLETE"
            | "UPDATE_COMPLETE"
            | "UPDATE_ROLLBACK_COMPLETE"
            | "IMPORT_COMPLETE"
            | "IMPORT_ROLLBACK_COMPLETE" => self.converge(&stack).await,
            _ => Err(self.failed(
                &stack,
                "needs a person: continue its rollback or delete it, then run up again",
            )),
        }
    }

    async fn create(&self) -> Result<Progress, ComponentError> {
        let name = self.name();
        let request = self
            .client
            .create_stack()
            .stack_name(&name)
            .set_template_body(self.spec.template.clone())
            .set_template_url(self.spec.template_url.clone())
            .set_parameters(Some(self.parameters()))
            .set_tags(Some(self.tags()))
            .role_arn(self.role_arn)
            .client_request_token(self.token());
        match request.send().await {
            Ok(out) => Ok(Progress {
                resource_ids: out
                    .stack_id
                    .map(|id| BTreeMap::from([("stackId".to_owned(), id)]))
                    .unwrap_or_default(),
                ..Progress::waiting(ComponentPhase::Creating)
            }),
            // Another step of this operation made it first: the next step looks at it.
            Err(e) if strata_component::aws::code(&e) == Some("AlreadyExistsException") => {
                Ok(Progress::waiting(ComponentPhase::Creating))
            }
            Err(e) => Err(classify(&format!("CreateStack {name}"), e)),
        }
    }

    /// Brings a settled stack to the spec: Ready as it is, or through this operation's
    /// change set.
    async fn converge(&self, stack: &Described) -> Result<Progress, ComponentError> {
        if !self.differs(stack).await? {
            return Ok(self.ready(stack));
        }
        let name = self.name();
        let set = self.token();
        let described = self
            .client
            .describe_change_set()
            .stack_name(&name)
            .change_set_name(&set)
            .send()
            .await;
        let change_set = match described {
            Ok(out) => out,
            Err(e) if strata_component::aws::code(&e) == Some("ChangeSetNotFound") => {
                self.create_change_set(&set, ChangeSetType::Update).await?;
                return Ok(self.waiting(ComponentPhase::Updating, stack));
            }
            Err(e) => return Err(classify(&format!("DescribeChangeSet {set}"), e)),
        };
        let reason = change_set.status_reason().unwrap_or_default();
        match (change_set.status(), change_set.execution_status()) {
            (Some(ChangeSetStatus::Failed), _) if empty_change_set(reason) => {
                let _ = self
                    .client
                    .delete_change_set()
                    .stack_name(&name)
                    .change_set_name(&set)
                    .send()
                    .await;
                Ok(self.ready(stack))
            }
            (Some(ChangeSetStatus::Failed), _) => Err(ComponentError::AwsRejected(format!(
                "change set {set} of stack {name} failed: {reason}"
            ))),
            (_, Some(ExecutionStatus::ExecuteComplete)) => Ok(self.ready(stack)),
            (_, Some(ExecutionStatus::ExecuteFailed)) => {
                Err(self.failed(stack, "could not be updated"))
            }
            (Some(ChangeSetStatus::CreateComplete), Some(ExecutionStatus::Available)) => {
                self.client
                    .execute_change_set()
                    .stack_name(&name)
                    .change_set_name(&set)
                    .client_request_token(&set)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("ExecuteChangeSet {set}"), e))?;
                Ok(self.waiting(ComponentPhase::Updating, stack))
            }
            (_, Some(ExecutionStatus::Obsolete | ExecutionStatus::Unavailable))
                if change_set.status() == Some(&ChangeSetStatus::CreateComplete) =>
            {
                Err(ComponentError::AwsRejected(format!(
                    "change set {set} of stack {name} cannot be executed ({:?}): {reason}",
                    change_set.execution_status()
                )))
            }
            // Still being made, or executing.
            _ => Ok(self.waiting(ComponentPhase::Updating, stack)),
        }
    }

    pub(crate) async fn create_change_set(
        &self,
        set: &str,
        kind: ChangeSetType,
    ) -> Result<(), ComponentError> {
        let name = self.name();
        self.client
            .create_change_set()
            .stack_name(&name)
            .change_set_name(set)
            .change_set_type(kind)
            .set_template_body(self.spec.template.clone())
            .set_template_url(self.spec.template_url.clone())
            .set_parameters(Some(self.parameters()))
            .set_tags(Some(self.tags()))
            .role_arn(self.role_arn)
            .client_token(set)
            .send()
            .await
            .map_err(|e| classify(&format!("CreateChangeSet {set} of {name}"), e))?;
        Ok(())
    }

    /// Whether the live stack's template or parameters differ from the spec. A template in
    /// S3 cannot be compared without reading it: AWS's change set decides (empty: no change).
    async fn differs(&self, stack: &Described) -> Result<bool, ComponentError> {
        let Some(wanted) = &self.spec.template else {
            return Ok(true);
        };
        let live: BTreeMap<&str, &str> = stack
            .parameters()
            .iter()
            .filter_map(|p| Some((p.parameter_key()?, p.parameter_value()?)))
            .collect();
        let parameter_changed = self.parameters.iter().any(|(k, v)| {
            live.get(k.as_str())
                .is_none_or(|live| *live != v && *live != "****")
        });
        if parameter_changed {
            return Ok(true);
        }
        let name = self.name();
        let template = self
            .client
            .get_template()
            .stack_name(&name)
            .template_stage(TemplateStage::Original)
            .send()
            .await
            .map_err(|e| classify(&format!("GetTemplate {name}"), e))?;
        Ok(template.template_body() != Some(wanted.as_str()))
    }

    fn ready(&self, stack: &Described) -> Progress {
        Progress {
            resource_ids: ids(stack),
            outputs: stack
                .outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                .collect(),
            ..Progress::finished(ComponentPhase::Ready)
        }
    }

    fn waiting(&self, phase: ComponentPhase, stack: &Described) -> Progress {
        Progress {
            resource_ids: ids(stack),
            ..Progress::waiting(phase)
        }
    }

    async fn delete(&self) -> Result<(), ComponentError> {
        let name = self.name();
        self.client
            .delete_stack()
            .stack_name(&name)
            .client_request_token(self.token())
            .send()
            .await
            .map_err(|e| classify(&format!("DeleteStack {name}"), e))?;
        Ok(())
    }

    pub async fn destroy(&self) -> Result<Progress, ComponentError> {
        let Some(stack) = self.describe().await? else {
            return Ok(Progress::finished(ComponentPhase::Deleted));
        };
        self.check_owner(&stack)?;
        match status_of(&stack) {
            "DELETE_FAILED" if self.during_this_operation(stack.deletion_time()) => {
                Err(self.failed(&stack, "could not be deleted"))
            }
            // Whatever AWS is doing ends first; DeleteStack during an update is refused.
            s if s.ends_with("_IN_PROGRESS") && s != "REVIEW_IN_PROGRESS" => {
                Ok(self.waiting(ComponentPhase::Deleting, &stack))
            }
            _ => {
                self.delete().await?;
                Ok(self.waiting(ComponentPhase::Deleting, &stack))
            }
        }
    }

    pub async fn observe(&self) -> Result<Observed, ComponentError> {
        let Some(stack) = self.describe().await? else {
            return Ok(Observed::Missing {
                resources: vec![self.name()],
            });
        };
        let name = self.name();
        let last = stack
            .drift_information()
            .and_then(|d| d.stack_drift_status().cloned());
        let observed = match last {
            Some(StackDriftStatus::InSync) => Observed::InSync,
            Some(StackDriftStatus::Drifted) => self.drifted_resources().await?,
            _ => Observed::Unchecked {
                reason: format!("stack {name}: no drift detection has finished yet"),
            },
        };
        // The next reading's: AWS allows one detection at a time per stack.
        match self
            .client
            .detect_stack_drift()
            .stack_name(&name)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if strata_component::aws::code(&e) == Some("ValidationError") => {}
            Err(e) => return Err(classify(&format!("DetectStackDrift {name}"), e)),
        }
        Ok(observed)
    }

    async fn drifted_resources(&self) -> Result<Observed, ComponentError> {
        let name = self.name();
        let out = self
            .client
            .describe_stack_resource_drifts()
            .stack_name(&name)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
            .send()
            .await
            .map_err(|e| classify(&format!("DescribeStackResourceDrifts {name}"), e))?;
        let mut missing = Vec::new();
        let mut fields = Vec::new();
        for drift in out.stack_resource_drifts() {
            let resource = drift.logical_resource_id().unwrap_or("?");
            if drift.stack_resource_drift_status() == Some(&StackResourceDriftStatus::Deleted) {
                missing.push(drift.physical_resource_id().unwrap_or(resource).to_owned());
                continue;
            }
            for difference in drift.property_differences() {
                fields.push(FieldDrift {
                    path: format!("{resource}{}", difference.property_path().unwrap_or("")),
                    expected: difference.expected_value().unwrap_or_default().to_owned(),
                    observed: difference.actual_value().unwrap_or_default().to_owned(),
                });
            }
        }
        Ok(Observed::from_findings(missing, fields))
    }
}

/// How long a plan waits for CloudFormation to work out a change set.
const PREVIEW_POLLS: u32 = 20;

/// What the plan shows for an in-place change of a standing stack: a change set made with
/// the new template and parameters (the stack's own role and tags), read, and deleted.
/// `None` when there is no stack by the name (it will be created).
pub async fn preview(
    client: &Client,
    name: &str,
    spec: &CloudFormationSpec,
    parameters: &BTreeMap<String, String>,
    set: &str,
) -> Result<Option<Vec<strata_core::custom::StackChange>>, ComponentError> {
    if describe(client, name).await?.is_none() {
        return Ok(None);
    }
    client
        .create_change_set()
        .stack_name(name)
        .change_set_name(set)
        .change_set_type(ChangeSetType::Update)
        .set_template_body(spec.template.clone())
        .set_template_url(spec.template_url.clone())
        .set_parameters(Some(self::parameters(parameters)))
        .send()
        .await
        .map_err(|e| classify(&format!("CreateChangeSet {set} of {name}"), e))?;
    let mut result = Err(ComponentError::AwsTransient(format!(
        "change set {set} of {name} was not ready in {PREVIEW_POLLS} s"
    )));
    for _ in 0..PREVIEW_POLLS {
        let described = client
            .describe_change_set()
            .stack_name(name)
            .change_set_name(set)
            .send()
            .await
            .map_err(|e| classify(&format!("DescribeChangeSet {set}"), e))?;
        let reason = described.status_reason().unwrap_or_default();
        match described.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                result = Ok(Some(
                    described
                        .changes()
                        .iter()
                        .filter_map(|c| c.resource_change())
                        .map(|c| strata_core::custom::StackChange {
                            logical_id: c.logical_resource_id().unwrap_or_default().to_owned(),
                            resource_type: c.resource_type().unwrap_or_default().to_owned(),
                            action: c.action().map_or("", |a| a.as_str()).to_owned(),
                            replacement: c.replacement().map(|r| r.as_str().to_owned()),
                        })
                        .collect(),
                ));
                break;
            }
            Some(ChangeSetStatus::Failed) if empty_change_set(reason) => {
                result = Ok(Some(Vec::new()));
                break;
            }
            Some(ChangeSetStatus::Failed) => {
                result = Err(ComponentError::AwsRejected(format!(
                    "change set {set} of {name} failed: {reason}"
                )));
                break;
            }
            _ => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        }
    }
    // A plan leaves nothing behind, whatever it found.
    let _ = client
        .delete_change_set()
        .stack_name(name)
        .change_set_name(set)
        .send()
        .await;
    result
}

/// The stack by name, or None when there is none (deleted stacks are not found by name).
async fn describe(client: &Client, name: &str) -> Result<Option<Described>, ComponentError> {
    match client.describe_stacks().stack_name(name).send().await {
        Ok(out) => Ok(out.stacks.unwrap_or_default().into_iter().next()),
        Err(e)
            if strata_component::aws::code(&e) == Some("ValidationError")
                && e.as_service_error()
                    .and_then(|s| s.meta().message())
                    .is_some_and(|m| m.contains("does not exist")) =>
        {
            Ok(None)
        }
        Err(e) => Err(classify(&format!("DescribeStacks {name}"), e)),
    }
}

/// The inputs as CloudFormation parameters.
fn parameters(inputs: &BTreeMap<String, String>) -> Vec<Parameter> {
    inputs
        .iter()
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        })
        .collect()
}

fn status_of(stack: &Described) -> &str {
    stack.stack_status().map_or("", |s| s.as_str())
}

fn phase_of(status: &str) -> ComponentPhase {
    if status.starts_with("DELETE") {
        ComponentPhase::Deleting
    } else if status.starts_with("CREATE") || status.starts_with("ROLLBACK") {
        ComponentPhase::Creating
    } else {
        ComponentPhase::Updating
    }
}

fn ids(stack: &Described) -> BTreeMap<String, String> {
    stack
        .stack_id()
        .map(|id| BTreeMap::from([("stackId".to_owned(), id.to_owned())]))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
