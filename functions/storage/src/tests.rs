//! The storage handler with scripted S3 responses: the paths moto cannot produce on demand.

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::create_bucket::CreateBucketOutput;
use aws_sdk_s3::operation::delete_bucket::DeleteBucketOutput;
use aws_sdk_s3::operation::delete_objects::DeleteObjectsOutput;
use aws_sdk_s3::operation::get_bucket_tagging::GetBucketTaggingOutput;
use aws_sdk_s3::operation::head_bucket::HeadBucketOutput;
use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
use aws_sdk_s3::operation::put_bucket_encryption::PutBucketEncryptionOutput;
use aws_sdk_s3::operation::put_bucket_tagging::PutBucketTaggingOutput;
use aws_sdk_s3::operation::put_bucket_versioning::PutBucketVersioningOutput;
use aws_sdk_s3::operation::put_public_access_block::PutPublicAccessBlockOutput;
use aws_sdk_s3::types::{ObjectVersion, Tag};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use strata_component::ComponentError;
use strata_core::spec::StorageOnDelete;
use strata_core::status::ComponentPhase;
use strata_core::{Environment, OperationKind};

use super::*;
use strata_component::testing::{CONTROL_PLANE, Fixed, context, owner, owner_with, quick_retries};
use strata_testkit::{Staging, staging};

async fn step_with(
    rules: &[&Rule],
    env: &Environment,
    destroy: bool,
) -> Result<strata_component::Progress, ComponentError> {
    step_emptying(rules, env, destroy, Emptying::default()).await
}

async fn step_emptying(
    rules: &[&Rule],
    env: &Environment,
    destroy: bool,
    emptying: Emptying,
) -> Result<strata_component::Progress, ComponentError> {
    let quick = |c: aws_sdk_s3::config::Builder| c.retry_config(quick_retries());
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, rules, quick);
    let storage = Storage {
        clients: Fixed(client),
        emptying,
    };
    let context = context(OperationKind::Up, 1, 0);
    let dependencies = BTreeMap::new();
    strata_component::testing::step(&storage, env, &context, None, &dependencies, destroy).await
}

/// Staging with `onDelete: delete` for its buckets.
fn deleting_buckets() -> Environment {
    Staging::new()
        .storage_on_delete(StorageOnDelete::Delete)
        .build()
}

/// HeadBucket finding no bucket, every time.
fn no_bucket() -> Rule {
    mock!(Client::head_bucket)
        .sequence()
        .http_status(404, None)
        .repeatedly()
        .build()
}

/// HeadBucket finding the bucket.
fn bucket_found() -> Rule {
    mock!(Client::head_bucket).then_output(|| HeadBucketOutput::builder().build())
}

/// DeleteObjects, accepted.
fn objects_deleted() -> Rule {
    mock!(Client::delete_objects).then_output(|| DeleteObjectsOutput::builder().build())
}

/// DeleteBucket, accepted.
fn bucket_deleted() -> Rule {
    mock!(Client::delete_bucket).then_output(|| DeleteBucketOutput::builder().build())
}

/// ListObjectVersions answering a page with version `a`, then one with `b` (truncated
/// after it or not), then empty pages.
fn version_pages(truncated_after_b: bool) -> Rule {
    let version = |key: &str| ObjectVersion::builder().key(key).version_id("v1").build();
    let page = move |key: &'static str, truncated: bool| {
        let mut page = ListObjectVersionsOutput::builder()
            .versions(version(key))
            .is_truncated(truncated);
        if truncated {
            page = page.next_key_marker(key).next_version_id_marker("v1");
        }
        page.build()
    };
    mock!(Client::list_object_versions)
        .sequence()
        .output(move || page("a", true))
        .output(move || page("b", truncated_after_b))
        .output(|| ListObjectVersionsOutput::builder().build())
        .repeatedly()
        .build()
}

fn owned_tags() -> GetBucketTaggingOutput {
    GetBucketTaggingOutput::builder()
        .set_tag_set(Some(
            owner("staging")
                .tags(Component::Storage)
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap())
                .collect(),
        ))
        .build()
        .unwrap()
}

fn configuration_rules() -> [Rule; 4] {
    [
        mock!(Client::put_bucket_tagging).then_output(|| PutBucketTaggingOutput::builder().build()),
        mock!(Client::put_bucket_encryption)
            .then_output(|| PutBucketEncryptionOutput::builder().build()),
        mock!(Client::put_public_access_block)
            .then_output(|| PutPublicAccessBlockOutput::builder().build()),
        mock!(Client::put_bucket_versioning)
            .then_output(|| PutBucketVersioningOutput::builder().build()),
    ]
}

/// An apply of staging, HeadBucket and CreateBucket answered by `head` and `create`, every
/// configuration call accepted: the step, and the configuration calls' rules.
async fn configured(head: &Rule, create: &Rule) -> (strata_component::Progress, [Rule; 4]) {
    let configuration = configuration_rules();
    let [tagging, encryption, block, versioning] = &configuration;
    let rules = [head, create, tagging, encryption, block, versioning];
    let progress = step_with(&rules, &staging(), false).await.unwrap();
    (progress, configuration)
}

#[tokio::test]
async fn absent_buckets_are_created_configured_and_reported() {
    let head = no_bucket();
    let create = mock!(Client::create_bucket)
        .match_requests(|r| {
            r.bucket().is_some_and(|b| b.starts_with("strata-staging-"))
                && r.create_bucket_configuration()
                    .and_then(|c| c.location_constraint())
                    .is_some_and(|l| l.as_str() == "eu-west-1")
        })
        .then_output(|| CreateBucketOutput::builder().build());
    let (progress, [tagging, encryption, block, versioning]) = configured(&head, &create).await;
    assert!(progress.done);
    assert_eq!(progress.phase, Some(ComponentPhase::Ready));
    assert_eq!(progress.outputs["bucket.assets"], "strata-staging-assets");
    assert_eq!(
        progress.resource_ids["bucket.uploads"],
        "strata-staging-uploads"
    );
    assert_eq!(create.num_calls(), 2);
    for rule in [&tagging, &encryption, &block, &versioning] {
        assert_eq!(rule.num_calls(), 2);
    }
}

#[tokio::test]
async fn a_same_named_bucket_without_our_tags_is_never_touched() {
    let head = bucket_found();
    let foreign = mock!(Client::get_bucket_tagging).then_output(|| {
        GetBucketTaggingOutput::builder()
            .set_tag_set(Some(vec![
                Tag::builder().key("team").value("other").build().unwrap(),
            ]))
            .build()
            .unwrap()
    });
    let delete = bucket_deleted();
    let [tagging, encryption, block, versioning] = configuration_rules();
    let rules = [
        &head,
        &foreign,
        &delete,
        &tagging,
        &encryption,
        &block,
        &versioning,
    ];

    let err = step_with(&rules, &staging(), false).await.unwrap_err();
    assert_eq!(err.name(), "ResourceNotOwned");
    assert!(err.to_string().contains("strata-staging-assets"), "{err}");

    let deleting = deleting_buckets();
    let err = step_with(&rules, &deleting, true).await.unwrap_err();
    assert_eq!(err.name(), "ResourceNotOwned");
    for rule in [&delete, &tagging, &encryption, &block, &versioning] {
        assert_eq!(rule.num_calls(), 0, "a foreign bucket was modified");
    }
}

#[tokio::test]
async fn delete_empties_every_version_page_then_deletes_the_bucket() {
    let head = bucket_found();
    let tagging = mock!(Client::get_bucket_tagging).then_output(owned_tags);
    let pages = version_pages(false);
    let delete_objects = objects_deleted();
    let delete = bucket_deleted();
    let env = deleting_buckets();
    let progress = step_with(
        &[&head, &tagging, &pages, &delete_objects, &delete],
        &env,
        true,
    )
    .await
    .unwrap();
    assert_eq!(progress.phase, Some(ComponentPhase::Deleted));
    // Two pages of the first bucket, one empty page of the second.
    assert_eq!(pages.num_calls(), 3);
    assert_eq!(delete_objects.num_calls(), 2);
    assert_eq!(delete.num_calls(), 2);
}

#[tokio::test]
async fn retain_keeps_buckets_and_gone_buckets_are_already_deleted() {
    let head = bucket_found();
    let tagging = mock!(Client::get_bucket_tagging).then_output(owned_tags);
    let delete = bucket_deleted();
    let progress = step_with(&[&head, &tagging, &delete], &staging(), true)
        .await
        .unwrap();
    assert_eq!(progress.phase, Some(ComponentPhase::Retained));
    assert_eq!(delete.num_calls(), 0);

    let gone = no_bucket();
    let env = deleting_buckets();
    let progress = step_with(&[&gone, &delete], &env, true).await.unwrap();
    assert_eq!(progress.phase, Some(ComponentPhase::Deleted));
    assert_eq!(delete.num_calls(), 0);
}

#[tokio::test]
async fn slow_down_is_retried_and_a_persistent_5xx_is_transient() {
    let head = no_bucket();
    let slow = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"#;
    let create = mock!(Client::create_bucket)
        .sequence()
        .http_status(503, Some(slow.to_owned()))
        .times(2)
        .output(|| CreateBucketOutput::builder().build())
        .repeatedly()
        .build();
    let (progress, _) = configured(&head, &create).await;
    assert!(progress.done);
    assert_eq!(create.num_calls(), 4, "two throttled, then one per bucket");

    let failing = mock!(Client::create_bucket)
        .sequence()
        .http_status(503, Some(slow.to_owned()))
        .repeatedly()
        .build();
    let err = step_with(&[&head, &failing], &staging(), false)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "AwsTransient", "{err}");
}

#[test]
fn removed_tags_are_put_back_only_on_a_bucket_we_recorded_and_nobody_else_claims() {
    let partial = BTreeMap::from([("strata:environment".to_owned(), "staging".to_owned())]);
    assert!(check_restorable("b", &partial, &owner("staging"), true).is_ok());
    assert!(check_restorable("b", &BTreeMap::new(), &owner("staging"), true).is_ok());
    let err = check_restorable("b", &partial, &owner("staging"), false).unwrap_err();
    assert_eq!(err.name(), "ResourceNotOwned", "not recorded: not ours");
    let claimed = BTreeMap::from([("strata:environment".to_owned(), "prod".to_owned())]);
    let err = check_restorable("b", &claimed, &owner("staging"), true).unwrap_err();
    assert_eq!(err.name(), "ResourceNotOwned", "another environment's tag");
}

#[test]
fn a_bucket_of_another_control_plane_or_an_earlier_incarnation_is_refused_even_if_recorded() {
    let tagged = |owner: &strata_core::tags::Owner| -> BTreeMap<String, String> {
        owner
            .tags(Component::Storage)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    };
    let ours = owner("staging");
    assert!(check_restorable("b", &tagged(&ours), &ours, true).is_ok());
    let earlier = owner_with("staging", CONTROL_PLANE, "staging-incarnation-0");
    let err = check_restorable("b", &tagged(&earlier), &ours, true).unwrap_err();
    assert_eq!(err.name(), "ResourceNotOwned", "{err}");
    assert!(err.to_string().contains("another incarnation"), "{err}");
    let other_stack = owner_with(
        "staging",
        "arn:aws:cloudformation:us-east-1:123456789012:stack/b/1",
        "x",
    );
    let err = check_restorable("b", &tagged(&other_stack), &ours, true).unwrap_err();
    assert!(err.to_string().contains("another control plane"), "{err}");
    // Made before incarnations (the three tags only): still this environment's.
    let legacy: BTreeMap<String, String> = tags::base("staging", Component::Storage)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    assert!(check_restorable("b", &legacy, &ours, false).is_ok());
}

#[tokio::test]
async fn a_bucket_too_big_for_one_step_is_emptied_over_several_then_deleted() {
    let head = bucket_found();
    let tagging = mock!(Client::get_bucket_tagging).then_output(owned_tags);
    // Each listing starts over; what an earlier page deleted is no longer listed.
    let pages = version_pages(true);
    let delete_objects = objects_deleted();
    let delete = bucket_deleted();
    let env = Staging::new()
        .storage_on_delete(StorageOnDelete::Delete)
        .with(|env| env.spec.storage.as_mut().unwrap().buckets.truncate(1))
        .build();
    let one_page = Emptying {
        page_size: 1,
        pages: 1,
        seconds: 60,
    };
    let rules: [&Rule; 5] = [&head, &tagging, &pages, &delete_objects, &delete];
    let mut steps = Vec::new();
    loop {
        let progress = step_emptying(&rules, &env, true, one_page).await.unwrap();
        steps.push(progress.phase);
        if progress.done {
            break;
        }
        assert!(steps.len() < 5, "never finished: {steps:?}");
    }
    // Two steps each empty a page and hand back; the third finds it empty and deletes it.
    assert_eq!(
        steps,
        [
            Some(ComponentPhase::Deleting),
            Some(ComponentPhase::Deleting),
            Some(ComponentPhase::Deleted)
        ]
    );
    assert_eq!(delete_objects.num_calls(), 2);
    assert_eq!(delete.num_calls(), 1);
}
