//! The dns handler with scripted Route 53 responses: PENDING → INSYNC, a record not ours,
//! exact deletes, a missing zone, a missing load balancer.

use std::collections::BTreeMap;

use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsOutput;
use aws_sdk_route53::operation::get_change::GetChangeOutput;
use aws_sdk_route53::operation::list_hosted_zones_by_name::ListHostedZonesByNameOutput;
use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
use aws_sdk_route53::types::{ChangeInfo, HostedZone};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use strata_component::ComponentError;
use strata_core::{ComponentStatus, OperationKind};

use super::*;
use strata_component::testing::{
    CONTROL_PLANE, Fixed, assert_progress, context, owner, owner_with,
};
use strata_testkit::staging;

const LB: &str = "k8s-shop-ui-1a2b3c.elb.eu-west-1.amazonaws.com";

async fn step_with(
    rules: &[&Rule],
    destroy: bool,
    previous: Option<&ComponentStatus>,
) -> Result<strata_component::Progress, ComponentError> {
    let client = mock_client!(aws_sdk_route53, RuleMode::MatchAny, rules);
    let dns = Dns {
        clients: Fixed(client),
    };
    let env = staging();
    let context = context(OperationKind::Up, 1, 0);
    let mut app = ComponentStatus::new(ComponentPhase::Ready, 1, 0);
    app.outputs.insert("loadBalancerHostname".into(), LB.into());
    app.outputs
        .insert("loadBalancerZoneId".into(), "Z32O12XQLNTSW2".into());
    let dependencies = BTreeMap::from([(Component::App, app)]);
    strata_component::testing::step(&dns, &env, &context, previous, &dependencies, destroy).await
}

fn zone() -> Rule {
    mock!(Client::list_hosted_zones_by_name).then_output(|| {
        ListHostedZonesByNameOutput::builder()
            .hosted_zones(
                HostedZone::builder()
                    .id("/hostedzone/Z1")
                    .name("example.com.")
                    .caller_reference("x")
                    .build()
                    .unwrap(),
            )
            .is_truncated(false)
            .max_items(10)
            .build()
            .unwrap()
    })
}

/// The zone's records at the names asked for (Route 53 lists from the start name on).
fn records(sets: Vec<ResourceRecordSet>) -> Rule {
    mock!(Client::list_resource_record_sets).then_output(move || {
        ListResourceRecordSetsOutput::builder()
            .set_resource_record_sets(Some(sets.clone()))
            .is_truncated(false)
            .max_items(10)
            .build()
            .unwrap()
    })
}

fn ours() -> Vec<ResourceRecordSet> {
    let target = Target {
        hostname: LB.into(),
        zone_id: Some("Z32O12XQLNTSW2".into()),
    };
    vec![
        desired_target("staging.example.com", &target).unwrap(),
        desired_owner("staging.example.com", &owner("staging")).unwrap(),
    ]
}

fn changed() -> Rule {
    mock!(Client::change_resource_record_sets).then_output(|| {
        ChangeResourceRecordSetsOutput::builder()
            .change_info(change_info(ChangeStatus::Pending))
            .build()
    })
}

fn change_info(status: ChangeStatus) -> ChangeInfo {
    ChangeInfo::builder()
        .id("/change/C1")
        .status(status)
        .submitted_at(aws_sdk_route53::primitives::DateTime::from_secs(0))
        .build()
        .unwrap()
}

fn get_change(status: ChangeStatus) -> Rule {
    mock!(Client::get_change).then_output(move || {
        GetChangeOutput::builder()
            .change_info(change_info(status.clone()))
            .build()
    })
}

#[tokio::test]
async fn the_alias_and_its_owner_marker_go_in_one_batch_then_wait_for_insync() {
    let change = mock!(Client::change_resource_record_sets)
        .match_requests(|r| {
            let changes = r.change_batch().map(|b| b.changes()).unwrap_or_default();
            changes.len() == 2
                && changes.iter().all(|c| c.action() == &ChangeAction::Upsert)
                && changes.iter().any(|c| {
                    c.resource_record_set().is_some_and(|s| {
                        s.name() == "staging.example.com."
                            && s.alias_target().map(|a| a.dns_name()) == Some(&format!("{LB}."))
                    })
                })
                && changes.iter().any(|c| {
                    c.resource_record_set().is_some_and(|s| {
                        s.name() == "_strata-owner.staging.example.com."
                            && s.resource_records()[0].value()
                                == format!(
                                    "\"strata:environment=staging\" \"strata:control-plane={CONTROL_PLANE}\" \"strata:environment-id=staging-incarnation-1\""
                                )
                    })
                })
        })
        .then_output(|| {
            ChangeResourceRecordSetsOutput::builder()
                .change_info(change_info(ChangeStatus::Pending))
                .build()
        });
    let progress = step_with(&[&zone(), &records(vec![]), &change], false, None)
        .await
        .unwrap();
    assert!(!progress.done);
    assert_eq!(progress.resource_ids["changeId"], "C1");
    assert_eq!(change.num_calls(), 1);

    // The records are in; the change is still PENDING, then INSYNC.
    let mut previous = ComponentStatus::new(ComponentPhase::Updating, 0, 0);
    previous.resource_ids = progress.resource_ids.clone();
    let unchanged = changed();
    let pending = get_change(ChangeStatus::Pending);
    let progress = step_with(
        &[&zone(), &records(ours()), &pending, &unchanged],
        false,
        Some(&previous),
    )
    .await
    .unwrap();
    assert!(!progress.done);
    let insync = get_change(ChangeStatus::Insync);
    let progress = step_with(
        &[&zone(), &records(ours()), &insync, &unchanged],
        false,
        Some(&previous),
    )
    .await
    .unwrap();
    assert_progress(&progress, true, ComponentPhase::Ready);
    assert_eq!(progress.outputs["url"], "http://staging.example.com");
    assert_eq!(unchanged.num_calls(), 0, "nothing to change twice");
}

#[tokio::test]
async fn a_record_without_our_marker_is_never_touched() {
    let foreign = ResourceRecordSet::builder()
        .name("staging.example.com.")
        .r#type(RrType::Cname)
        .ttl(300)
        .resource_records(
            ResourceRecord::builder()
                .value("legacy.example.net")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let change = changed();
    for destroy in [false, true] {
        let err = step_with(
            &[&zone(), &records(vec![foreign.clone()]), &change],
            destroy,
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.name(), "ResourceNotOwned");
    }
    // Another environment's marker at the name is not ours either.
    let theirs = desired_owner("staging.example.com", &owner("preview")).unwrap();
    let err = step_with(&[&zone(), &records(vec![theirs]), &change], false, None)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "ResourceNotOwned");
    // Nor is the marker of an earlier incarnation of this name, or another control plane's.
    for (whose, marker) in [
        (
            "another incarnation",
            owner_with("staging", CONTROL_PLANE, "staging-incarnation-0"),
        ),
        (
            "another control plane",
            owner_with(
                "staging",
                "arn:aws:cloudformation:us-east-1:123456789012:stack/b/1",
                "staging-incarnation-1",
            ),
        ),
    ] {
        let theirs = desired_owner("staging.example.com", &marker).unwrap();
        let err = step_with(&[&zone(), &records(vec![theirs]), &change], false, None)
            .await
            .unwrap_err();
        assert_eq!(err.name(), "ResourceNotOwned");
        assert!(err.to_string().contains(whose), "{err}");
    }
    assert_eq!(change.num_calls(), 0);
}

#[tokio::test]
async fn a_marker_written_before_incarnations_is_ours_and_rewritten_with_the_incarnation() {
    let legacy = ResourceRecordSet::builder()
        .name("_strata-owner.staging.example.com.")
        .r#type(RrType::Txt)
        .ttl(300)
        .resource_records(
            ResourceRecord::builder()
                .value("\"strata:environment=staging\"")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let rewritten = mock!(Client::change_resource_record_sets)
        .match_requests(|r| {
            let changes = r.change_batch().map(|b| b.changes()).unwrap_or_default();
            changes.iter().any(|c| {
                c.resource_record_set().is_some_and(|s| {
                    s.resource_records().first().is_some_and(|v| {
                        v.value()
                            .contains("strata:environment-id=staging-incarnation-1")
                    })
                })
            })
        })
        .then_output(|| {
            ChangeResourceRecordSetsOutput::builder()
                .change_info(change_info(ChangeStatus::Pending))
                .build()
        });
    let target = ours().remove(0);
    let progress = step_with(
        &[&zone(), &records(vec![target, legacy]), &rewritten],
        false,
        None,
    )
    .await
    .unwrap();
    assert!(!progress.done);
    assert_eq!(rewritten.num_calls(), 1);
}

#[tokio::test]
async fn down_deletes_exactly_its_two_records_and_nothing_when_they_are_gone() {
    let delete = mock!(Client::change_resource_record_sets)
        .match_requests(|r| {
            let changes = r.change_batch().map(|b| b.changes()).unwrap_or_default();
            changes.len() == 2 && changes.iter().all(|c| c.action() == &ChangeAction::Delete)
        })
        .then_output(|| {
            ChangeResourceRecordSetsOutput::builder()
                .change_info(change_info(ChangeStatus::Pending))
                .build()
        });
    let progress = step_with(&[&zone(), &records(ours()), &delete], true, None)
        .await
        .unwrap();
    assert_eq!(progress.phase, Some(ComponentPhase::Deleted));
    assert_eq!(delete.num_calls(), 1);

    let progress = step_with(&[&zone(), &records(vec![]), &delete], true, None)
        .await
        .unwrap();
    assert_eq!(progress.phase, Some(ComponentPhase::Deleted));
    assert_eq!(delete.num_calls(), 1, "nothing left to delete");
}

#[tokio::test]
async fn a_missing_zone_or_load_balancer_is_said_plainly() {
    let no_zone = mock!(Client::list_hosted_zones_by_name).then_output(|| {
        ListHostedZonesByNameOutput::builder()
            .is_truncated(false)
            .max_items(10)
            .set_hosted_zones(Some(vec![]))
            .build()
            .unwrap()
    });
    let err = step_with(&[&no_zone], false, None).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("hosted zone example.com does not exist"),
        "{err}"
    );

    let client = mock_client!(aws_sdk_route53, RuleMode::MatchAny, &[]);
    let dns = Dns {
        clients: Fixed(client),
    };
    let env = staging();
    let context = context(OperationKind::Up, 1, 0);
    let dependencies = BTreeMap::new();
    assert_eq!(
        strata_component::testing::step(&dns, &env, &context, None, &dependencies, false)
            .await
            .unwrap_err()
            .name(),
        "DependencyNotReady"
    );
}
