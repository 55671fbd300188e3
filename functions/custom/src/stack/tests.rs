//! The stack kind against scripted CloudFormation answers: what is created, when a change
//! set is made and executed, what is refused, and what a failure earlier or now leads to.

use aws_sdk_cloudformation::error::ErrorMetadata;
use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
use aws_sdk_cloudformation::operation::create_stack::CreateStackOutput;
use aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput;
use aws_sdk_cloudformation::operation::describe_change_set::{
    DescribeChangeSetError, DescribeChangeSetOutput,
};
use aws_sdk_cloudformation::operation::describe_stacks::{
    DescribeStacksError, DescribeStacksOutput,
};
use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
use aws_sdk_cloudformation::operation::get_template::GetTemplateOutput;
use aws_sdk_cloudformation::primitives::DateTime;
use aws_sdk_cloudformation::types::{Output, StackStatus};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use strata_component::testing::{context, owner};
use strata_core::custom::{CloudFormationSpec, CustomComponentSpec, Input};
use strata_core::{OperationContext, OperationKind};
use strata_testkit::staging;

use super::*;

const TEMPLATE: &str =
    "Parameters: {Retention: {Type: Number}}\nResources: {Queue: {Type: AWS::SQS::Queue}}\n";
const ROLE: &str = "arn:aws:iam::123456789012:role/strata-custom-stacks";
const STACK_ID: &str = "arn:aws:cloudformation:eu-west-1:123456789012:stack/strata-staging-jobs/1";
/// The operation's start in the scripted context.
const STARTED: u64 = 1_800_000_000;

fn jobs() -> Component {
    Component::parse("jobs").unwrap()
}

fn spec() -> CustomComponentSpec {
    CustomComponentSpec {
        name: "jobs".into(),
        depends_on: vec![],
        inputs: [(
            "Retention".to_owned(),
            Input {
                value: Some("60".into()),
                from_output: None,
            },
        )]
        .into(),
        cloud_formation: Some(CloudFormationSpec {
            template: Some(TEMPLATE.into()),
            template_url: None,
        }),
        lambda: None,
    }
}

/// A stack as DescribeStacks answers it, with this environment's tags unless `tags` differ.
fn stack(status: StackStatus, retention: &str, tags: &[(&str, String)]) -> Described {
    let mut b = Described::builder()
        .stack_name("strata-staging-jobs")
        .stack_id(STACK_ID)
        .stack_status(status)
        .creation_time(DateTime::from_secs(STARTED as i64 - 600))
        .parameters(
            Parameter::builder()
                .parameter_key("Retention")
                .parameter_value(retention)
                .build(),
        )
        .outputs(
            Output::builder()
                .output_key("QueueUrl")
                .output_value("https://sqs.eu-west-1.amazonaws.com/1/q")
                .build(),
        );
    for (k, v) in tags {
        b = b.tags(Tag::builder().key(*k).value(v).build());
    }
    b.build()
}

fn ours() -> Vec<(&'static str, String)> {
    owner("staging").tags(jobs())
}

fn described(stack: Described) -> Rule {
    mock!(Client::describe_stacks).then_output(move || {
        DescribeStacksOutput::builder()
            .stacks(stack.clone())
            .build()
    })
}

fn no_stack() -> Rule {
    mock!(Client::describe_stacks).then_error(|| {
        DescribeStacksError::generic(
            ErrorMetadata::builder()
                .code("ValidationError")
                .message("Stack with id strata-staging-jobs does not exist")
                .build(),
        )
    })
}

fn template(body: &'static str) -> Rule {
    mock!(Client::get_template)
        .then_output(move || GetTemplateOutput::builder().template_body(body).build())
}

async fn run(rules: &[&Rule], destroy: bool, role: bool) -> Result<Progress, ComponentError> {
    let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, rules);
    let mut env = staging();
    env.spec.components.push(spec());
    let context: OperationContext = context(OperationKind::Up, 3, STARTED);
    let owner = owner("staging");
    let dependencies = BTreeMap::new();
    let step = Step {
        environment: &env,
        context: &context,
        previous: None,
        dependencies: &dependencies,
        owner: &owner,
    };
    let binding = spec();
    let stack = Stack {
        client,
        step: &step,
        component: jobs(),
        spec: binding.cloud_formation.as_ref().unwrap(),
        parameters: [("Retention".to_owned(), "60".to_owned())].into(),
        role_arn: if role { ROLE } else { "" },
    };
    if destroy {
        stack.destroy().await
    } else {
        stack.apply().await
    }
}

#[tokio::test]
async fn a_missing_stack_is_created_with_the_inputs_the_tags_and_the_role() {
    let missing = no_stack();
    let create = mock!(Client::create_stack)
        .match_requests(|r| {
            r.stack_name() == Some("strata-staging-jobs")
                && r.template_body() == Some(TEMPLATE)
                && r.role_arn() == Some(ROLE)
                && r.client_request_token() == Some("strata-up-staging-3")
                && r.parameters()[0].parameter_key() == Some("Retention")
                && r.parameters()[0].parameter_value() == Some("60")
                && r.tags()
                    .iter()
                    .any(|t| t.key() == Some("strata:component") && t.value() == Some("jobs"))
        })
        .then_output(|| CreateStackOutput::builder().stack_id(STACK_ID).build());
    let progress = run(&[&missing, &create], false, true).await.unwrap();
    assert_eq!(create.num_calls(), 1, "the create was as expected");
    assert!(!progress.done);
    assert_eq!(progress.phase, Some(ComponentPhase::Creating));
    assert_eq!(progress.resource_ids["stackId"], STACK_ID);
}

#[tokio::test]
async fn a_stack_as_the_spec_says_is_ready_with_its_outputs_and_no_change_set() {
    let same = described(stack(StackStatus::CreateComplete, "60", &ours()));
    let body = template(TEMPLATE);
    let progress = run(&[&same, &body], false, true).await.unwrap();
    assert!(progress.done);
    assert_eq!(progress.phase, Some(ComponentPhase::Ready));
    assert_eq!(
        progress.outputs["QueueUrl"],
        "https://sqs.eu-west-1.amazonaws.com/1/q"
    );
    assert_eq!(body.num_calls(), 1);
}

#[tokio::test]
async fn a_changed_input_goes_through_the_operations_change_set_made_then_executed() {
    let old = described(stack(StackStatus::CreateComplete, "30", &ours()));
    let none = mock!(Client::describe_change_set).then_error(|| {
        DescribeChangeSetError::generic(ErrorMetadata::builder().code("ChangeSetNotFound").build())
    });
    let create = mock!(Client::create_change_set)
        .match_requests(|r| {
            r.change_set_name() == Some("strata-up-staging-3")
                && r.change_set_type() == Some(&ChangeSetType::Update)
                && r.role_arn() == Some(ROLE)
        })
        .then_output(|| CreateChangeSetOutput::builder().build());
    let progress = run(&[&old, &none, &create], false, true).await.unwrap();
    assert_eq!(create.num_calls(), 1);
    assert_eq!(progress.phase, Some(ComponentPhase::Updating));

    let ready = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .execution_status(ExecutionStatus::Available)
            .build()
    });
    let execute = mock!(Client::execute_change_set)
        .match_requests(|r| r.change_set_name() == Some("strata-up-staging-3"))
        .then_output(|| ExecuteChangeSetOutput::builder().build());
    let progress = run(&[&old, &ready, &execute], false, true).await.unwrap();
    assert_eq!(execute.num_calls(), 1);
    assert!(!progress.done);

    // AWS found nothing to change (a template in S3, say): the step ends.
    let empty = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::Failed)
            .status_reason("The submitted information didn't contain changes. Submit different information to create a change set.")
            .build()
    });
    let tidy = mock!(Client::delete_change_set).then_output(|| {
        aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput::builder()
            .build()
    });
    let progress = run(&[&old, &empty, &tidy], false, true).await.unwrap();
    assert!(progress.done);
    assert_eq!(
        tidy.num_calls(),
        1,
        "the empty change set is not left behind"
    );
}

#[tokio::test]
async fn a_stack_by_the_name_that_is_not_ours_is_neither_changed_nor_deleted() {
    let theirs = described(stack(
        StackStatus::CreateComplete,
        "30",
        &owner("other").tags(jobs()),
    ));
    for destroy in [false, true] {
        let error = run(&[&theirs], destroy, true).await.unwrap_err();
        assert_eq!(error.name(), "ResourceNotOwned", "{error}");
        assert!(error.to_string().starts_with("stack strata-staging-jobs is not staging's jobs: its tag strata:environment is \"other\""), "{error}");
    }
}

#[tokio::test]
async fn a_create_that_failed_now_fails_the_step_and_one_failed_before_is_tried_again() {
    let mut failed = stack(StackStatus::RollbackComplete, "60", &ours());
    failed.creation_time = Some(DateTime::from_secs(STARTED as i64 + 5));
    failed.stack_status_reason = Some("Resource Queue failed: AccessDenied".into());
    let now = described(failed.clone());
    let error = run(&[&now], false, true).await.unwrap_err();
    assert_eq!(error.name(), "AwsRejected");
    assert_eq!(
        error.to_string(),
        "stack strata-staging-jobs could not be created (ROLLBACK_COMPLETE): Resource Queue failed: AccessDenied"
    );

    failed.creation_time = Some(DateTime::from_secs(STARTED as i64 - 5));
    let before = described(failed);
    let delete = mock!(Client::delete_stack).then_output(|| DeleteStackOutput::builder().build());
    let progress = run(&[&before, &delete], false, true).await.unwrap();
    assert_eq!(delete.num_calls(), 1);
    assert_eq!(progress.phase, Some(ComponentPhase::Creating));
}

#[tokio::test]
async fn destroy_deletes_the_stack_until_it_is_gone() {
    let standing = described(stack(StackStatus::UpdateComplete, "60", &ours()));
    let delete = mock!(Client::delete_stack)
        .match_requests(|r| r.stack_name() == Some("strata-staging-jobs"))
        .then_output(|| DeleteStackOutput::builder().build());
    let progress = run(&[&standing, &delete], true, true).await.unwrap();
    assert_eq!(delete.num_calls(), 1);
    assert_eq!(progress.phase, Some(ComponentPhase::Deleting));

    let deleting = described(stack(StackStatus::DeleteInProgress, "60", &ours()));
    let progress = run(&[&deleting, &delete], true, true).await.unwrap();
    assert_eq!(delete.num_calls(), 1, "no second delete while AWS deletes");
    assert!(!progress.done);

    let gone = no_stack();
    let progress = run(&[&gone], true, true).await.unwrap();
    assert!(progress.done);
    assert_eq!(progress.phase, Some(ComponentPhase::Deleted));
}

#[test]
fn operation_tokens_are_names_aws_accepts() {
    let token = operation_token("strata", "up:staging/3_x");
    assert_eq!(token, "strata-up-staging-3-x");
    assert_eq!(operation_token("strata", &"a".repeat(300)).len(), 128);
}
