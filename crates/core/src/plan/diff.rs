//! The field changes of one component between two specs, each with its effect (in place or
//! replace) and why.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::sections::{diff_custom, diff_database, diff_storage};
use super::{Effect, FieldChange};
use crate::graph::Component;
use crate::spec::Environment;

pub(crate) struct Diff(Vec<FieldChange>);

impl Diff {
    pub(crate) fn field<T: Serialize + PartialEq>(
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

pub(crate) fn diff(component: Component, old: &Environment, new: &Environment) -> Vec<FieldChange> {
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

fn minor(version: &str) -> Option<u32> {
    version.split_once('.').and_then(|(_, m)| m.parse().ok())
}
