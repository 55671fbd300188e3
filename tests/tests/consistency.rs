//! EC2's eventual consistency, end to end: with the local stack answering `*.NotFound` for
//! the first calls naming each id a `Create*` just made (as AWS may for a moment), `up`
//! still converges, makes each resource once, and `down` leaves nothing.

use strata_control::{Operations, SfnFlows};
use strata_core::EnvironmentState;
use strata_store::DynamoStore;

use strata_testkit::local_stack;

/// Runs `up` (or `down`) of `lagging`, which must leave it `wanted`; how it ended is said
/// otherwise.
async fn runs_to(
    started: &local_stack::Started,
    operations: &Operations<DynamoStore, SfnFlows>,
    sfn: &aws_sdk_sfn::Client,
    down: bool,
    wanted: EnvironmentState,
) {
    let ended = started.run(operations, sfn, "lagging", down, "test").await;
    let status = started.status("lagging").await;
    assert_eq!(
        status.state, wanted,
        "{:?}: {}",
        ended.status, status.message
    );
}

#[tokio::test]
async fn ids_unknown_for_a_moment_after_their_create_are_waited_for_not_made_again() {
    let started = local_stack::start().await;
    let (operations, sfn) = started.operations_polling(0);
    let ec2 = aws_sdk_ec2::Client::new(&started.regional("eu-west-1"));
    started.store_example("lagging").await;

    // Every new VPC, subnet, security group, route table and gateway: unknown to the next
    // two calls naming it.
    started.stack.lag(2);
    runs_to(&started, &operations, &sfn, false, EnvironmentState::Ready).await;
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

    runs_to(&started, &operations, &sfn, true, EnvironmentState::Deleted).await;
    let left = ec2
        .describe_subnets()
        .filters(in_vpc("vpc-id"))
        .send()
        .await
        .unwrap();
    assert!(left.subnets().is_empty(), "{:?}", left.subnets());
}
