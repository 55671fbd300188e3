//! Ownership that survives two control planes and a reused name, end to end on the local
//! stack: the real state machines and Lambda binaries, started through `strata-control` as
//! the API starts them.

use std::collections::BTreeMap;

use strata_control::{Operations, SfnFlows};
use strata_core::spec::StorageOnDelete;
use strata_core::status::Incarnation;
use strata_core::{Component, Environment, EnvironmentState, tags};
use strata_store::{DynamoStore, prelude::*};

use strata_testkit::Staging;
use strata_testkit::local_stack;

struct Stack {
    started: local_stack::Started,
    operations: Operations<DynamoStore, SfnFlows>,
    sfn: aws_sdk_sfn::Client,
    ec2: aws_sdk_ec2::Client,
    s3: aws_sdk_s3::Client,
}

async fn stack() -> Stack {
    let started = local_stack::start().await;
    let (operations, sfn) = started.operations_polling(0);
    let regional = started.regional("eu-west-1");
    Stack {
        operations,
        sfn,
        ec2: aws_sdk_ec2::Client::new(&regional),
        s3: aws_sdk_s3::Client::new(&regional),
        started,
    }
}

use strata_testkit::now;

impl Stack {
    fn store(&self) -> &DynamoStore {
        &self.started.store
    }

    async fn store_spec(&self, env: &Environment) {
        self.started.stack.stand_in_for(env).await.unwrap();
        let stored = self.store().get_spec(env.name()).await.unwrap();
        self.store()
            .put_spec(env, stored.as_ref(), now())
            .await
            .unwrap();
    }

    /// Runs `up` (or `down`) as the API would and answers how the execution ended.
    async fn run(&self, name: &str, down: bool) -> String {
        let ended = self
            .started
            .run(&self.operations, &self.sfn, name, down, "tester")
            .await;
        format!(
            "{} {}",
            ended.status.as_str(),
            ended.cause.unwrap_or_default()
        )
    }

    async fn status(&self, name: &str) -> strata_core::EnvironmentStatus {
        self.started.status(name).await
    }

    /// The tags of each VPC tagged for the environment.
    async fn vpc_tags(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        let vpcs = self
            .ec2
            .describe_vpcs()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name(format!("tag:{}", tags::ENVIRONMENT))
                    .values(name)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        vpcs.vpcs()
            .iter()
            .map(|vpc| {
                vpc.tags()
                    .iter()
                    .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
                    .collect()
            })
            .collect()
    }

    /// The tags of the environment's one VPC.
    async fn the_vpc_tags(&self, name: &str) -> BTreeMap<String, String> {
        let mut found = self.vpc_tags(name).await;
        assert_eq!(found.len(), 1, "{name}: one VPC expected, found {found:?}");
        found.remove(0)
    }

    async fn bucket_tags(&self, bucket: &str) -> BTreeMap<String, String> {
        let out = self
            .s3
            .get_bucket_tagging()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        out.tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect()
    }
}

fn carries(tags: &BTreeMap<String, String>, incarnation: &Incarnation) -> bool {
    tags.get(tags::CONTROL_PLANE) == Some(&incarnation.control_plane)
        && tags.get(tags::ENVIRONMENT_ID) == Some(&incarnation.id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_same_named_bucket_of_another_control_plane_fails_up_and_keeps_its_tags() {
    let s = stack().await;
    let env = strata_testkit::example_as("twin");
    s.store_spec(&env).await;
    // Another Strata stack in the account runs an environment of the same name.
    let bucket = "strata-twin-uploads";
    local_stack::create_bucket(&s.s3, bucket).await;
    let theirs = tags::Owner::new(
        "twin",
        Some(&Incarnation {
            control_plane: "arn:aws:cloudformation:eu-west-1:123456789012:stack/other/1".into(),
            id: "theirs".into(),
            since: 1,
        }),
    )
    .tags(Component::Storage);
    local_stack::put_bucket_tags(&s.s3, bucket, theirs).await;
    let before = s.bucket_tags(bucket).await;

    let ended = s.run("twin", false).await;
    assert!(ended.starts_with("FAILED"), "{ended}");
    let status = s.status("twin").await;
    assert_eq!(status.state, EnvironmentState::Failed);
    assert!(
        status.message.contains("another control plane"),
        "{}",
        status.message
    );
    let storage = &status.components[&Component::Storage];
    assert_eq!(
        storage.last_error.as_ref().unwrap().error,
        "ResourceNotOwned"
    );
    assert_eq!(
        s.bucket_tags(bucket).await,
        before,
        "their bucket was retagged"
    );
    // Whatever of ours the up made carries our incarnation (the failing storage branch
    // may stop the network step before it made the VPC).
    let ours = status.incarnation.expect("the up minted the incarnation");
    for tags in s.vpc_tags("twin").await {
        assert!(carries(&tags, &ours), "{tags:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_deleted_and_applied_again_is_a_new_incarnation_restored_from_its_recorded_snapshot()
{
    let s = stack().await;
    let mut env = Staging::new()
        .side_by_side("reborn")
        .storage_on_delete(StorageOnDelete::Delete)
        .build();
    s.store_spec(&env).await;

    let ended = s.run("reborn", false).await;
    assert!(ended.starts_with("SUCCEEDED"), "{ended}");
    let first = s.status("reborn").await.incarnation.unwrap();
    assert!(
        first.control_plane.starts_with("arn:aws:cloudformation:"),
        "{first:?}"
    );
    assert!(carries(&s.the_vpc_tags("reborn").await, &first));
    assert!(carries(
        &s.bucket_tags("strata-reborn-uploads").await,
        &first
    ));

    let ended = s.run("reborn", true).await;
    assert!(ended.starts_with("SUCCEEDED"), "{ended}");
    let deleted = s.status("reborn").await;
    assert_eq!(deleted.state, EnvironmentState::Deleted);
    let snapshot = deleted.components[&Component::Database].outputs["finalSnapshotId"].clone();

    let ended = s.run("reborn", false).await;
    assert!(ended.starts_with("SUCCEEDED"), "{ended}");
    let status = s.status("reborn").await;
    assert_eq!(status.state, EnvironmentState::Ready, "{}", status.message);
    let second = status.incarnation.unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(second.control_plane, first.control_plane);
    assert!(carries(&s.the_vpc_tags("reborn").await, &second));
    // The snapshot the first life's status recorded is the second life's data.
    let database = &status.components[&Component::Database];
    assert_eq!(database.resource_ids["restoredFrom"], snapshot);

    // Down again (a second final snapshot), then back on purpose from the first one:
    // `restoreFrom` names it, and both stay on record.
    let ended = s.run("reborn", true).await;
    assert!(ended.starts_with("SUCCEEDED"), "{ended}");
    let newer =
        s.status("reborn").await.components[&Component::Database].outputs["finalSnapshotId"]
            .clone();
    assert_ne!(newer, snapshot);
    env.spec.database.as_mut().unwrap().restore_from = Some(snapshot.clone());
    s.store_spec(&env).await;
    let ended = s.run("reborn", false).await;
    assert!(ended.starts_with("SUCCEEDED"), "{ended}");
    let status = s.status("reborn").await;
    assert_eq!(status.state, EnvironmentState::Ready, "{}", status.message);
    let database = &status.components[&Component::Database];
    assert_eq!(database.resource_ids["restoredFrom"], snapshot);
    assert_eq!(strata_core::snapshots::recorded(database), {
        let mut both = vec![snapshot.as_str(), newer.as_str()];
        both.sort_unstable();
        both
    });
}
