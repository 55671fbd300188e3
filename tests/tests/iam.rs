//! IAM evaluated as AWS evaluates it, end to end: every call `up` and `down` make is decided
//! on its action, the resource ARN it names and the condition keys of the template's
//! statements; a Resource or a tag condition narrowed so that it excludes Strata's own
//! resource fails `up` naming the action and the ARN.

use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::json;
use strata_core::{Component, ComponentStatus};
use strata_store::prelude::*;
use strata_testkit::Staging;
use strata_testkit::local_stack::{self, Started};

/// The calls the local stack may leave unevaluated, each with why (kept in step with
/// ../shared/LOCAL-STACK-FACTS.md, "IAM evaluation"). Empty: every call is decided.
const JUSTIFIED: &[(&str, &str)] = &[];

async fn stored(started: &Started, name: &str) {
    let env = Staging::new().side_by_side(name).build();
    started.stand_in_and_store(&env, 1).await;
}

/// The local stack with `function`'s statement allowing `action` changed by `change` (the
/// statement must exist).
async fn narrowed(
    function: &str,
    action: &str,
    change: impl FnMut(&mut strata_localstack::policy::Statement),
) -> Started {
    let started = local_stack::start().await;
    assert!(started.stack.amend_policy(function, action, change));
    started
}

/// `up` of the example stored as `name`, which must fail at `component`: the error it
/// recorded there.
async fn failed_up_at(started: &Started, name: &str, component: Component) -> String {
    let (operations, sfn) = started.operations();
    stored(started, name).await;
    let up = started.run(&operations, &sfn, name, false, "test").await;
    assert_eq!(up.status, ExecutionStatus::Failed, "{:?}", up.cause);
    let status: ComponentStatus = started
        .store
        .get_component(name, component)
        .await
        .unwrap()
        .unwrap()
        .value;
    status
        .last_error
        .unwrap_or_else(|| panic!("the {component:?} step recorded no error"))
        .cause
}

#[tokio::test]
async fn every_call_of_up_and_down_is_decided_on_its_resources_and_conditions() {
    let started = local_stack::start().await;
    let (operations, sfn) = started.operations();
    stored(&started, "iam-all").await;
    let up = started
        .run(&operations, &sfn, "iam-all", false, "test")
        .await;
    assert_eq!(up.status, ExecutionStatus::Succeeded, "{:?}", up.cause);
    let down = started
        .run(&operations, &sfn, "iam-all", true, "test")
        .await;
    assert_eq!(down.status, ExecutionStatus::Succeeded, "{:?}", down.cause);

    let report = started.stack.iam_report();
    println!("IAM evaluation: {} calls decided", report.evaluated);
    println!("could not evaluate ({}):", report.unevaluated.len());
    for (call, why) in &report.unevaluated {
        println!("  {call}: {why}");
    }
    // up and down of the example make well over a hundred calls; each was decided.
    assert!(report.evaluated > 100, "{}", report.evaluated);
    let unjustified: Vec<&String> = report
        .unevaluated
        .keys()
        .filter(|call| !JUSTIFIED.iter().any(|(j, _)| j == call))
        .collect();
    assert!(unjustified.is_empty(), "{unjustified:#?}");
}

/// The storage step's buckets narrowed to another prefix: `up` fails at storage with AWS's
/// AccessDenied naming `s3:CreateBucket` and the bucket's ARN, and makes no bucket.
#[tokio::test]
async fn a_narrowed_resource_fails_up_naming_the_action_and_the_arn() {
    let started = narrowed("StorageFunction", "s3:CreateBucket", |statement| {
        statement.resources = vec![
            "arn:aws:s3:::elsewhere-*".into(),
            "arn:aws:s3:::elsewhere-*/*".into(),
        ];
    })
    .await;
    let error = failed_up_at(&started, "iam-bucket", Component::Storage).await;
    assert!(
        error.contains("s3:CreateBucket")
            && error.contains("on resource: arn:aws:s3:::strata-iam-bucket"),
        "{error}"
    );
    let s3 = local_stack::s3(&started.stack.sdk_config());
    let buckets = s3.list_buckets().send().await.unwrap();
    let made: Vec<_> = buckets
        .buckets()
        .iter()
        .filter_map(|b| b.name())
        .filter(|name| name.starts_with("strata-iam-bucket"))
        .collect();
    assert!(made.is_empty(), "{made:?}");
}

/// The network step's creates allowed only with another owner's tag: `up` fails at the
/// network naming `ec2:CreateVpc` and the VPC's ARN, and makes no VPC.
#[tokio::test]
async fn a_narrowed_tag_condition_fails_up_naming_the_action_and_the_arn() {
    let started = narrowed("NetworkFunction", "ec2:CreateVpc", |statement| {
        statement.condition = Some(json!({
            "StringEquals": {"aws:RequestTag/strata:managed-by": "another-team"}
        }));
    })
    .await;
    let error = failed_up_at(&started, "iam-tag", Component::Network).await;
    assert!(
        error.contains("ec2:CreateVpc")
            && error.contains(":123456789012:vpc/* because no identity-based policy allows"),
        "{error}"
    );
    let ec2 = aws_sdk_ec2::Client::new(&started.regional("eu-west-1"));
    let vpcs = ec2
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:strata:environment")
                .values("iam-tag")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(vpcs.vpcs().is_empty(), "{:?}", vpcs.vpcs());
}
