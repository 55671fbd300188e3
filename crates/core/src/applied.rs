//! What each component last converged to: the part of the spec it records when Ready, and
//! the spec those parts make together — the "applied" side of a plan, and what a destroy
//! acts on (a renamed DNS name's old records, a database's old deletion policy).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::graph::Component;
use crate::spec::Environment;

impl Environment {
    /// The part of the spec `component` converges to. Config has none of its own: it is
    /// derived from the layers below.
    pub fn section(&self, component: Component) -> Value {
        let spec = &self.spec;
        match component {
            Component::Network => json!({"region": spec.region, "network": spec.network}),
            Component::Cluster => json!({"region": spec.region, "cluster": spec.cluster}),
            Component::Database => json!({"region": spec.region, "database": spec.database}),
            Component::Storage => json!({"region": spec.region, "storage": spec.storage}),
            Component::Config => json!({}),
            Component::App => json!({"app": spec.app}),
            Component::Dns => json!({"dns": spec.dns}),
            // One element of `spec.components`, put back by name.
            Component::Custom(_) => json!({"component": self.custom_component(component)}),
        }
    }

    /// This spec with each recorded section put back (the network's region last, so the
    /// base layer's wins): what the components stand converged to. A section that no longer
    /// reads back leaves the spec as it is.
    pub fn with_applied(&self, applied: &BTreeMap<Component, Value>) -> Environment {
        let mut tree = self.to_json();
        let ordered = applied
            .iter()
            .filter(|(c, _)| **c != Component::Network)
            .chain(applied.iter().filter(|(c, _)| **c == Component::Network));
        for (component, section) in ordered {
            if component.is_custom() {
                put_back_custom(&mut tree, component.name(), &section["component"]);
                continue;
            }
            for (key, value) in section.as_object().into_iter().flatten() {
                tree["spec"][key] = value.clone();
            }
        }
        serde_json::from_value(tree).unwrap_or_else(|_| self.clone())
    }
}

/// A custom component's recorded spec in place of the one of that name, or added when the
/// spec no longer has it (what its destroy acts on); a recorded `null` (never converged)
/// changes nothing.
fn put_back_custom(tree: &mut Value, name: &str, recorded: &Value) {
    if recorded.is_null() {
        return;
    }
    let list = &mut tree["spec"]["components"];
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    let items = list.as_array_mut().expect("made an array above");
    match items.iter_mut().find(|c| c["name"] == name) {
        Some(item) => *item = recorded.clone(),
        None => items.push(recorded.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staging() -> Environment {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        let text = std::fs::read_to_string(format!("{dir}/../../examples/staging.yaml")).unwrap();
        Environment::parse(&text).unwrap()
    }

    #[test]
    fn a_spec_with_its_own_sections_put_back_is_itself() {
        let env = staging();
        let all: BTreeMap<Component, Value> = env
            .components()
            .into_iter()
            .map(|c| (c, env.section(c)))
            .collect();
        assert_eq!(env.with_applied(&all), env);
    }

    #[test]
    fn each_component_keeps_what_it_converged_to() {
        let old = staging();
        let mut new = old.clone();
        new.spec.network.cidr = "10.99.0.0/16".into();
        new.spec.dns.as_mut().unwrap().name = "elsewhere.example.com".into();
        new.spec.dns = None;
        // The network converged to the new CIDR already; the DNS name did not change yet.
        let applied = BTreeMap::from([
            (Component::Network, new.section(Component::Network)),
            (Component::Dns, old.section(Component::Dns)),
        ]);
        let standing = new.with_applied(&applied);
        assert_eq!(standing.spec.network.cidr, "10.99.0.0/16");
        assert_eq!(standing.spec.dns, old.spec.dns);
        assert_eq!(standing.spec.cluster, new.spec.cluster);
    }
}
