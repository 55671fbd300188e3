use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use strata_core::{Action, Component, Environment, Graph, PlanError, plan};
use strata_testkit::staging;

/// Random DAGs: node i may depend only on nodes below i, so no cycle is possible.
fn dag() -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
    (1usize..14).prop_flat_map(|n| {
        let pairs: Vec<(usize, usize)> = (0..n).flat_map(|i| (0..i).map(move |j| (i, j))).collect();
        let len = pairs.len();
        (Just(n), proptest::sample::subsequence(pairs, 0..=len))
    })
}

proptest! {
    #[test]
    fn create_stages_respect_every_dependency((n, edges) in dag()) {
        let graph = Graph::new(0..n, edges.iter().copied()).unwrap();
        let stages = graph.create_stages();
        let stage_of: BTreeMap<usize, usize> = stages
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.iter().map(move |n| (*n, i)))
            .collect();
        prop_assert_eq!(stage_of.len(), n, "every node is placed exactly once");
        for (node, on) in &edges {
            prop_assert!(stage_of[on] < stage_of[node], "{} runs before its dependency {}", node, on);
        }
        let mut reversed = graph.delete_stages();
        reversed.reverse();
        prop_assert_eq!(reversed, stages);
    }

    #[test]
    fn delete_order_removes_dependents_first((n, edges) in dag()) {
        let graph = Graph::new(0..n, edges.iter().copied()).unwrap();
        let order: Vec<usize> = graph.delete_stages().into_iter().flatten().collect();
        let position = |x: usize| order.iter().position(|y| *y == x).unwrap();
        for (node, on) in &edges {
            prop_assert!(position(*node) < position(*on));
        }
    }

    #[test]
    fn blast_radius_is_closed_and_excludes_the_node((n, edges) in dag(), pick in 0usize..14) {
        let graph = Graph::new(0..n, edges.iter().copied()).unwrap();
        let node = pick % n;
        let radius = graph.blast_radius(node);
        prop_assert!(!radius.contains(&node));
        for (dependent, on) in &edges {
            if *on == node || radius.contains(on) {
                prop_assert!(radius.contains(dependent), "{} depends on {} but is outside", dependent, on);
            }
        }
        for x in &radius {
            prop_assert!(graph.blast_radius(*x).is_subset(&radius));
        }
    }

    #[test]
    fn plans_drag_the_whole_blast_radius_of_a_recreate(
        cidr in prop::sample::select(vec!["10.40.0.0/16", "10.41.0.0/16"]),
        version in prop::sample::select(vec!["1.30", "1.31", "1.32", "1.33"]),
        storage in prop::sample::select(vec![20u32, 10, 100]),
        engine_version in prop::sample::select(vec!["15.2", "16.4", "17.1"]),
        replicas in 0u32..4,
        with_dns in any::<bool>(),
        with_uploads in any::<bool>(),
        dns_name in prop::sample::select(vec!["staging.example.com", "shop.example.com"]),
    ) {
        let old = staging();
        let mut new = old.clone();
        new.spec.network.cidr = cidr.to_owned();
        new.spec.cluster.version = version.to_owned();
        let db = new.spec.database.as_mut().unwrap();
        db.storage_gib = storage.max(20);
        if storage < 20 { db.storage_gib = 20; db.engine_version = engine_version.to_owned(); }
        new.spec.app.services[0].replicas = replicas;
        if !with_uploads { new.spec.storage.as_mut().unwrap().buckets.truncate(1); }
        if with_dns { new.spec.dns.as_mut().unwrap().name = dns_name.to_owned(); } else { new.spec.dns = None; }

        let p = plan(Some(&old), &new);
        let graph = Component::graph();
        for cp in &p.components {
            if cp.action == Action::Recreate {
                for dependent in graph.blast_radius(cp.component) {
                    let a = p.action(dependent);
                    prop_assert!(
                        a == Action::Recreate || (dependent == Component::Dns && !with_dns),
                        "{} is recreated but its dependent {} is {:?}", cp.component, dependent, a
                    );
                }
            }
        }
        prop_assert!(p.data_losing().iter().all(|c| c.is_stateful()));
        let everything: BTreeSet<Component> = Component::BUILT_IN.into_iter().collect();
        prop_assert!(p.check_allowed(&everything).is_ok());
        prop_assert!(plan(Some(&new), &new).is_noop());
    }
}

#[test]
fn a_new_environment_creates_what_its_spec_has() {
    let preview = Environment::parse(&strata_testkit::examples::text("preview.json")).unwrap();
    let p = plan(None, &preview);
    assert_eq!(p.action(Component::Network), Action::Create);
    assert_eq!(p.action(Component::App), Action::Create);
    assert_eq!(p.action(Component::Database), Action::NoOp);
    assert_eq!(p.action(Component::Dns), Action::NoOp);
}

#[test]
fn shrinking_the_database_recreates_it_and_is_refused_unless_allowed() {
    let old = staging();
    let mut new = old.clone();
    new.spec.database.as_mut().unwrap().storage_gib = 100;
    let grow = plan(Some(&old), &new);
    assert_eq!(grow.action(Component::Database), Action::Update);
    assert_eq!(grow.action(Component::Config), Action::NoOp);
    assert!(grow.check_allowed(&BTreeSet::new()).is_ok());

    let shrink = plan(Some(&new), &old);
    assert_eq!(shrink.action(Component::Database), Action::Recreate);
    for dragged in [Component::Config, Component::App, Component::Dns] {
        assert_eq!(shrink.action(dragged), Action::Recreate, "{dragged}");
    }
    assert_eq!(shrink.action(Component::Cluster), Action::NoOp);
    let change = &shrink
        .components
        .iter()
        .find(|c| c.component == Component::Database)
        .unwrap()
        .changes[0];
    assert_eq!(change.field, "spec.database.storageGiB");
    assert_eq!((change.from.as_str(), change.to.as_str()), ("100", "20"));
    assert_eq!(
        shrink.check_allowed(&BTreeSet::new()),
        Err(PlanError::StatefulChangeNotAllowed(vec![
            Component::Database
        ]))
    );
    assert!(
        shrink
            .check_allowed(&BTreeSet::from([Component::Database]))
            .is_ok()
    );
}

#[test]
fn restoring_another_snapshot_is_a_recreate_that_must_be_allowed() {
    let old = staging();
    let mut new = old.clone();
    new.spec.database.as_mut().unwrap().restore_from = Some("strata-staging-final-g1-5".into());
    let planned = plan(Some(&old), &new);
    assert_eq!(planned.action(Component::Database), Action::Recreate);
    assert_eq!(
        planned.check_allowed(&BTreeSet::new()),
        Err(PlanError::StatefulChangeNotAllowed(vec![
            Component::Database
        ]))
    );
    // A new environment restoring from a snapshot simply creates it.
    assert_eq!(plan(None, &new).action(Component::Database), Action::Create);
}

#[test]
fn a_new_engine_replaces_the_database_and_its_version_goes_with_it() {
    let old = staging();
    let mut new = old.clone();
    let db = new.spec.database.as_mut().unwrap();
    db.engine = strata_core::spec::DatabaseEngine::Mysql;
    db.engine_version = "8.0.39".into();
    let p = plan(Some(&old), &new);
    assert_eq!(
        p.recreated(),
        [
            Component::Database,
            Component::Config,
            Component::App,
            Component::Dns
        ]
    );
    let changes = &p
        .components
        .iter()
        .find(|c| c.component == Component::Database)
        .unwrap()
        .changes;
    let version = changes
        .iter()
        .find(|c| c.field == "spec.database.engineVersion")
        .unwrap();
    // 16.4 -> 8.0.39 is no downgrade: a version of another engine.
    assert!(version.why.contains("new engine"), "{}", version.why);
}

#[test]
fn eks_upgrades_one_minor_in_place_and_recreates_otherwise() {
    let old = staging();
    for (version, expected) in [
        ("1.32", Action::Update),
        ("1.33", Action::Recreate),
        ("1.30", Action::Recreate),
    ] {
        let mut new = old.clone();
        new.spec.cluster.version = version.to_owned();
        assert_eq!(
            plan(Some(&old), &new).action(Component::Cluster),
            expected,
            "{version}"
        );
    }
}

#[test]
fn removing_a_bucket_or_the_database_needs_permission() {
    let old = staging();
    let mut new = old.clone();
    new.spec.storage.as_mut().unwrap().buckets.pop();
    let p = plan(Some(&old), &new);
    assert_eq!(p.action(Component::Storage), Action::Recreate);
    assert_eq!(p.data_losing(), vec![Component::Storage]);

    let mut new = old.clone();
    new.spec.database = None;
    let p = plan(Some(&old), &new);
    assert_eq!(p.action(Component::Database), Action::Delete);
    assert_eq!(p.action(Component::Config), Action::Update);
    assert_eq!(p.data_losing(), vec![Component::Database]);
}

#[test]
fn an_image_change_is_the_app_only_fast_path() {
    let old = staging();
    let mut new = old.clone();
    new.spec.app.services[1].version = "~2.4".to_owned();
    let p = plan(Some(&old), &new);
    assert!(p.touches_only_app(), "{p:?}");
    let change = &p
        .components
        .iter()
        .find(|c| c.component == Component::App)
        .unwrap()
        .changes[0];
    assert_eq!(change.field, "spec.app.services[api]");

    let mut scaled = new.clone();
    scaled.spec.cluster.node_group.desired_size = 3;
    assert!(!plan(Some(&old), &scaled).touches_only_app());
}
