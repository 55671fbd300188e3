//! The cluster handler with scripted EKS responses: CREATING → ACTIVE, throttling, a failed
//! node group, a same-named cluster not ours, in-place scaling and upgrades, teardown order.

use std::collections::BTreeMap;

use aws_sdk_eks::Client;
use aws_sdk_eks::operation::associate_access_policy::AssociateAccessPolicyOutput;
use aws_sdk_eks::operation::create_access_entry::CreateAccessEntryOutput;
use aws_sdk_eks::operation::create_cluster::CreateClusterOutput;
use aws_sdk_eks::operation::create_nodegroup::CreateNodegroupOutput;
use aws_sdk_eks::operation::delete_cluster::DeleteClusterOutput;
use aws_sdk_eks::operation::delete_nodegroup::DeleteNodegroupOutput;
use aws_sdk_eks::operation::describe_access_entry::DescribeAccessEntryOutput;
use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
use aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput;
use aws_sdk_eks::operation::list_nodegroups::ListNodegroupsOutput;
use aws_sdk_eks::operation::update_cluster_version::UpdateClusterVersionOutput;
use aws_sdk_eks::operation::update_nodegroup_config::UpdateNodegroupConfigOutput;
use aws_sdk_eks::types::{Issue, NodegroupHealth, NodegroupIssueCode};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use strata_component::ComponentError;
use strata_core::{ComponentStatus, Environment, OperationKind};

use super::*;
use strata_component::testing::{Fixed, assert_progress, context, owner, quick_retries};
use strata_testkit::staging;

fn roles() -> Roles {
    Roles {
        cluster: "arn:aws:iam::123456789012:role/strata-eks-cluster".into(),
        node: "arn:aws:iam::123456789012:role/strata-eks-node".into(),
        access_principal: "arn:aws:iam::123456789012:role/strata-kubernetes".into(),
    }
}

async fn step_with(
    rules: &[&Rule],
    env: &Environment,
    destroy: bool,
) -> Result<strata_component::Progress, ComponentError> {
    let quick = |c: aws_sdk_eks::config::Builder| c.retry_config(quick_retries());
    let client = mock_client!(aws_sdk_eks, RuleMode::MatchAny, rules, quick);
    let cluster = Cluster {
        clients: Fixed(client),
        roles: roles(),
    };
    let context = context(OperationKind::Up, 1, 0);
    let mut network = ComponentStatus::new(ComponentPhase::Ready, 1, 0);
    for (key, value) in [
        ("privateSubnetIds", "subnet-p0,subnet-p1"),
        ("publicSubnetIds", "subnet-u0,subnet-u1"),
    ] {
        network.outputs.insert(key.into(), value.into());
    }
    let dependencies = BTreeMap::from([(Component::Network, network)]);
    strata_component::testing::step(&cluster, env, &context, None, &dependencies, destroy).await
}

/// An EKS (restJson) error response.
fn fault(code: &str) -> String {
    format!(r#"{{"__type":"{code}","message":"{code}"}}"#)
}

fn ours() -> HashMap<String, String> {
    eks_tags(&owner("staging"))
}

fn cluster(status: ClusterStatus, version: &str) -> EksCluster {
    EksCluster::builder()
        .name("strata-staging")
        .arn("arn:aws:eks:eu-west-1:123456789012:cluster/strata-staging")
        .status(status)
        .version(version)
        .endpoint("https://ABC.gr7.eu-west-1.eks.amazonaws.com")
        .set_tags(Some(ours()))
        .build()
}

fn describe(found: EksCluster) -> Rule {
    mock!(Client::describe_cluster).then_output(move || {
        DescribeClusterOutput::builder()
            .cluster(found.clone())
            .build()
    })
}

fn not_found<I, O, E>(rule: aws_smithy_mocks::RuleBuilder<I, O, E>) -> Rule
where
    I: Send + Sync + std::fmt::Debug + 'static,
    O: Send + Sync + std::fmt::Debug + 'static,
    E: Send + Sync + std::fmt::Debug + std::error::Error + 'static,
{
    rule.sequence()
        .http_status(404, Some(fault("ResourceNotFoundException")))
        .repeatedly()
        .build()
}

fn the_nodegroup() -> String {
    nodegroup_name("staging", &staging().spec.cluster)
}

fn nodegroup(name: &str, status: NodegroupStatus, desired: i32) -> Nodegroup {
    Nodegroup::builder()
        .nodegroup_name(name)
        .status(status)
        .version("1.31")
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(2)
                .max_size(4)
                .desired_size(desired)
                .build(),
        )
        .set_tags(Some(ours()))
        .build()
}

fn describe_nodegroups(groups: Vec<Nodegroup>) -> Rule {
    mock!(Client::describe_nodegroup)
        .match_requests({
            let names: Vec<String> = groups
                .iter()
                .filter_map(|g| g.nodegroup_name().map(str::to_owned))
                .collect();
            move |r| names.iter().any(|n| r.nodegroup_name() == Some(n))
        })
        .then_output(move || {
            DescribeNodegroupOutput::builder()
                .nodegroup(groups[0].clone())
                .build()
        })
}

fn list(names: &[&str]) -> Rule {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    mock!(Client::list_nodegroups).then_output(move || {
        ListNodegroupsOutput::builder()
            .set_nodegroups(Some(names.clone()))
            .build()
    })
}

fn access_present() -> [Rule; 2] {
    [
        mock!(Client::describe_access_entry)
            .then_output(|| DescribeAccessEntryOutput::builder().build()),
        mock!(Client::associate_access_policy)
            .match_requests(|r| {
                r.policy_arn() == Some(ADMIN_POLICY)
                    && r.access_scope().and_then(|s| s.r#type()) == Some(&AccessScopeType::Cluster)
            })
            .then_output(|| AssociateAccessPolicyOutput::builder().build()),
    ]
}

#[tokio::test]
async fn an_absent_cluster_is_created_with_api_authentication_and_tags() {
    let create = mock!(Client::create_cluster)
        .match_requests(|r| {
            r.name() == Some("strata-staging")
                && r.version() == Some("1.31")
                && r.role_arn() == Some("arn:aws:iam::123456789012:role/strata-eks-cluster")
                && r.access_config().and_then(|a| a.authentication_mode())
                    == Some(&AuthenticationMode::Api)
                && r.resources_vpc_config().map(|v| v.subnet_ids().len()) == Some(4)
                && r.tags() == Some(&eks_tags(&owner("staging")))
        })
        .then_output(|| CreateClusterOutput::builder().build());
    let progress = step_with(
        &[&not_found(mock!(Client::describe_cluster)), &create],
        &staging(),
        false,
    )
    .await
    .unwrap();
    assert_progress(&progress, false, ComponentPhase::Creating);
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn creating_is_polled_then_access_and_node_group_follow_until_ready() {
    let creating = describe(cluster(ClusterStatus::Creating, "1.31"));
    let create_nodegroup =
        mock!(Client::create_nodegroup).then_output(|| CreateNodegroupOutput::builder().build());
    let progress = step_with(&[&creating, &create_nodegroup], &staging(), false)
        .await
        .unwrap();
    assert!(!progress.done);
    assert_eq!(
        create_nodegroup.num_calls(),
        0,
        "nodes wait for the control plane"
    );

    let active = describe(cluster(ClusterStatus::Active, "1.31"));
    let no_entry = not_found(mock!(Client::describe_access_entry));
    let create_entry = mock!(Client::create_access_entry)
        .match_requests(|r| {
            r.principal_arn() == Some("arn:aws:iam::123456789012:role/strata-kubernetes")
        })
        .then_output(|| CreateAccessEntryOutput::builder().build());
    let [_, associate] = access_present();
    let no_group = not_found(mock!(Client::describe_nodegroup));
    let create_nodegroup = mock!(Client::create_nodegroup)
        .match_requests(|r| {
            r.subnets() == ["subnet-p0", "subnet-p1"]
                && r.instance_types() == ["t3.medium"]
                && r.scaling_config().and_then(|s| s.desired_size()) == Some(2)
                && r.node_role() == Some("arn:aws:iam::123456789012:role/strata-eks-node")
                && r.version() == Some("1.31")
        })
        .then_output(|| CreateNodegroupOutput::builder().build());
    let progress = step_with(
        &[
            &active,
            &no_entry,
            &create_entry,
            &associate,
            &no_group,
            &create_nodegroup,
        ],
        &staging(),
        false,
    )
    .await
    .unwrap();
    assert!(!progress.done);
    assert_eq!(
        (
            create_entry.num_calls(),
            associate.num_calls(),
            create_nodegroup.num_calls()
        ),
        (1, 1, 1)
    );

    let [entry, associate] = access_present();
    let group = describe_nodegroups(vec![nodegroup(
        &the_nodegroup(),
        NodegroupStatus::Active,
        2,
    )]);
    let listed = list(&[&the_nodegroup()]);
    let progress = step_with(
        &[&active, &entry, &associate, &group, &listed],
        &staging(),
        false,
    )
    .await
    .unwrap();
    assert_progress(&progress, true, ComponentPhase::Ready);
    assert_eq!(progress.outputs["nodegroupName"], the_nodegroup());
    assert_eq!(progress.outputs["version"], "1.31");
}

#[tokio::test]
async fn scaling_is_in_place_and_a_minor_upgrade_goes_to_the_control_plane_first() {
    let active = describe(cluster(ClusterStatus::Active, "1.31"));
    let [entry, associate] = access_present();
    let group = describe_nodegroups(vec![nodegroup(
        &the_nodegroup(),
        NodegroupStatus::Active,
        2,
    )]);
    let scale = mock!(Client::update_nodegroup_config)
        .match_requests(|r| r.scaling_config().and_then(|s| s.desired_size()) == Some(3))
        .then_output(|| UpdateNodegroupConfigOutput::builder().build());
    let mut env = staging();
    env.spec.cluster.node_group.desired_size = 3;
    let progress = step_with(&[&active, &entry, &associate, &group, &scale], &env, false)
        .await
        .unwrap();
    assert_eq!(
        (progress.done, scale.num_calls()),
        (false, 1),
        "scaled, then polled"
    );

    let upgrade = mock!(Client::update_cluster_version)
        .match_requests(|r| r.version() == Some("1.32"))
        .then_output(|| UpdateClusterVersionOutput::builder().build());
    let mut env = staging();
    env.spec.cluster.version = "1.32".into();
    let progress = step_with(&[&active, &upgrade, &group], &env, false)
        .await
        .unwrap();
    assert_eq!(progress.phase, Some(ComponentPhase::Updating));
    assert_eq!(upgrade.num_calls(), 1);

    env.spec.cluster.version = "1.30".into();
    let err = step_with(&[&active, &upgrade], &env, false)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "AwsRejected");
    assert!(err.to_string().contains("never go down"), "{err}");
    assert_eq!(upgrade.num_calls(), 1);
}

#[tokio::test]
async fn a_new_instance_type_replaces_the_node_group_once_the_new_one_is_active() {
    let active = describe(cluster(ClusterStatus::Active, "1.31"));
    let [entry, associate] = access_present();
    let mut env = staging();
    env.spec.cluster.node_group.instance_types = vec!["m6i.large".into()];
    let new_name = nodegroup_name("staging", &env.spec.cluster);
    assert_ne!(new_name, the_nodegroup());
    let new_group = describe_nodegroups(vec![nodegroup(&new_name, NodegroupStatus::Active, 2)]);
    let old_group = describe_nodegroups(vec![nodegroup(
        &the_nodegroup(),
        NodegroupStatus::Active,
        2,
    )]);
    let listed = list(&[&the_nodegroup(), &new_name]);
    let delete = mock!(Client::delete_nodegroup)
        .match_requests({
            let old = the_nodegroup();
            move |r| r.nodegroup_name() == Some(&old)
        })
        .then_output(|| DeleteNodegroupOutput::builder().build());
    let progress = step_with(
        &[
            &active, &entry, &associate, &new_group, &old_group, &listed, &delete,
        ],
        &env,
        false,
    )
    .await
    .unwrap();
    assert_progress(&progress, false, ComponentPhase::Updating);
    assert_eq!(delete.num_calls(), 1);
}

#[tokio::test]
async fn throttling_is_retried_and_a_failed_node_group_fails_with_its_health_issue() {
    let throttled = mock!(Client::describe_cluster)
        .sequence()
        .http_status(429, Some(fault("ThrottlingException")))
        .times(2)
        .output(|| {
            DescribeClusterOutput::builder()
                .cluster(cluster(ClusterStatus::Active, "1.31"))
                .build()
        })
        .build();
    let [entry, associate] = access_present();
    let mut failed = nodegroup(&the_nodegroup(), NodegroupStatus::CreateFailed, 2);
    failed.health = Some(
        NodegroupHealth::builder()
            .issues(
                Issue::builder()
                    .code(NodegroupIssueCode::AsgInstanceLaunchFailures)
                    .message("Could not launch On-Demand Instances")
                    .build(),
            )
            .build(),
    );
    let group = describe_nodegroups(vec![failed]);
    let err = step_with(&[&throttled, &entry, &associate, &group], &staging(), false)
        .await
        .unwrap_err();
    assert_eq!(throttled.num_calls(), 3);
    assert_eq!(err.name(), "AwsRejected");
    assert!(
        err.to_string().contains("CREATE_FAILED")
            && err
                .to_string()
                .contains("Could not launch On-Demand Instances"),
        "{err}"
    );
}

#[tokio::test]
async fn a_same_named_cluster_without_our_tags_is_never_touched() {
    let mut foreign = cluster(ClusterStatus::Active, "1.30");
    foreign.tags = Some(HashMap::from([("team".into(), "other".into())]));
    let found = describe(foreign);
    let upgrade = mock!(Client::update_cluster_version)
        .then_output(|| UpdateClusterVersionOutput::builder().build());
    let delete =
        mock!(Client::delete_cluster).then_output(|| DeleteClusterOutput::builder().build());
    let listed = list(&[]);
    for destroy in [false, true] {
        let err = step_with(&[&found, &upgrade, &delete, &listed], &staging(), destroy)
            .await
            .unwrap_err();
        assert_eq!(err.name(), "ResourceNotOwned");
    }
    assert_eq!((upgrade.num_calls(), delete.num_calls()), (0, 0));
}

#[tokio::test]
async fn down_deletes_node_groups_first_then_the_cluster_and_a_gone_cluster_is_deleted() {
    let active = describe(cluster(ClusterStatus::Active, "1.31"));
    let group = describe_nodegroups(vec![nodegroup(
        &the_nodegroup(),
        NodegroupStatus::Active,
        2,
    )]);
    let listed = list(&[&the_nodegroup()]);
    let delete_group =
        mock!(Client::delete_nodegroup).then_output(|| DeleteNodegroupOutput::builder().build());
    let delete =
        mock!(Client::delete_cluster).then_output(|| DeleteClusterOutput::builder().build());
    let progress = step_with(
        &[&active, &group, &listed, &delete_group, &delete],
        &staging(),
        true,
    )
    .await
    .unwrap();
    assert_progress(&progress, false, ComponentPhase::Deleting);
    assert_eq!((delete_group.num_calls(), delete.num_calls()), (1, 0));

    let none = list(&[]);
    let progress = step_with(&[&active, &none, &delete], &staging(), true)
        .await
        .unwrap();
    assert!(!progress.done);
    assert_eq!(delete.num_calls(), 1);

    let gone = not_found(mock!(Client::describe_cluster));
    let progress = step_with(&[&gone, &delete], &staging(), true)
        .await
        .unwrap();
    assert_progress(&progress, true, ComponentPhase::Deleted);
    assert_eq!(delete.num_calls(), 1);
}

#[test]
fn node_group_names_change_only_with_the_node_shape() {
    let spec = staging().spec.cluster;
    let mut scaled = spec.clone();
    scaled.node_group.desired_size = 4;
    assert_eq!(
        nodegroup_name("staging", &spec),
        nodegroup_name("staging", &scaled)
    );
    let mut bigger = spec.clone();
    bigger.node_group.disk_gib = 50;
    assert_ne!(
        nodegroup_name("staging", &spec),
        nodegroup_name("staging", &bigger)
    );
    assert!(nodegroup_name("staging", &spec).len() <= 63);
}

#[test]
fn a_create_token_holds_for_one_operation_only() {
    let first = context(OperationKind::Up, 1, 0);
    let mut retry = first.clone();
    retry.execution = "up-staging-1-0".into();
    let mut next = first.clone();
    next.started_at += 600;
    let token = |c| request_token("strata-staging", c);
    assert_eq!(token(&first), token(&retry));
    assert_ne!(token(&first), token(&next));
}
