//! The component graph, as data. Create order, delete order and blast radius are all derived
//! from [`Component::depends_on`] and, for an environment's own components, from its spec
//! ([`crate::custom`]); nothing else in Strata hard-codes an order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One part of an environment, handled by one step of the state machines: one of Strata's
/// own, or one the environment's spec defines (`spec.components`, [`crate::custom`]).
/// `Copy`, like the built-in names, because it keys every status map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    Network,
    Cluster,
    Database,
    Storage,
    Config,
    App,
    Dns,
    Custom(CustomName),
}

/// The name of a custom component: a DNS label of at most [`CustomName::MAX`] characters
/// that is not a built-in component's name. Held inline so that [`Component`] stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomName {
    len: u8,
    bytes: [u8; CustomName::MAX],
}

impl CustomName {
    /// Long enough for a readable name; short enough that `strata-<env>-<name>` (a
    /// CloudFormation stack) stays well inside AWS's limits.
    pub const MAX: usize = 24;

    pub fn new(name: &str) -> Result<Self, String> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() > Self::MAX {
            return Err(format!("must be 1 to {} characters", Self::MAX));
        }
        let label = bytes[0].is_ascii_lowercase()
            && bytes[bytes.len() - 1] != b'-'
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if !label {
            return Err(
                "must be lowercase letters, digits and '-', start with a letter and not end with '-'"
                    .into(),
            );
        }
        if Component::BUILT_IN.iter().any(|c| c.name() == name) {
            return Err(format!("{name} is one of Strata's own components"));
        }
        let mut inline = [0u8; Self::MAX];
        inline[..bytes.len()].copy_from_slice(bytes);
        Ok(Self {
            len: bytes.len() as u8,
            bytes: inline,
        })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).expect("checked on construction")
    }
}

impl fmt::Debug for CustomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// The design's layers, bottom (provisioned infrastructure) to top (application).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Layer {
    Provisioned = 3,
    Configured = 2,
    Application = 1,
}

impl Component {
    /// Strata's own components, each a Lambda of the template.
    pub const BUILT_IN: [Component; 7] = [
        Component::Network,
        Component::Cluster,
        Component::Database,
        Component::Storage,
        Component::Config,
        Component::App,
        Component::Dns,
    ];

    /// The built-in edges of the graph: what must exist before this component can. A custom
    /// component's come from the spec: ask the environment ([`crate::Environment::dependencies`]),
    /// which also adds the custom components a built-in one reads.
    pub const fn depends_on(self) -> &'static [Component] {
        use Component::*;
        match self {
            Custom(_) => &[],
            Network | Storage => &[],
            Cluster | Database => &[Network],
            // The config layer writes the DB connection secret and the bucket names into the
            // cluster, so it needs all three below it.
            Config => &[Cluster, Database, Storage],
            App => &[Config],
            Dns => &[App],
        }
    }

    pub const fn layer(self) -> Layer {
        use Component::*;
        match self {
            // A team's own piece of infrastructure: a queue, a cache, a vendor's stack.
            Network | Cluster | Database | Storage | Custom(_) => Layer::Provisioned,
            Config => Layer::Configured,
            App | Dns => Layer::Application,
        }
    }

    /// Holds data that a recreate or delete would lose.
    pub const fn is_stateful(self) -> bool {
        matches!(self, Component::Database | Component::Storage)
    }

    pub fn is_custom(self) -> bool {
        matches!(self, Component::Custom(_))
    }

    pub fn name(&self) -> &str {
        use Component::*;
        match self {
            Custom(name) => name.as_str(),
            Network => "network",
            Cluster => "cluster",
            Database => "database",
            Storage => "storage",
            Config => "config",
            App => "app",
            Dns => "dns",
        }
    }

    /// A built-in component by name.
    pub fn from_name(name: &str) -> Option<Component> {
        Component::BUILT_IN.into_iter().find(|c| c.name() == name)
    }

    /// A built-in component, or else a custom one if the name is valid for one.
    pub fn parse(name: &str) -> Result<Component, String> {
        match Component::from_name(name) {
            Some(c) => Ok(c),
            None => CustomName::new(name).map(Component::Custom),
        }
    }

    /// The graph of the built-in components.
    pub fn graph() -> Graph<Component> {
        Graph::new(
            Component::BUILT_IN,
            Component::BUILT_IN
                .into_iter()
                .flat_map(|c| c.depends_on().iter().map(move |d| (c, *d))),
        )
        .expect("the component graph is acyclic")
    }
}

/// The component graph as a Mermaid flowchart, one subgraph per layer, edges pointing from a
/// component to what it depends on.
pub fn mermaid() -> String {
    let mut out = String::from("flowchart TB\n");
    for (layer, title) in [
        (Layer::Application, "1 application"),
        (Layer::Configured, "2 configured infrastructure"),
        (Layer::Provisioned, "3 provisioned infrastructure"),
    ] {
        out.push_str(&format!("  subgraph layer{} [\"{title}\"]\n", layer as u8));
        for c in Component::BUILT_IN
            .into_iter()
            .filter(|c| c.layer() == layer)
        {
            out.push_str(&format!("    {c}\n"));
        }
        out.push_str("  end\n");
    }
    for c in Component::BUILT_IN {
        for d in c.depends_on() {
            out.push_str(&format!("  {c} --> {d}\n"));
        }
    }
    out
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Component {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Component {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Component::parse(&name)
            .map_err(|why| serde::de::Error::custom(format!("component {name:?}: {why}")))
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Component {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Component".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "One of Strata's components (network, cluster, database, storage, config, app, dns) or one the spec defines in `spec.components`.",
            "type": "string",
            "pattern": "^[a-z]([-a-z0-9]{0,22}[a-z0-9])?$"
        })
    }
}

/// A dependency graph over nodes of any ordered type. Generic so that its properties can be
/// tested on arbitrary graphs, not only on the one Strata ships.
#[derive(Debug, Clone)]
pub struct Graph<T: Copy + Ord> {
    /// node → the nodes it depends on.
    dependencies: BTreeMap<T, BTreeSet<T>>,
    /// node → the nodes that depend on it.
    dependents: BTreeMap<T, BTreeSet<T>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("the dependency graph has a cycle")]
    Cycle,
    #[error("an edge names a node that is not in the graph")]
    UnknownNode,
}

impl<T: Copy + Ord> Graph<T> {
    /// `edges` are `(node, depends_on)` pairs.
    pub fn new(
        nodes: impl IntoIterator<Item = T>,
        edges: impl IntoIterator<Item = (T, T)>,
    ) -> Result<Self, GraphError> {
        let mut dependencies: BTreeMap<T, BTreeSet<T>> =
            nodes.into_iter().map(|n| (n, BTreeSet::new())).collect();
        let mut dependents: BTreeMap<T, BTreeSet<T>> = dependencies.clone();
        for (node, on) in edges {
            if !dependencies.contains_key(&node) || !dependencies.contains_key(&on) {
                return Err(GraphError::UnknownNode);
            }
            dependencies.entry(node).or_default().insert(on);
            dependents.entry(on).or_default().insert(node);
        }
        let graph = Self {
            dependencies,
            dependents,
        };
        let placed: usize = graph.levels().iter().map(Vec::len).sum();
        if placed != graph.dependencies.len() {
            return Err(GraphError::Cycle);
        }
        Ok(graph)
    }

    pub fn nodes(&self) -> impl Iterator<Item = T> + '_ {
        self.dependencies.keys().copied()
    }

    pub fn dependencies(&self, node: T) -> impl Iterator<Item = T> + '_ {
        self.dependencies.get(&node).into_iter().flatten().copied()
    }

    /// Kahn's algorithm by levels; nodes left out are on a cycle.
    fn levels(&self) -> Vec<Vec<T>> {
        let mut remaining: BTreeMap<T, usize> = self
            .dependencies
            .iter()
            .map(|(n, deps)| (*n, deps.len()))
            .collect();
        let mut levels = Vec::new();
        loop {
            let ready: Vec<T> = remaining
                .iter()
                .filter(|(_, left)| **left == 0)
                .map(|(n, _)| *n)
                .collect();
            if ready.is_empty() {
                return levels;
            }
            for n in &ready {
                remaining.remove(n);
                for d in &self.dependents[n] {
                    if let Some(left) = remaining.get_mut(d) {
                        *left -= 1;
                    }
                }
            }
            levels.push(ready);
        }
    }

    /// Create order: each stage's nodes depend only on earlier stages, so a stage's nodes
    /// run in parallel.
    pub fn create_stages(&self) -> Vec<Vec<T>> {
        self.levels()
    }

    /// Delete order: the create stages reversed; a node goes only after all its dependents.
    pub fn delete_stages(&self) -> Vec<Vec<T>> {
        let mut stages = self.levels();
        stages.reverse();
        stages
    }

    /// Everything that (transitively) depends on `node`: what a recreate of it drags along.
    pub fn blast_radius(&self, node: T) -> BTreeSet<T> {
        let mut found = BTreeSet::new();
        let mut queue = vec![node];
        while let Some(n) = queue.pop() {
            for d in self.dependents.get(&n).into_iter().flatten() {
                if found.insert(*d) {
                    queue.push(*d);
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strata_create_stages() {
        use Component::*;
        assert_eq!(
            Component::graph().create_stages(),
            vec![
                vec![Network, Storage],
                vec![Cluster, Database],
                vec![Config],
                vec![App],
                vec![Dns]
            ]
        );
    }

    #[test]
    fn recreating_the_network_drags_everything_but_storage() {
        use Component::*;
        let radius = Component::graph().blast_radius(Network);
        assert_eq!(
            radius,
            BTreeSet::from([Cluster, Database, Config, App, Dns])
        );
        assert!(Component::graph().blast_radius(Dns).is_empty());
    }

    #[test]
    fn cycles_are_refused() {
        assert_eq!(
            Graph::new([1, 2, 3], [(1, 2), (2, 3), (3, 1)]).unwrap_err(),
            GraphError::Cycle
        );
        assert_eq!(
            Graph::new([1, 2], [(1, 9)]).unwrap_err(),
            GraphError::UnknownNode
        );
    }

    #[test]
    fn names_round_trip() {
        for c in Component::BUILT_IN {
            assert_eq!(Component::from_name(c.name()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
            assert_eq!(
                serde_json::from_value::<Component>(c.name().into()).unwrap(),
                c
            );
        }
        let queue: Component = serde_json::from_value("queue".into()).unwrap();
        assert_eq!(queue, Component::Custom(CustomName::new("queue").unwrap()));
        assert_eq!(serde_json::to_value(queue).unwrap(), "queue");
        assert!(queue > Component::Dns, "built-in components sort first");
    }

    #[test]
    fn custom_names_are_dns_labels_apart_from_the_built_in_ones() {
        for bad in [
            "",
            "Queue",
            "9lives",
            "queue-",
            "a_b",
            "network",
            &"q".repeat(25),
        ] {
            assert!(CustomName::new(bad).is_err(), "{bad:?} was accepted");
            assert!(serde_json::from_value::<Component>(bad.into()).is_ok() == (bad == "network"));
        }
        assert_eq!(CustomName::new(&"q".repeat(24)).unwrap().as_str().len(), 24);
        assert_eq!(CustomName::new("search-2").unwrap().as_str(), "search-2");
    }
}
