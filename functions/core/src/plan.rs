//! `plan(old, new)`: what converging from the stored spec to a new one does to each
//! component, and which recreates it drags along.
//!
//! Which field changes AWS (or Kubernetes) applies in place and which force a recreate:
//!
//! | field                                   | change              | effect   | why |
//! |-----------------------------------------|---------------------|----------|-----|
//! | `spec.region`                           | any                 | replace  | every resource is regional |
//! | `spec.network.cidr`                     | any                 | replace  | a VPC's primary CIDR is fixed |
//! | `spec.network.azCount`                  | any                 | replace  | the subnet layout is re-cut |
//! | `spec.network.natGateways`              | any                 | in place | NAT gateways and routes are added/removed |
//! | `spec.cluster.version`                  | one minor up        | in place | UpdateClusterVersion |
//! | `spec.cluster.version`                  | down, or skip minors| replace  | EKS upgrades one minor at a time, never down |
//! | `spec.cluster.nodeGroup.*Size`          | any                 | in place | UpdateNodegroupConfig |
//! | `spec.cluster.nodeGroup.instanceTypes`, `diskGib` | any       | in place | a new node group replaces the old; the cluster stays |
//! | `spec.database.engine`                  | any                 | replace  | RDS cannot change engine |
//! | `spec.database.engineVersion`           | up                  | in place | ModifyDBInstance (AllowMajorVersionUpgrade) |
//! | `spec.database.engineVersion`           | down                | replace  | RDS cannot downgrade |
//! | `spec.database.engineVersion` with a new engine | any       | replace  | it comes with the engine |
//! | `spec.database.storageGiB`              | up                  | in place | ModifyDBInstance |
//! | `spec.database.storageGiB`              | down                | replace  | RDS storage cannot shrink |
//! | `spec.database.instanceClass`, `multiAz`, `backupRetentionDays`, `onDelete` | any | in place | ModifyDBInstance / policy only |
//! | `spec.storage.buckets[name]`            | added               | in place | CreateBucket |
//! | `spec.storage.buckets[name]`            | removed             | replace  | the bucket and its objects would go |
//! | `spec.storage.buckets[name].versioning`, `onDelete` | any     | in place | PutBucketVersioning / policy only |
//! | `spec.app.services…`                    | any                 | in place | a rollout (Deployment, Job, Service) |
//! | `spec.dns.zone`, `spec.dns.name`        | any                 | replace  | the old record is deleted, a new one made |
//! | `spec.components[name]` kind, `lambda.functionArn` | any      | replace  | another kind or function owns other resources |
//! | `spec.components[name]` template, inputs, `dependsOn` | any   | in place | a stack update (its change set tells replacements) or the function's own update |
//!
//! A component that is recreated drags its whole blast radius (transitive dependents) along.
//! Recreating or deleting a stateful component (database, storage) is refused unless the
//! caller allows it by name.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::custom::{CustomComponentSpec, Kind};
use crate::graph::{Component, Graph};
use crate::spec::{DatabaseSpec, Environment, StorageSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Recreate,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Effect {
    InPlace,
    Replace,
}

/// One changed field and what changing it costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    pub from: String,
    pub to: String,
    pub effect: Effect,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ComponentPlan {
    pub component: Component,
    pub action: Action,
    pub changes: Vec<FieldChange>,
    /// Components whose recreate (or creation/deletion) forces this component's action.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub because_of: Vec<Component>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Every component, in create order.
    pub components: Vec<ComponentPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "the plan would recreate or delete {}, losing its data; allow it explicitly to go ahead",
        names(.0)
    )]
    StatefulChangeNotAllowed(Vec<Component>),
}

fn names(components: &[Component]) -> String {
    components
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Plan {
    pub fn action(&self, component: Component) -> Action {
        self.components
            .iter()
            .find(|p| p.component == component)
            .map_or(Action::NoOp, |p| p.action)
    }

    pub fn is_noop(&self) -> bool {
        self.components.iter().all(|p| p.action == Action::NoOp)
    }

    /// Stateful components this plan would recreate or delete, or whose deletion policy it
    /// switches to `delete` (a later delete would lose their data without a snapshot).
    pub fn data_losing(&self) -> Vec<Component> {
        self.components
            .iter()
            .filter(|p| {
                p.component.is_stateful()
                    && (matches!(p.action, Action::Recreate | Action::Delete)
                        || p.changes
                            .iter()
                            .any(|c| c.field.ends_with(".onDelete") && c.to == "delete"))
            })
            .map(|p| p.component)
            .collect()
    }

    /// The components it recreates (torn down first, then created anew).
    pub fn recreated(&self) -> Vec<Component> {
        self.components
            .iter()
            .filter(|p| p.action == Action::Recreate)
            .map(|p| p.component)
            .collect()
    }

    /// Refuses the plan when it loses data the caller did not explicitly allow.
    pub fn check_allowed(&self, allow: &BTreeSet<Component>) -> Result<(), PlanError> {
        let refused: Vec<Component> = self
            .data_losing()
            .into_iter()
            .filter(|c| !allow.contains(c))
            .collect();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(PlanError::StatefulChangeNotAllowed(refused))
        }
    }

    /// True when only the application layer changes: the deploy fast path applies.
    pub fn touches_only_app(&self) -> bool {
        !self.is_noop()
            && self.components.iter().all(|p| {
                p.action == Action::NoOp
                    || (p.component == Component::App && p.action == Action::Update)
            })
    }
}

/// Plans the move from `old` (the stored spec, if any) to `new`.
pub fn plan(old: Option<&Environment>, new: &Environment) -> Plan {
    let graph = graph_of(old, new);
    let order: Vec<Component> = graph.create_stages().into_iter().flatten().collect();
    let mut plans: BTreeMap<Component, ComponentPlan> = order
        .iter()
        .map(|&component| {
            let (action, changes) = match old {
                None if new.includes(component) => (Action::Create, Vec::new()),
                None => (Action::NoOp, Vec::new()),
                Some(old) => match (old.includes(component), new.includes(component)) {
                    (false, false) => (Action::NoOp, Vec::new()),
                    (false, true) => (Action::Create, Vec::new()),
                    (true, false) => (Action::Delete, Vec::new()),
                    (true, true) => {
                        let changes = diff(component, old, new);
                        (action_for(&changes), changes)
                    }
                },
            };
            (
                component,
                ComponentPlan {
                    component,
                    action,
                    changes,
                    because_of: Vec::new(),
                },
            )
        })
        .collect();

    // Propagate in create order so that a dependent sees its dependencies' final action.
    for &component in &order {
        let action = plans[&component].action;
        for dependent in graph.blast_radius(component) {
            if !new.includes(dependent) {
                continue;
            }
            let entry = plans
                .get_mut(&dependent)
                .expect("every component is planned");
            let forced = match (action, entry.action) {
                (Action::Recreate, Action::NoOp | Action::Update | Action::Recreate) => {
                    Some(Action::Recreate)
                }
                // A direct dependent reads the outputs of a component that comes or goes.
                (Action::Create | Action::Delete, Action::NoOp)
                    if new.dependencies(dependent).contains(&component) =>
                {
                    Some(Action::Update)
                }
                _ => None,
            };
            if let Some(forced) = forced {
                entry.action = forced;
                entry.because_of.push(component);
            }
        }
    }
    Plan {
        components: order
            .into_iter()
            .map(|c| plans.remove(&c).unwrap())
            .collect(),
    }
}

/// The graph over both specs' components: a custom component that goes is ordered by the
/// old spec's edges, the others by the new one's. Validation refuses a cycle in either; if one
/// got through anyway, the built-in graph still orders Strata's own components.
fn graph_of(old: Option<&Environment>, new: &Environment) -> Graph<Component> {
    // The new spec with the old one's dropped custom components beside its own: the
    // environment's own graph over both.
    let mut both = new.clone();
    both.spec.components.extend(
        old.into_iter()
            .flat_map(|o| o.custom_components())
            .filter(|(c, _)| !new.includes(*c))
            .map(|(_, spec)| spec.clone()),
    );
    both.graph().unwrap_or_else(|_| Component::graph())
}

fn action_for(changes: &[FieldChange]) -> Action {
    if changes.iter().any(|c| c.effect == Effect::Replace) {
        Action::Recreate
    } else if changes.is_empty() {
        Action::NoOp
    } else {
        Action::Update
    }
}

struct Diff(Vec<FieldChange>);

impl Diff {
    fn field<T: Serialize + PartialEq>(
        &mut self,
        field: &str,
        from: &T,
        to: &T,
        effect: Effect,
        why: &'static str,
    ) {
        if from != to {
            self.0.push(FieldChange {
                field: field.to_owned(),
                from: render(from),
                to: render(to),
                effect,
                why: why.to_owned(),
            });
        }
    }
}

fn render<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::from("?"),
    }
}

fn diff(component: Component, old: &Environment, new: &Environment) -> Vec<FieldChange> {
    use Effect::*;
    let (o, n) = (&old.spec, &new.spec);
    let mut d = Diff(Vec::new());
    if component.layer() == crate::graph::Layer::Provisioned || component == Component::Dns {
        d.field(
            "spec.region",
            &o.region,
            &n.region,
            Replace,
            "every resource is regional",
        );
    }
    match component {
        Component::Network => {
            let (a, b) = (&o.network, &n.network);
            d.field(
                "spec.network.cidr",
                &a.cidr,
                &b.cidr,
                Replace,
                "a VPC's primary CIDR is fixed",
            );
            d.field(
                "spec.network.azCount",
                &a.az_count,
                &b.az_count,
                Replace,
                "the subnet layout is re-cut",
            );
            d.field(
                "spec.network.natGateways",
                &a.nat_gateways,
                &b.nat_gateways,
                InPlace,
                "NAT gateways and routes are added or removed",
            );
        }
        Component::Cluster => {
            let (a, b) = (&o.cluster, &n.cluster);
            let one_minor_up = matches!(
                (minor(&a.version), minor(&b.version)),
                (Some(x), Some(y)) if y == x + 1
            );
            let (effect, why) = if one_minor_up {
                (InPlace, "UpdateClusterVersion, one minor up")
            } else {
                (
                    Replace,
                    "EKS upgrades one minor at a time and never downgrades",
                )
            };
            d.field("spec.cluster.version", &a.version, &b.version, effect, why);
            let (x, y) = (&a.node_group, &b.node_group);
            for (field, from, to) in [
                ("spec.cluster.nodeGroup.minSize", x.min_size, y.min_size),
                ("spec.cluster.nodeGroup.maxSize", x.max_size, y.max_size),
                (
                    "spec.cluster.nodeGroup.desiredSize",
                    x.desired_size,
                    y.desired_size,
                ),
            ] {
                d.field(field, &from, &to, InPlace, "UpdateNodegroupConfig");
            }
            let replaced_group = "a new node group replaces the old one; the cluster stays";
            d.field(
                "spec.cluster.nodeGroup.instanceTypes",
                &x.instance_types,
                &y.instance_types,
                InPlace,
                replaced_group,
            );
            d.field(
                "spec.cluster.nodeGroup.diskGib",
                &x.disk_gib,
                &y.disk_gib,
                InPlace,
                replaced_group,
            );
        }
        Component::Database => {
            if let (Some(a), Some(b)) = (&o.database, &n.database) {
                diff_database(&mut d, a, b);
            }
        }
        Component::Storage => {
            if let (Some(a), Some(b)) = (&o.storage, &n.storage) {
                diff_storage(&mut d, a, b);
            }
        }
        Component::Config => {
            // The config layer is derived: the DB secret, the bucket names and one service
            // account per service.
            let buckets = |e: &Environment| -> Vec<String> {
                e.spec
                    .storage
                    .iter()
                    .flat_map(|s| s.buckets.iter().map(|b| b.name.clone()))
                    .collect()
            };
            let services = |e: &Environment| -> Vec<String> {
                e.spec.app.services.iter().map(|s| s.name.clone()).collect()
            };
            d.field(
                "spec.storage.buckets",
                &buckets(old),
                &buckets(new),
                InPlace,
                "bucket names are configuration",
            );
            d.field(
                "spec.app.services",
                &services(old),
                &services(new),
                InPlace,
                "one service account per service",
            );
        }
        Component::App => {
            let by_name = |e: &Environment| -> BTreeMap<String, serde_json::Value> {
                e.spec
                    .app
                    .services
                    .iter()
                    .map(|s| (s.name.clone(), serde_json::to_value(s).unwrap_or_default()))
                    .collect()
            };
            let (a, b) = (by_name(old), by_name(new));
            for name in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
                d.field(
                    &format!("spec.app.services[{name}]"),
                    &a.get(name),
                    &b.get(name),
                    InPlace,
                    "a rollout",
                );
            }
        }
        Component::Dns => {
            if let (Some(a), Some(b)) = (&o.dns, &n.dns) {
                let why = "the old record is deleted and a new one made";
                d.field("spec.dns.zone", &a.zone, &b.zone, Replace, why);
                d.field("spec.dns.name", &a.name, &b.name, Replace, why);
            }
        }
        Component::Custom(_) => {
            if let (Some(a), Some(b)) = (
                old.custom_component(component),
                new.custom_component(component),
            ) {
                diff_custom(&mut d, a, b);
            }
        }
    }
    d.0
}

/// What the spec says of a custom component. Whether a CloudFormation change replaces
/// resources is the stack's own answer (its change set), not the spec's.
fn diff_custom(d: &mut Diff, a: &CustomComponentSpec, b: &CustomComponentSpec) {
    use Effect::*;
    let at = format!("spec.components[{}]", b.name);
    let kind = |c: &CustomComponentSpec| match c.kind() {
        Some(Kind::CloudFormation(_)) => "cloudFormation",
        Some(Kind::Lambda(_)) => "lambda",
        None => "none",
    };
    d.field(
        &format!("{at}.kind"),
        &kind(a),
        &kind(b),
        Replace,
        "the old kind's resources are destroyed and the new kind's made",
    );
    if let (Some(Kind::Lambda(x)), Some(Kind::Lambda(y))) = (a.kind(), b.kind()) {
        d.field(
            &format!("{at}.lambda.functionArn"),
            &x.function_arn,
            &y.function_arn,
            Replace,
            "another function owns other resources",
        );
    }
    if let (Some(Kind::CloudFormation(x)), Some(Kind::CloudFormation(y))) = (a.kind(), b.kind()) {
        let why = "a stack update (its change set says what it replaces)";
        d.field(
            &format!("{at}.cloudFormation.template"),
            &x.template,
            &y.template,
            InPlace,
            why,
        );
        d.field(
            &format!("{at}.cloudFormation.templateUrl"),
            &x.template_url,
            &y.template_url,
            InPlace,
            why,
        );
    }
    let names: BTreeSet<&String> = a.inputs.keys().chain(b.inputs.keys()).collect();
    for name in names {
        d.field(
            &format!("{at}.inputs.{}", crate::spec::path_key(name)),
            &a.inputs.get(name),
            &b.inputs.get(name),
            InPlace,
            "new inputs, applied by the component's own update",
        );
    }
    d.field(
        &format!("{at}.dependsOn"),
        &a.depends_on,
        &b.depends_on,
        InPlace,
        "only the order of the steps changes",
    );
}

fn diff_database(d: &mut Diff, a: &DatabaseSpec, b: &DatabaseSpec) {
    use Effect::*;
    d.field(
        "spec.database.engine",
        &a.engine,
        &b.engine,
        Replace,
        "RDS cannot change engine",
    );
    let (effect, why) = if a.engine != b.engine {
        (Replace, "the new engine's version, on a new instance")
    } else if numeric(&b.engine_version) >= numeric(&a.engine_version) {
        (InPlace, "ModifyDBInstance with AllowMajorVersionUpgrade")
    } else {
        (Replace, "RDS cannot downgrade an engine")
    };
    d.field(
        "spec.database.engineVersion",
        &a.engine_version,
        &b.engine_version,
        effect,
        why,
    );
    let (effect, why) = if b.storage_gib >= a.storage_gib {
        (InPlace, "ModifyDBInstance")
    } else {
        (Replace, "RDS storage cannot shrink")
    };
    d.field(
        "spec.database.storageGiB",
        &a.storage_gib,
        &b.storage_gib,
        effect,
        why,
    );
    d.field(
        "spec.database.instanceClass",
        &a.instance_class,
        &b.instance_class,
        InPlace,
        "ModifyDBInstance",
    );
    d.field(
        "spec.database.multiAz",
        &a.multi_az,
        &b.multi_az,
        InPlace,
        "ModifyDBInstance",
    );
    d.field(
        "spec.database.backupRetentionDays",
        &a.backup_retention_days,
        &b.backup_retention_days,
        InPlace,
        "ModifyDBInstance",
    );
    d.field(
        "spec.database.onDelete",
        &a.on_delete,
        &b.on_delete,
        InPlace,
        "a policy, not a resource",
    );
    d.field(
        "spec.database.restoreFrom",
        &a.restore_from,
        &b.restore_from,
        Replace,
        "a database is restored only when it is made: a new instance from the snapshot",
    );
}

fn diff_storage(d: &mut Diff, a: &StorageSpec, b: &StorageSpec) {
    use Effect::*;
    let old: BTreeMap<&str, bool> = a
        .buckets
        .iter()
        .map(|x| (x.name.as_str(), x.versioning))
        .collect();
    let new: BTreeMap<&str, bool> = b
        .buckets
        .iter()
        .map(|x| (x.name.as_str(), x.versioning))
        .collect();
    for name in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
        let field = format!("spec.storage.buckets[{name}]");
        match (old.get(name), new.get(name)) {
            (Some(_), None) => d.field(
                &field,
                &Some(name),
                &None,
                Replace,
                "the bucket and its objects would go",
            ),
            (None, Some(_)) => d.field(&field, &None, &Some(name), InPlace, "CreateBucket"),
            (Some(x), Some(y)) => d.field(
                &format!("{field}.versioning"),
                x,
                y,
                InPlace,
                "PutBucketVersioning",
            ),
            (None, None) => {}
        }
    }
    d.field(
        "spec.storage.onDelete",
        &a.on_delete,
        &b.on_delete,
        InPlace,
        "a policy, not a resource",
    );
}

fn minor(version: &str) -> Option<u32> {
    version.split_once('.').and_then(|(_, m)| m.parse().ok())
}

fn numeric(version: &str) -> Vec<u64> {
    version.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}
