//! The database handler with scripted RDS responses: creating → available, throttling, a
//! failed instance, a same-named instance not ours, deletes of what is already gone.

use std::collections::BTreeMap;

use aws_sdk_rds::Client;
use aws_sdk_rds::operation::create_db_instance::CreateDbInstanceOutput;
use aws_sdk_rds::operation::create_db_subnet_group::CreateDbSubnetGroupOutput;
use aws_sdk_rds::operation::delete_db_instance::DeleteDbInstanceOutput;
use aws_sdk_rds::operation::delete_db_subnet_group::DeleteDbSubnetGroupOutput;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::operation::describe_db_snapshots::DescribeDbSnapshotsOutput;
use aws_sdk_rds::operation::describe_db_subnet_groups::DescribeDbSubnetGroupsOutput;
use aws_sdk_rds::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput;
use aws_sdk_rds::operation::restore_db_instance_from_db_snapshot::RestoreDbInstanceFromDbSnapshotOutput;
use aws_sdk_rds::types::{DbSnapshot, DbSubnetGroup, Endpoint, MasterUserSecret, Subnet};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use strata_component::ComponentError;
use strata_core::spec::DatabaseOnDelete;
use strata_core::{ComponentStatus, Environment, OperationKind};

use super::*;
use strata_component::testing::{Fixed, assert_progress, context, owner, quick_retries};
use strata_testkit::{Staging, staging};

fn network_ready() -> BTreeMap<Component, ComponentStatus> {
    let mut network = ComponentStatus::new(ComponentPhase::Ready, 3, 0);
    network
        .outputs
        .insert("privateSubnetIds".into(), "subnet-b,subnet-a".into());
    network
        .outputs
        .insert("databaseSecurityGroupId".into(), "sg-db".into());
    BTreeMap::from([(Component::Network, network)])
}

async fn step_with(
    rules: &[&Rule],
    env: &Environment,
    destroy: bool,
) -> Result<strata_component::Progress, ComponentError> {
    // A destroy is a down's, an apply an up's.
    let operation = if destroy {
        OperationKind::Down
    } else {
        OperationKind::Up
    };
    step_in(operation, rules, env, destroy).await
}

/// A step of `operation` (a destroy inside an up is a recreate's teardown).
async fn step_in(
    operation: OperationKind,
    rules: &[&Rule],
    env: &Environment,
    destroy: bool,
) -> Result<strata_component::Progress, ComponentError> {
    let quick = |c: aws_sdk_rds::config::Builder| c.retry_config(quick_retries());
    let database = Database {
        clients: Fixed(mock_client!(aws_sdk_rds, RuleMode::MatchAny, rules, quick)),
    };
    let context = context(operation, 3, 1_700_000_000);
    let dependencies = network_ready();
    strata_component::testing::step(&database, env, &context, None, &dependencies, destroy).await
}

/// The handler, RDS answering `rules` (no retries sped up: none is scripted to fail).
fn database(rules: &[&Rule]) -> Database<Fixed<Client>> {
    Database {
        clients: Fixed(mock_client!(aws_sdk_rds, RuleMode::MatchAny, rules)),
    }
}

/// An apply step of `env` in generation `generation`'s `up`, over the `previous` status,
/// with the network Ready.
async fn apply_over(
    rules: &[&Rule],
    env: &Environment,
    generation: u64,
    previous: &ComponentStatus,
) -> Result<strata_component::Progress, ComponentError> {
    let context = context(OperationKind::Up, generation, 1_700_000_000);
    let dependencies = network_ready();
    let database = database(rules);
    strata_component::testing::step(
        &database,
        env,
        &context,
        Some(previous),
        &dependencies,
        false,
    )
    .await
}

/// An apply step after a `down` whose status recorded `snapshot` as the final one.
async fn apply_after_down(
    rules: &[&Rule],
    snapshot: &str,
) -> Result<strata_component::Progress, ComponentError> {
    let mut previous = strata_core::ComponentStatus::new(ComponentPhase::Deleted, 2, 0);
    previous
        .outputs
        .insert("finalSnapshotId".into(), snapshot.into());
    apply_over(rules, &staging(), 3, &previous).await
}

/// An RDS (awsQuery) error response.
fn fault(code: &str) -> String {
    format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{code}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    )
}

fn ours() -> Vec<Tag> {
    rds_tags(&owner("staging"))
}

fn instance(status: &str) -> DbInstance {
    DbInstance::builder()
        .db_instance_identifier("strata-staging")
        .db_instance_status(status)
        .engine("postgres")
        .engine_version("16.4")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .multi_az(false)
        .backup_retention_period(7)
        .deletion_protection(true)
        .master_username("strata")
        .master_user_secret(
            MasterUserSecret::builder()
                .secret_arn("arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1")
                .build(),
        )
        .endpoint(
            Endpoint::builder()
                .address("strata-staging.abc.eu-west-1.rds.amazonaws.com")
                .port(5432)
                .build(),
        )
        .set_tag_list(Some(ours()))
        .build()
}

/// The instance available, its deletion protection already lifted.
fn unprotected() -> Rule {
    let mut unprotected = instance("available");
    unprotected.deletion_protection = Some(false);
    describe(unprotected)
}

/// CreateDBInstance, accepted.
fn create_accepted() -> Rule {
    mock!(Client::create_db_instance).then_output(|| CreateDbInstanceOutput::builder().build())
}

/// ModifyDBInstance, accepted.
fn modify_accepted() -> Rule {
    mock!(Client::modify_db_instance).then_output(|| ModifyDbInstanceOutput::builder().build())
}

/// DeleteDBInstance, accepted.
fn delete_accepted() -> Rule {
    mock!(Client::delete_db_instance).then_output(|| DeleteDbInstanceOutput::builder().build())
}

/// No subnet group yet: DescribeDBSubnetGroups answers not found, every time.
fn no_subnet_group() -> Rule {
    mock!(Client::describe_db_subnet_groups)
        .sequence()
        .http_status(404, Some(fault("DBSubnetGroupNotFoundFault")))
        .repeatedly()
        .build()
}

/// No final snapshot to restore.
fn no_snapshots() -> Rule {
    mock!(Client::describe_db_snapshots)
        .then_output(|| DescribeDbSnapshotsOutput::builder().build())
}

fn describe(instance: DbInstance) -> Rule {
    mock!(Client::describe_db_instances).then_output(move || {
        DescribeDbInstancesOutput::builder()
            .db_instances(instance.clone())
            .build()
    })
}

fn absent() -> Rule {
    mock!(Client::describe_db_instances)
        .sequence()
        .http_status(404, Some(fault("DBInstanceNotFound")))
        .repeatedly()
        .build()
}

fn subnet_group_present() -> [Rule; 2] {
    [
        mock!(Client::describe_db_subnet_groups).then_output(|| {
            DescribeDbSubnetGroupsOutput::builder()
                .db_subnet_groups(
                    DbSubnetGroup::builder()
                        .db_subnet_group_arn(
                            "arn:aws:rds:eu-west-1:123456789012:subgrp:strata-staging",
                        )
                        .subnets(Subnet::builder().subnet_identifier("subnet-a").build())
                        .subnets(Subnet::builder().subnet_identifier("subnet-b").build())
                        .build(),
                )
                .build()
        }),
        mock!(Client::list_tags_for_resource).then_output(|| {
            ListTagsForResourceOutput::builder()
                .set_tag_list(Some(ours()))
                .build()
        }),
    ]
}

#[tokio::test]
async fn an_absent_database_is_created_encrypted_protected_with_a_managed_secret() {
    let groups = no_subnet_group();
    let create_group = mock!(Client::create_db_subnet_group)
        .match_requests(|r| {
            r.db_subnet_group_name() == Some("strata-staging")
                && r.subnet_ids() == ["subnet-b", "subnet-a"]
        })
        .then_output(|| CreateDbSubnetGroupOutput::builder().build());
    let snapshots = no_snapshots();
    let create = mock!(Client::create_db_instance)
        .match_requests(|r| {
            r.db_instance_identifier() == Some("strata-staging")
                && r.engine() == Some("postgres")
                && r.manage_master_user_password() == Some(true)
                && r.master_user_password().is_none()
                && r.storage_encrypted() == Some(true)
                && r.deletion_protection() == Some(true)
                && r.publicly_accessible() == Some(false)
                && r.vpc_security_group_ids() == ["sg-db"]
                && r.copy_tags_to_snapshot() == Some(true)
                && r.tags() == rds_tags(&owner("staging"))
        })
        .then_output(|| CreateDbInstanceOutput::builder().build());
    let progress = step_with(
        &[&absent(), &groups, &create_group, &snapshots, &create],
        &staging(),
        false,
    )
    .await
    .unwrap();
    assert!(!progress.done, "RDS takes minutes: the state machine polls");
    assert_eq!(progress.phase, Some(ComponentPhase::Creating));
    assert_eq!(progress.resource_ids["instanceId"], "strata-staging");
    assert_eq!((create_group.num_calls(), create.num_calls()), (1, 1));
}

#[tokio::test]
async fn creating_is_polled_until_available_then_ready_with_the_secret_arn_only() {
    let [groups, tags] = subnet_group_present();
    let creating = describe(instance("creating"));
    let progress = step_with(&[&creating, &groups, &tags], &staging(), false)
        .await
        .unwrap();
    assert_progress(&progress, false, ComponentPhase::Creating);

    let available = describe(instance("available"));
    let modify = modify_accepted();
    let progress = step_with(&[&available, &groups, &tags, &modify], &staging(), false)
        .await
        .unwrap();
    assert_progress(&progress, true, ComponentPhase::Ready);
    assert_eq!(modify.num_calls(), 0, "nothing differs from the spec");
    assert_eq!(
        progress.outputs["masterUserSecretArn"],
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1"
    );
    assert_eq!(progress.outputs["port"], "5432");
    assert!(!progress.outputs.values().any(|v| v.contains("password")));
}

#[tokio::test]
async fn a_changed_class_and_grown_storage_are_modified_in_place() {
    let [groups, tags] = subnet_group_present();
    let available = describe(instance("available"));
    let modify = mock!(Client::modify_db_instance)
        .match_requests(|r| {
            r.db_instance_class() == Some("db.r6g.large")
                && r.allocated_storage() == Some(50)
                && r.apply_immediately() == Some(true)
                && r.engine_version().is_none()
        })
        .then_output(|| ModifyDbInstanceOutput::builder().build());
    let mut env = staging();
    let db = env.spec.database.as_mut().unwrap();
    db.instance_class = "db.r6g.large".into();
    db.storage_gib = 50;
    let progress = step_with(&[&available, &groups, &tags, &modify], &env, false)
        .await
        .unwrap();
    assert_progress(&progress, false, ComponentPhase::Updating);
    assert_eq!(modify.num_calls(), 1);
}

#[tokio::test]
async fn throttling_is_retried_and_a_failed_instance_fails_the_step() {
    let [groups, tags] = subnet_group_present();
    let throttled = mock!(Client::describe_db_instances)
        .sequence()
        .http_status(400, Some(fault("Throttling")))
        .times(2)
        .output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(instance("available"))
                .build()
        })
        .build();
    let progress = step_with(&[&throttled, &groups, &tags], &staging(), false)
        .await
        .unwrap();
    assert!(progress.done);
    assert_eq!(throttled.num_calls(), 3);

    let failed = describe(instance("failed"));
    let err = step_with(&[&failed, &groups, &tags], &staging(), false)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "AwsRejected");
    assert!(
        err.to_string().contains("strata-staging is failed"),
        "{err}"
    );
}

#[tokio::test]
async fn a_same_named_instance_without_our_tags_is_never_touched() {
    let mut foreign = instance("available");
    foreign.tag_list = Some(vec![Tag::builder().key("team").value("other").build()]);
    let found = describe(foreign);
    let [groups, tags] = subnet_group_present();
    let modify = modify_accepted();
    let delete = delete_accepted();
    let rules = [&found, &groups, &tags, &modify, &delete];
    let mut env = staging();
    env.spec.database.as_mut().unwrap().instance_class = "db.r6g.large".into();
    for destroy in [false, true] {
        let err = step_with(&rules, &env, destroy).await.unwrap_err();
        assert_eq!(err.name(), "ResourceNotOwned");
    }
    assert_eq!((modify.num_calls(), delete.num_calls()), (0, 0));
    assert_eq!(
        groups.num_calls(),
        0,
        "the subnet group was not even looked at"
    );
}

#[tokio::test]
async fn down_lifts_protection_then_deletes_with_a_final_snapshot_named_for_the_operation() {
    let protected = describe(instance("available"));
    let modify = mock!(Client::modify_db_instance)
        .match_requests(|r| r.deletion_protection() == Some(false))
        .then_output(|| ModifyDbInstanceOutput::builder().build());
    let delete = delete_accepted();
    let progress = step_with(&[&protected, &modify, &delete], &staging(), true)
        .await
        .unwrap();
    assert_progress(&progress, false, ComponentPhase::Deleting);
    assert_eq!((modify.num_calls(), delete.num_calls()), (1, 0));

    let unprotected = unprotected();
    let delete = mock!(Client::delete_db_instance)
        .match_requests(|r| {
            r.final_db_snapshot_identifier() == Some("strata-staging-final-g3-1700000000")
                && r.skip_final_snapshot() != Some(true)
        })
        .then_output(|| DeleteDbInstanceOutput::builder().build());
    let progress = step_with(&[&unprotected, &delete], &staging(), true)
        .await
        .unwrap();
    assert!(!progress.done);
    assert_eq!(delete.num_calls(), 1);
    assert_eq!(
        progress.resource_ids["finalSnapshotId"],
        "strata-staging-final-g3-1700000000"
    );
    // Kept on record for restoreFrom, with when its operation began.
    assert_eq!(
        progress.resource_ids
            [&strata_core::snapshots::record_key("strata-staging-final-g3-1700000000")],
        "1700000000"
    );

    let deleting = describe(instance("deleting"));
    let again = delete_accepted();
    let progress = step_with(&[&deleting, &again], &staging(), true)
        .await
        .unwrap();
    assert!(!progress.done);
    assert_eq!(
        again.num_calls(),
        0,
        "a delete under way is not asked for twice"
    );
}

#[tokio::test]
async fn retain_keeps_the_instance_and_delete_skips_the_snapshot() {
    let found = describe(instance("available"));
    let modify = modify_accepted();
    let delete = delete_accepted();
    let mut env = Staging::new()
        .database_on_delete(DatabaseOnDelete::Retain)
        .build();
    let progress = step_with(&[&found, &modify, &delete], &env, true)
        .await
        .unwrap();
    assert_progress(&progress, true, ComponentPhase::Retained);
    assert_eq!((modify.num_calls(), delete.num_calls()), (0, 0));

    let found = unprotected();
    let delete = mock!(Client::delete_db_instance)
        .match_requests(|r| {
            r.skip_final_snapshot() == Some(true) && r.final_db_snapshot_identifier().is_none()
        })
        .then_output(|| DeleteDbInstanceOutput::builder().build());
    env.spec.database.as_mut().unwrap().on_delete = DatabaseOnDelete::Delete;
    step_with(&[&found, &delete], &env, true).await.unwrap();
    assert_eq!(delete.num_calls(), 1);
}

#[tokio::test]
async fn a_recreate_tears_down_with_a_final_snapshot_whatever_the_policy_and_keeps_backups() {
    for policy in [DatabaseOnDelete::Retain, DatabaseOnDelete::Delete] {
        let found = unprotected();
        let delete = mock!(Client::delete_db_instance)
            .match_requests(|r| {
                r.final_db_snapshot_identifier()
                    .is_some_and(|s| s.starts_with("strata-staging-final-g3-"))
                    && r.delete_automated_backups() == Some(false)
            })
            .then_output(|| DeleteDbInstanceOutput::builder().build());
        let env = Staging::new().database_on_delete(policy).build();
        let progress = step_in(OperationKind::Up, &[&found, &delete], &env, true)
            .await
            .unwrap();
        assert_eq!(delete.num_calls(), 1, "{policy:?}");
        assert!(progress.resource_ids.contains_key("finalSnapshotId"));
    }
}

#[tokio::test]
async fn a_database_already_gone_is_deleted_and_its_subnet_group_goes_once() {
    let [groups, tags] = subnet_group_present();
    let delete_group = mock!(Client::delete_db_subnet_group)
        .then_output(|| DeleteDbSubnetGroupOutput::builder().build());
    let progress = step_with(
        &[&absent(), &groups, &tags, &delete_group],
        &staging(),
        true,
    )
    .await
    .unwrap();
    assert_progress(&progress, true, ComponentPhase::Deleted);
    assert_eq!(delete_group.num_calls(), 1);

    let no_group = no_subnet_group();
    let delete_group = mock!(Client::delete_db_subnet_group)
        .then_output(|| DeleteDbSubnetGroupOutput::builder().build());
    let progress = step_with(&[&absent(), &no_group, &delete_group], &staging(), true)
        .await
        .unwrap();
    assert_eq!(progress.phase, Some(ComponentPhase::Deleted));
    assert_eq!(delete_group.num_calls(), 0);
}

fn snapshot(id: &str, engine: &str) -> DbSnapshot {
    DbSnapshot::builder()
        .db_snapshot_identifier(id)
        .db_snapshot_arn(format!("arn:aws:rds:eu-west-1:123456789012:snapshot:{id}"))
        .engine(engine)
        .status("available")
        .build()
}

/// DescribeDBSnapshots by identifier, answering for the snapshots that exist.
fn snapshots_named(existing: Vec<DbSnapshot>) -> Rule {
    mock!(Client::describe_db_snapshots).then_output(move || {
        DescribeDbSnapshotsOutput::builder()
            .set_db_snapshots(Some(existing.clone()))
            .build()
    })
}

#[tokio::test]
async fn an_absent_database_is_restored_from_the_final_snapshot_its_status_recorded() {
    let [groups, tags] = subnet_group_present();
    let snapshots = mock!(Client::describe_db_snapshots)
        .match_requests(|r| r.db_snapshot_identifier() == Some("strata-staging-final-g2-200"))
        .then_output(|| {
            DescribeDbSnapshotsOutput::builder()
                .db_snapshots(snapshot("strata-staging-final-g2-200", "postgres"))
                .build()
        });
    let restore = mock!(Client::restore_db_instance_from_db_snapshot)
        .match_requests(|r| {
            r.db_snapshot_identifier() == Some("strata-staging-final-g2-200")
                && r.deletion_protection() == Some(true)
                && r.manage_master_user_password() == Some(true)
        })
        .then_output(|| RestoreDbInstanceFromDbSnapshotOutput::builder().build());
    let create = create_accepted();
    let progress = apply_after_down(
        &[&absent(), &groups, &tags, &snapshots, &restore, &create],
        "strata-staging-final-g2-200",
    )
    .await
    .unwrap();
    assert_eq!((restore.num_calls(), create.num_calls()), (1, 0));
    assert_eq!(
        progress.resource_ids["restoredFrom"],
        "strata-staging-final-g2-200"
    );
}

/// Final snapshots named like this environment's, but none its status recorded (another
/// control plane's `staging`, or one whose record is gone): a new, empty database.
#[tokio::test]
async fn a_same_named_snapshot_the_status_never_recorded_is_not_restored() {
    let [groups, tags] = subnet_group_present();
    let snapshots = snapshots_named(vec![snapshot("strata-staging-final-g1-100", "postgres")]);
    let restore = mock!(Client::restore_db_instance_from_db_snapshot)
        .then_output(|| RestoreDbInstanceFromDbSnapshotOutput::builder().build());
    let create = create_accepted();
    step_with(
        &[&absent(), &groups, &tags, &snapshots, &restore, &create],
        &staging(),
        false,
    )
    .await
    .unwrap();
    assert_eq!((restore.num_calls(), create.num_calls()), (0, 1));
    assert_eq!(snapshots.num_calls(), 0, "no snapshot is even looked for");
}

/// A recorded snapshot of another engine (the spec changed it) is not restored either.
#[tokio::test]
async fn a_recorded_snapshot_of_another_engine_gives_a_new_database() {
    let [groups, tags] = subnet_group_present();
    let snapshots = snapshots_named(vec![snapshot("strata-staging-final-g3-300", "mysql")]);
    let create = create_accepted();
    apply_after_down(
        &[&absent(), &groups, &tags, &snapshots, &create],
        "strata-staging-final-g3-300",
    )
    .await
    .unwrap();
    assert_eq!(create.num_calls(), 1);
}

/// An apply step of `env` over a status that recorded two final snapshots (g1, then g2).
async fn apply_over_record(
    rules: &[&Rule],
    env: &Environment,
) -> Result<strata_component::Progress, ComponentError> {
    let mut previous = strata_core::ComponentStatus::new(ComponentPhase::Deleted, 4, 0);
    for (id, at) in [
        ("strata-staging-final-g1-100", "100"),
        ("strata-staging-final-g2-200", "200"),
    ] {
        previous
            .resource_ids
            .insert(strata_core::snapshots::record_key(id), at.into());
    }
    previous.outputs.insert(
        "finalSnapshotId".into(),
        "strata-staging-final-g2-200".into(),
    );
    apply_over(rules, env, 5, &previous).await
}

fn restoring_from(from: &str) -> Environment {
    let mut env = staging();
    env.spec.database.as_mut().unwrap().restore_from = Some(from.into());
    env
}

#[tokio::test]
async fn restore_from_names_an_older_recorded_snapshot_and_gets_it() {
    let [groups, tags] = subnet_group_present();
    let snapshots = snapshots_named(vec![snapshot("strata-staging-final-g1-100", "postgres")]);
    let restore = mock!(Client::restore_db_instance_from_db_snapshot)
        .match_requests(|r| r.db_snapshot_identifier() == Some("strata-staging-final-g1-100"))
        .then_output(|| RestoreDbInstanceFromDbSnapshotOutput::builder().build());
    let progress = apply_over_record(
        &[&absent(), &groups, &tags, &snapshots, &restore],
        &restoring_from("strata-staging-final-g1-100"),
    )
    .await
    .unwrap();
    assert_eq!(restore.num_calls(), 1);
    assert_eq!(
        progress.resource_ids["restoredFrom"],
        "strata-staging-final-g1-100"
    );
}

/// A snapshot this control plane never recorded for the environment, or `latest` with none
/// recorded, or a recorded one that is gone: the step fails naming the field, and no empty
/// database is made in its place.
#[tokio::test]
async fn restore_from_refuses_what_was_not_recorded_or_is_gone() {
    let [groups, tags] = subnet_group_present();
    let create = create_accepted();
    let restore = mock!(Client::restore_db_instance_from_db_snapshot)
        .then_output(|| RestoreDbInstanceFromDbSnapshotOutput::builder().build());
    let none = snapshots_named(Vec::new());
    let rules: [&Rule; 6] = [&absent(), &groups, &tags, &none, &create, &restore];

    let err = apply_over_record(&rules, &restoring_from("someone-elses-snapshot"))
        .await
        .unwrap_err();
    assert_eq!(err.name(), "InvalidInput");
    assert!(
        err.to_string()
            .starts_with("spec.database.restoreFrom: someone-elses-snapshot is not"),
        "{err}"
    );

    let err = step_with(&rules, &restoring_from("latest"), false)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("latest: no final snapshot"),
        "{err}"
    );

    let err = apply_over_record(&rules, &restoring_from("latest"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("snapshot strata-staging-final-g2-200 is gone"),
        "{err}"
    );
    assert_eq!((create.num_calls(), restore.num_calls()), (0, 0));
}

#[tokio::test]
async fn without_network_outputs_the_database_waits_for_its_dependency() {
    let database = database(&[]);
    let env = staging();
    let context = context(OperationKind::Up, 3, 1_700_000_000);
    let dependencies = BTreeMap::new();
    let err =
        strata_component::testing::step(&database, &env, &context, None, &dependencies, false)
            .await
            .unwrap_err();
    assert_eq!(err.name(), "DependencyNotReady");
}

#[tokio::test]
async fn a_rejected_call_is_reported_by_code_and_message_without_the_raw_response() {
    let groups = no_subnet_group();
    let create_group = mock!(Client::create_db_subnet_group)
        .then_output(|| CreateDbSubnetGroupOutput::builder().build());
    let snapshots = no_snapshots();
    let refused = mock!(Client::create_db_instance)
        .sequence()
        .http_status(400, Some(fault("InvalidParameterCombination")))
        .build();
    let err = step_with(
        &[&absent(), &groups, &create_group, &snapshots, &refused],
        &staging(),
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(err.name(), "AwsRejected");
    // The raw body (and moto's greedy rewrite of any <RequestId> in a response) stays out
    // of statuses and causes.
    assert_eq!(
        err.to_string(),
        "CreateDBInstance strata-staging: InvalidParameterCombination (HTTP 400): InvalidParameterCombination"
    );
}

async fn observe_with(rules: &[&Rule]) -> Result<Observed, ComponentError> {
    let database = database(rules);
    let env = staging();
    let context = context(OperationKind::Up, 3, 1_700_000_000);
    strata_component::testing::observe(&database, &env, &context, &network_ready()).await
}

#[tokio::test]
async fn observe_reports_each_setting_changed_behind_strata_s_back_by_its_field() {
    assert_eq!(
        observe_with(&[&describe(instance("available"))])
            .await
            .unwrap(),
        Observed::InSync
    );

    // Someone shortened the backups, lifted deletion protection and dropped a tag.
    let mut changed = instance("available");
    changed.backup_retention_period = Some(1);
    changed.deletion_protection = Some(false);
    changed.tag_list = Some(
        ours()
            .into_iter()
            .filter(|t| t.key() != Some(tags::COMPONENT))
            .collect(),
    );
    let Observed::Drifted { fields } = observe_with(&[&describe(changed)]).await.unwrap() else {
        panic!("drift expected");
    };
    assert_eq!(
        fields,
        [
            FieldDrift::new("db instance strata-staging/backupRetentionPeriod", 7, 1),
            FieldDrift::new("db instance strata-staging/deletionProtection", true, false),
            FieldDrift::new(
                "db instance strata-staging/tags.strata:component",
                "database",
                "absent"
            ),
        ]
    );

    // Storage grown past the spec (RDS storage autoscaling) is not drift: it only grows.
    let mut grown = instance("available");
    grown.allocated_storage = Some(100);
    assert_eq!(
        observe_with(&[&describe(grown)]).await.unwrap(),
        Observed::InSync
    );

    assert_eq!(
        observe_with(&[&absent()]).await.unwrap(),
        Observed::Missing {
            resources: vec!["db instance strata-staging".into()]
        }
    );
}
