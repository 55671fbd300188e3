//! The fault matrix, generated: a clean `up` and `down` of the example on the local stack
//! records every AWS call site they reach (function, IAM action); then, for each site and
//! each fault (throttling, a 5xx, a timeout before the request got through, a response lost
//! after the service carried it out), an environment of its own runs `up` and `down` with
//! that fault at the site's first call. Each must end Ready and then Deleted (after the
//! retries, or a re-run of the operation as a user would) with the emulator's inventory of
//! it equal to the clean run's: nothing leaked, nothing duplicated.
//!
//! `STRATA_FAULT_MATRIX=full` runs every site with every fault (about 25 s a run); by
//! default a spread of `STRATA_FAULT_RUNS` (12) runs covering every fault kind;
//! `STRATA_FAULT_SITE=ec2:CreateVpc,ec2:CreateNatGateway` every fault at those actions' sites.

use std::collections::{BTreeMap, BTreeSet};

use strata_core::EnvironmentState;
use strata_localstack::chaos::{Call, Chaos, ChaosKind};
use strata_localstack::fidelity::Fault;
use strata_store::prelude::*;

use strata_testkit::local_stack;

/// The local stack the matrix runs on, driven as the API drives it.
struct Matrix {
    driven: local_stack::Driven,
}

/// How many of each kind of resource the emulator holds for one environment.
type Inventory = BTreeMap<&'static str, usize>;

impl Matrix {
    async fn new() -> Self {
        Self {
            driven: local_stack::driven().await,
        }
    }

    async fn prepare(&self, name: &str) {
        self.driven.started.store_example(name).await;
    }

    /// Runs `up` (or `down`) to its end, re-running it (as a user would) while it ends
    /// otherwise than wanted, at most twice. Answers the state and how many runs it took.
    async fn converge(&self, name: &str, down: bool) -> (EnvironmentState, usize) {
        let wanted = if down {
            EnvironmentState::Deleted
        } else {
            EnvironmentState::Ready
        };
        let driven = &self.driven;
        let mut state = EnvironmentState::Failed;
        for attempt in 1..=3 {
            driven
                .started
                .run(&driven.operations, &driven.sfn, name, down, "matrix")
                .await;
            state = driven
                .started
                .store
                .get_status(name)
                .await
                .unwrap()
                .map(|s| s.value.state)
                .unwrap_or(EnvironmentState::Failed);
            if state == wanted {
                return (state, attempt);
            }
        }
        (state, 3)
    }

    /// The environment's resources in the emulator, by kind (found by tag or by name).
    async fn inventory(&self, name: &str) -> Inventory {
        let ours = |tags: &[aws_sdk_ec2::types::Tag]| {
            tags.iter()
                .any(|t| t.key() == Some("strata:environment") && t.value() == Some(name))
        };
        let aws = &self.driven;
        let mut found = Inventory::new();
        let vpcs = aws.ec2.describe_vpcs().send().await.unwrap();
        found.insert("vpc", vpcs.vpcs().iter().filter(|v| ours(v.tags())).count());
        let subnets = aws.ec2.describe_subnets().send().await.unwrap();
        found.insert(
            "subnet",
            subnets.subnets().iter().filter(|v| ours(v.tags())).count(),
        );
        let gateways = aws.ec2.describe_internet_gateways().send().await.unwrap();
        found.insert(
            "internet gateway",
            gateways
                .internet_gateways()
                .iter()
                .filter(|v| ours(v.tags()))
                .count(),
        );
        let nats = aws.ec2.describe_nat_gateways().send().await.unwrap();
        found.insert(
            "nat gateway",
            nats.nat_gateways()
                .iter()
                .filter(|v| ours(v.tags()) && v.state().is_some_and(|s| s.as_str() != "deleted"))
                .count(),
        );
        let tables = aws.ec2.describe_route_tables().send().await.unwrap();
        found.insert(
            "route table",
            tables
                .route_tables()
                .iter()
                .filter(|v| ours(v.tags()))
                .count(),
        );
        let groups = aws.ec2.describe_security_groups().send().await.unwrap();
        found.insert(
            "security group",
            groups
                .security_groups()
                .iter()
                .filter(|v| ours(v.tags()))
                .count(),
        );
        let addresses = aws.ec2.describe_addresses().send().await.unwrap();
        found.insert(
            "elastic ip",
            addresses
                .addresses()
                .iter()
                .filter(|v| ours(v.tags()))
                .count(),
        );
        let cluster = format!("strata-{name}");
        let clusters = aws.eks.list_clusters().send().await.unwrap();
        let has_cluster = clusters.clusters().contains(&cluster);
        found.insert("eks cluster", usize::from(has_cluster));
        let nodegroups = if has_cluster {
            aws.eks
                .list_nodegroups()
                .cluster_name(&cluster)
                .send()
                .await
                .map(|n| n.nodegroups().len())
                .unwrap_or(0)
        } else {
            0
        };
        found.insert("eks node group", nodegroups);
        let instances = aws.rds.describe_db_instances().send().await.unwrap();
        found.insert(
            "db instance",
            instances
                .db_instances()
                .iter()
                .filter(|i| i.db_instance_identifier() == Some(cluster.as_str()))
                .count(),
        );
        let snapshots = aws.rds.describe_db_snapshots().send().await.unwrap();
        found.insert(
            "db snapshot",
            snapshots
                .db_snapshots()
                .iter()
                .filter(|s| {
                    s.db_snapshot_identifier()
                        .is_some_and(|id| id.starts_with(&format!("{cluster}-")))
                })
                .count(),
        );
        let buckets = aws.s3.list_buckets().send().await.unwrap();
        found.insert(
            "bucket",
            buckets
                .buckets()
                .iter()
                .filter(|b| {
                    b.name()
                        .is_some_and(|n| n.starts_with(&format!("{cluster}-")))
                })
                .count(),
        );
        found
    }
}

/// The runs to make: every (site, kind), or a spread of `runs` of them that goes through
/// the sites in order and through the kinds in turn.
fn plan(sites: &[(bool, Call)], full: bool, runs: usize) -> Vec<(bool, Call, ChaosKind)> {
    let all: Vec<(bool, Call, ChaosKind)> = sites
        .iter()
        .flat_map(|(down, call)| ChaosKind::ALL.map(|k| (*down, call.clone(), k)))
        .collect();
    if full || runs >= all.len() {
        return all;
    }
    (0..runs)
        .map(|i| {
            let site = &sites[i * sites.len() / runs];
            (
                site.0,
                site.1.clone(),
                ChaosKind::ALL[i % ChaosKind::ALL.len()],
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_call_site_survives_every_fault_with_nothing_leaked_or_duplicated() {
    let m = Matrix::new().await;
    let chaos = m.driven.started.stack.chaos();

    // The clean run: the call sites, and the inventory to compare with.
    m.prepare("clean").await;
    chaos.take_calls();
    assert_eq!(
        m.converge("clean", false).await,
        (EnvironmentState::Ready, 1)
    );
    let up_calls = chaos.take_calls();
    let ready = m.inventory("clean").await;
    assert_eq!(
        m.converge("clean", true).await,
        (EnvironmentState::Deleted, 1)
    );
    let down_calls = chaos.take_calls();
    let deleted = m.inventory("clean").await;
    assert!(ready["vpc"] == 1 && ready["eks cluster"] == 1, "{ready:?}");
    let mut sites: Vec<(bool, Call)> = Vec::new();
    let mut seen = BTreeSet::new();
    for (down, calls) in [(false, &up_calls), (true, &down_calls)] {
        for call in calls {
            if seen.insert((down, call.clone())) {
                sites.push((down, call.clone()));
            }
        }
    }
    println!(
        "call sites: {} in up, {} in down ({} AWS calls in the clean run)",
        sites.iter().filter(|(d, _)| !d).count(),
        sites.iter().filter(|(d, _)| *d).count(),
        up_calls.len() + down_calls.len()
    );

    let full = std::env::var("STRATA_FAULT_MATRIX").is_ok_and(|v| v == "full");
    let runs: usize = std::env::var("STRATA_FAULT_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(12);
    // One action's sites only, every fault (to look again at one that went wrong).
    if let Ok(actions) = std::env::var("STRATA_FAULT_SITE") {
        sites.retain(|(_, call)| actions.split(',').any(|a| call.action == a));
    }
    let planned = plan(
        &sites,
        full || std::env::var("STRATA_FAULT_SITE").is_ok(),
        runs,
    );
    let (mut converged, mut reruns, mut hit) = (0, 0, 0);
    let mut failures = Vec::new();
    for (i, (down, call, kind)) in planned.iter().enumerate() {
        let name = format!("m{i}");
        m.prepare(&name).await;
        let fault = Chaos {
            caller: call.caller.clone(),
            action: call.action.clone(),
            kind: *kind,
        };
        let site = format!(
            "{} {} in {} ({})",
            call.caller,
            call.action,
            if *down { "down" } else { "up" },
            kind.name()
        );
        if !down {
            chaos.inject(fault.clone());
        }
        let (state, attempts) = m.converge(&name, false).await;
        let after_up = m.inventory(&name).await;
        if *down {
            chaos.inject(fault);
        }
        let (end, down_attempts) = m.converge(&name, true).await;
        let after_down = m.inventory(&name).await;
        let met = chaos.take_hit().len();
        hit += met;
        reruns += attempts + down_attempts - 2;
        let ok = state == EnvironmentState::Ready
            && end == EnvironmentState::Deleted
            && after_up == ready
            && after_down == deleted;
        println!(
            "{site}: {state:?} after {attempts} run(s), {end:?} after {down_attempts}; fault met: {met}{}",
            if ok { "" } else { " — WRONG" }
        );
        if ok {
            converged += 1;
        } else {
            failures.push(format!(
                "{site}: {state:?}/{end:?}; after up {:?}, after down {:?}",
                diff(&ready, &after_up),
                diff(&deleted, &after_down)
            ));
        }
    }
    println!(
        "fault matrix: {} call sites, {} runs, {hit} faults met, {converged} converged, {} re-runs, {} with leaked or duplicated resources",
        sites.len(),
        planned.len(),
        reruns,
        failures.len()
    );
    assert!(hit > 0, "no fault met its call");
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The kinds whose count differs: (kind, expected, found).
fn diff(expected: &Inventory, found: &Inventory) -> Vec<(&'static str, usize, usize)> {
    expected
        .iter()
        .filter(|(k, n)| found.get(*k) != Some(n))
        .map(|(k, n)| (*k, *n, found.get(k).copied().unwrap_or(0)))
        .collect()
}

/// A Lambda that dies after its side effect and before it answers, at every step: each
/// distinct invocation of `up` and `down` (every function, every action, every poll) has
/// its answer lost once after its work was done, and Step Functions retries it. Each
/// operation ends as wanted in one run, with the emulator holding exactly what a clean run
/// leaves.
#[tokio::test(flavor = "multi_thread")]
async fn every_step_dying_after_its_work_and_a_branch_failing_mid_poll_converge_to_the_same_inventory()
 {
    let m = Matrix::new().await;
    let stack = &m.driven.started.stack;
    m.prepare("calm").await;
    assert_eq!(
        m.converge("calm", false).await,
        (EnvironmentState::Ready, 1)
    );
    let ready = m.inventory("calm").await;
    assert_eq!(
        m.converge("calm", true).await,
        (EnvironmentState::Deleted, 1)
    );
    let deleted = m.inventory("calm").await;

    m.prepare("dies").await;
    stack.crash_every_step(true);
    let up = m.converge("dies", false).await;
    let after_up = m.inventory("dies").await;
    let died_in_up = stack.crash_every_step(true);
    let down = m.converge("dies", true).await;
    let after_down = m.inventory("dies").await;
    let died = stack.crash_every_step(false);
    println!(
        "a step dying after its work: {died_in_up} invocations died in up, {} in down; up {up:?}, down {down:?}",
        died - died_in_up
    );
    assert_eq!(up, (EnvironmentState::Ready, 1));
    assert_eq!(down, (EnvironmentState::Deleted, 1));
    assert!(died_in_up >= 8 && died > died_in_up, "{died_in_up}/{died}");
    assert_eq!(diff(&ready, &after_up), vec![], "after up");
    assert_eq!(diff(&deleted, &after_down), vec![], "after down");

    // A Parallel branch failing while its sibling is still polling: both branches poll
    // (the cluster says CREATING, the database creating), then the database is refused.
    // Step Functions stops the cluster's loop; the environment is Failed with the lease
    // free, and the next up picks the cluster up where it was, making nothing twice.
    m.prepare("branch").await;
    stack.delay(local_stack::cluster_creating("branch", 1000));
    stack.delay(local_stack::database_creating("branch", 1000));
    let started = &m.driven.started;
    let execution = started
        .start(&m.driven.operations, "branch", false, "matrix")
        .await;
    let arn = started.execution_arn(&execution, false);
    // Only once both loops are waiting is the database refused, whatever the machine's load.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let entered = local_stack::states_entered(&m.driven.sfn, &arn).await;
        if ["Cluster wait", "Database wait"]
            .iter()
            .all(|w| entered.iter().any(|s| s == w))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "both branches should poll: {entered:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    stack.inject(Fault::query(
        "DescribeDBInstances",
        "strata-branch",
        400,
        "InvalidParameterCombination",
    ));
    let failed = local_stack::ended(&m.driven.sfn, &arn).await;
    stack.clear_delays();
    let entered = local_stack::states_entered(&m.driven.sfn, failed.execution_arn()).await;
    assert_eq!(failed.error(), Some("AwsRejected"), "{entered:?}");
    assert!(
        entered.iter().any(|s| s == "Cluster wait")
            && entered.ends_with(&["FinishFailed".into(), "Failed".into()]),
        "the cluster was polling when the database failed: {entered:?}"
    );
    let status = m.driven.started.status("branch").await;
    println!(
        "a branch failing while its sibling polls: {:?}; cluster {:?}, database {:?}",
        status.state,
        status
            .components
            .get(&strata_core::Component::Cluster)
            .map(|c| c.phase),
        status
            .components
            .get(&strata_core::Component::Database)
            .map(|c| c.phase),
    );
    assert_eq!(status.state, EnvironmentState::Failed);
    assert_eq!(
        status.components[&strata_core::Component::Cluster].phase,
        strata_core::status::ComponentPhase::Creating,
        "the cluster's loop was stopped mid-create"
    );
    assert_eq!(
        m.converge("branch", false).await,
        (EnvironmentState::Ready, 1)
    );
    assert_eq!(
        diff(&ready, &m.inventory("branch").await),
        vec![],
        "after the resumed up"
    );
    assert_eq!(
        m.converge("branch", true).await,
        (EnvironmentState::Deleted, 1)
    );
    assert_eq!(
        diff(&deleted, &m.inventory("branch").await),
        vec![],
        "after down"
    );
}
