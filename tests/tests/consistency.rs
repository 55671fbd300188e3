//! EC2's eventual consistency, end to end: with the local stack answering `*.NotFound` for
//! the first calls naming each id a `Create*` just made (as AWS may for a moment), `up`
//! still converges, makes each resource once, and `down` leaves nothing.

use strata_control::{Operations, SfnFlows};
use strata_core::EnvironmentState;
use strata_store::prelude::*;

use strata_testkit::local_stack;

#[tokio::test]
async fn ids_unknown_for_a_moment_after_their_create_are_waited_for_not_made_again() {
    let started = local_stack::start().await;
    let config = started.stack.sdk_config();
    let sfn = aws_sdk_sfn::Client::new(&config);
    let flows = SfnFlows::new(sfn.clone(), started.up.clone(), started.down.clone());
    let operations = Operations::new(started.store.clone(), flows)
        .with_poll_seconds(Some(0))
        .with_clock_scale(Some(0));
    let ec2 = aws_sdk_ec2::Client::new(
        &config
            .to_builder()
            .region(aws_config::Region::new("eu-west-1"))
            .build(),
    );
    let env = strata_testkit::example_as("lagging");
    started.stack.stand_in_for(&env).await.unwrap();
    started
        .store
        .put_spec(&env, None, strata_testkit::now())
        .await
        .unwrap();

    // Every new VPC, subnet, security group, route table and gateway: unknown to the next
    // two calls naming it.
    started.stack.lag(2);
    let ended = started
        .run(&operations, &sfn, "lagging", false, "test")
        .await;
    let status = started.store.get_status("lagging").await.unwrap().unwrap();
    assert_eq!(
        status.value.state,
        EnvironmentState::Ready,
        "{:?}: {}",
        ended.status,
        status.value.message
    );
    let given = started.stack.lag(2);
    println!("NotFound answers given by the lag: {given}");
    assert!(given >= 10, "the lag hardly happened: {given}");

    let vpcs = ec2.describe_vpcs().send().await.unwrap();
    let ours: Vec<_> = vpcs
        .vpcs()
        .iter()
        .filter(|v| {
            v.tags()
                .iter()
                .any(|t| t.key() == Some("strata:environment") && t.value() == Some("lagging"))
        })
        .collect();
    assert_eq!(ours.len(), 1, "one VPC, however often its id was unknown");
    let vpc = ours[0].vpc_id().unwrap().to_owned();
    let in_vpc = |name: &str| {
        aws_sdk_ec2::types::Filter::builder()
            .name(name)
            .values(&vpc)
            .build()
    };
    let subnets = ec2
        .describe_subnets()
        .filters(in_vpc("vpc-id"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        subnets.subnets().len(),
        4,
        "two public, two private: no twins"
    );
    let gateways = ec2
        .describe_internet_gateways()
        .filters(in_vpc("attachment.vpc-id"))
        .send()
        .await
        .unwrap();
    assert_eq!(gateways.internet_gateways().len(), 1);

    let ended = started
        .run(&operations, &sfn, "lagging", true, "test")
        .await;
    let status = started.store.get_status("lagging").await.unwrap().unwrap();
    assert_eq!(
        status.value.state,
        EnvironmentState::Deleted,
        "{:?}: {}",
        ended.status,
        status.value.message
    );
    let left = ec2
        .describe_subnets()
        .filters(in_vpc("vpc-id"))
        .send()
        .await
        .unwrap();
    assert!(left.subnets().is_empty(), "{:?}", left.subnets());
}
