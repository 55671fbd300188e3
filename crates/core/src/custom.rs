//! The environment's own components (`spec.components`): a team's queue, cache or vendor
//! stack, deployed as a CloudFormation stack or by a Lambda the team owns that follows the
//! component contract. They join the graph like Strata's own: their dependencies are the
//! components they name in `dependsOn` and the ones whose outputs their inputs read.
//!
//! **Stages.** The state machines are generated once for every environment, so Strata's own
//! components keep their fixed stages (network and storage first, dns fifth) and a custom
//! component runs in the earliest stage after everything it depends on: stage
//! `1 + max(stage of each dependency)`, 0 with none. Stages beyond dns are the custom
//! components' alone, up to [`STAGES`] in all: a longer chain of dependencies is refused.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::graph::{Component, CustomName, Graph};
use crate::spec::{Environment, FieldError};

/// How many create stages the state machines have: the five of Strata's own components and
/// three more after dns for custom components that depend on it.
pub const STAGES: usize = 8;

/// CloudFormation's limit on a template passed in the request (TemplateBody).
pub const MAX_TEMPLATE_BYTES: usize = 51_200;

/// One custom component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CustomComponentSpec {
    /// A DNS label of at most 24 characters, not one of Strata's own components' names.
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 24)))]
    pub name: String,
    /// Components (Strata's own or custom) that must be ready before this one. Those its
    /// inputs read outputs from are dependencies too without being listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Parameters (CloudFormation) or input values (Lambda), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, Input>,
    /// Deployed as one stack per environment and component (set this or `lambda`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_formation: Option<CloudFormationSpec>,
    /// Deployed by the team's own function, which follows the component contract
    /// (`contracts/custom-component.schema.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<LambdaSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CloudFormationSpec {
    /// The template itself (YAML or JSON), at most 51,200 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Or an `https://` URL of a template in S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct LambdaSpec {
    /// `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`; the name must
    /// start with the control plane's `CustomComponentFunctionPrefix`.
    pub function_arn: String,
}

/// An input: a literal, or another component's output
/// (`components.<component>.outputs.<key>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// A literal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Another component's output, `components.<component>.outputs.<key>`: that
    /// component is a dependency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_output: Option<String>,
}

/// One resource change of a CloudFormation change set, as a plan shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct StackChange {
    pub logical_id: String,
    pub resource_type: String,
    /// `Add`, `Modify`, `Remove` (AWS's words).
    pub action: String,
    /// For `Modify`: `True`, `False` or `Conditional` (AWS's words): whether CloudFormation
    /// replaces the resource, losing what it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// What a plan learned of an in-place change to a standing stack from a change set made
/// for it (and deleted): its changes, or why there are none to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct StackPreview {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<StackChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

impl StackPreview {
    pub fn unavailable(why: impl Into<String>) -> Self {
        Self {
            changes: Vec::new(),
            unavailable: Some(why.into()),
        }
    }

    /// The resources it would replace.
    pub fn replaced(&self) -> impl Iterator<Item = &StackChange> {
        self.changes
            .iter()
            .filter(|c| c.replacement.as_deref() == Some("True"))
    }
}

/// How a custom component is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    CloudFormation(&'a CloudFormationSpec),
    Lambda(&'a LambdaSpec),
}

impl CustomComponentSpec {
    pub fn kind(&self) -> Option<Kind<'_>> {
        match (&self.cloud_formation, &self.lambda) {
            (Some(cf), None) => Some(Kind::CloudFormation(cf)),
            (None, Some(l)) => Some(Kind::Lambda(l)),
            _ => None,
        }
    }

    /// The components whose outputs its inputs read.
    pub fn reads(&self) -> impl Iterator<Item = Component> + '_ {
        self.inputs
            .values()
            .filter_map(|i| i.from_output.as_deref())
            .filter_map(|r| OutputRef::parse(r).ok())
            .map(|r| r.component)
    }
}

/// The value `reference` (`components.<c>.outputs.<key>`) names among the components'
/// statuses, or why there is none.
pub fn read_output(
    reference: &str,
    statuses: &BTreeMap<Component, crate::ComponentStatus>,
) -> Result<String, String> {
    let r = OutputRef::parse(reference)?;
    statuses
        .get(&r.component)
        .and_then(|s| s.outputs.get(&r.key))
        .cloned()
        .ok_or_else(|| format!("{} has no output {}", r.component, r.key))
}

/// `components.<component>.outputs.<key>`: one output of one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRef {
    pub component: Component,
    pub key: String,
}

impl OutputRef {
    pub fn parse(text: &str) -> Result<Self, String> {
        let shape = "must read components.<component>.outputs.<key>";
        let rest = text.strip_prefix("components.").ok_or(shape)?;
        let (component, key) = rest.split_once(".outputs.").ok_or(shape)?;
        if key.is_empty() {
            return Err(shape.into());
        }
        let component =
            Component::parse(component).map_err(|why| format!("component {component}: {why}"))?;
        Ok(Self {
            component,
            key: key.to_owned(),
        })
    }
}

impl Environment {
    /// The spec's custom components, each with its name as a component. Names that are not
    /// valid are left out: [`Environment::parse`] refuses them, so only a spec built in code
    /// without validation has any.
    pub fn custom_components(&self) -> impl Iterator<Item = (Component, &CustomComponentSpec)> {
        self.spec.components.iter().filter_map(|c| {
            CustomName::new(&c.name)
                .ok()
                .map(|n| (Component::Custom(n), c))
        })
    }

    pub fn custom_component(&self, component: Component) -> Option<&CustomComponentSpec> {
        self.custom_components()
            .find(|(c, _)| *c == component)
            .map(|(_, spec)| spec)
    }

    /// Every component this spec has, Strata's own first.
    pub fn components(&self) -> Vec<Component> {
        Component::BUILT_IN
            .into_iter()
            .filter(|c| self.includes(*c))
            .chain(self.custom_components().map(|(c, _)| c))
            .collect()
    }

    /// What must be ready before `component` can be: the graph's edges for Strata's own,
    /// `dependsOn` and the components its inputs read for a custom one.
    pub fn dependencies(&self, component: Component) -> Vec<Component> {
        match self.custom_component(component) {
            None if component == Component::App => {
                let mut found: BTreeSet<Component> =
                    component.depends_on().iter().copied().collect();
                // Reading the app's or dns's outputs, or a component the environment does
                // not have, is refused by validation, not reported as a cycle too.
                found.extend(
                    self.app_reads()
                        .map(|(_, _, r)| r.component)
                        .filter(|c| !matches!(c, Component::App | Component::Dns))
                        .filter(|c| match c {
                            Component::Custom(_) => self.custom_component(*c).is_some(),
                            _ => self.includes(*c),
                        }),
                );
                found.into_iter().collect()
            }
            None => component.depends_on().to_vec(),
            Some(spec) => {
                let mut found: BTreeSet<Component> = spec
                    .depends_on
                    .iter()
                    .filter_map(|d| Component::parse(d).ok())
                    .collect();
                found.extend(spec.reads());
                found.into_iter().collect()
            }
        }
    }

    /// The outputs the app's services read into their environment:
    /// (service index, variable index, reference), the well-formed ones.
    pub fn app_reads(&self) -> impl Iterator<Item = (usize, usize, OutputRef)> + '_ {
        self.spec
            .app
            .services
            .iter()
            .enumerate()
            .flat_map(|(i, service)| {
                service.env.iter().enumerate().filter_map(move |(j, var)| {
                    let r = OutputRef::parse(var.from_output.as_deref()?).ok()?;
                    Some((i, j, r))
                })
            })
    }

    /// This environment's graph: Strata's own components (all of them, as the state
    /// machines run them all) and the spec's. Fails on a cycle or an unknown dependency.
    pub fn graph(&self) -> Result<Graph<Component>, crate::graph::GraphError> {
        let nodes: Vec<Component> = Component::BUILT_IN
            .into_iter()
            .chain(self.custom_components().map(|(c, _)| c))
            .collect();
        let edges: Vec<(Component, Component)> = nodes
            .iter()
            .flat_map(|c| self.dependencies(*c).into_iter().map(move |d| (*c, d)))
            .collect();
        Graph::new(nodes, edges)
    }

    /// The create stage each component runs in (see the module doc): Strata's own at their
    /// fixed stage, custom ones after their dependencies. `None` on a cycle.
    pub fn stages(&self) -> Option<BTreeMap<Component, usize>> {
        let graph = self.graph().ok()?;
        let built_in: BTreeMap<Component, usize> = Component::graph()
            .create_stages()
            .into_iter()
            .enumerate()
            .flat_map(|(i, stage)| stage.into_iter().map(move |c| (c, i)))
            .collect();
        let mut placed = built_in.clone();
        // The graph's own order visits every dependency before its dependents.
        for component in graph.create_stages().into_iter().flatten() {
            if component.is_custom() {
                let stage = graph
                    .dependencies(component)
                    .map(|d| placed[&d] + 1)
                    .max()
                    .unwrap_or(0);
                placed.insert(component, stage);
            }
        }
        Some(placed)
    }

    /// The custom components of each create stage, [`STAGES`] lists (empty where a stage
    /// has none): what Begin hands the state machines' custom-component maps.
    pub fn custom_stages(&self) -> Vec<Vec<Component>> {
        let mut stages = vec![Vec::new(); STAGES];
        for (component, stage) in self.stages().unwrap_or_default() {
            if component.is_custom() && stage < STAGES {
                stages[stage].push(component);
            }
        }
        stages
    }
}

/// What the state machines' custom-component maps run, by create stage (`s0` … `s7`, each
/// always written: moto's interpreter fails on a missing path), as Begin hands it over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CustomSteps {
    /// The custom components applied (up) or destroyed (down) in each stage.
    pub stages: BTreeMap<String, Vec<Component>>,
    /// For a recreate: those torn down first, by the stage they are created in.
    pub teardown: BTreeMap<String, Vec<Component>>,
    /// Whether `teardown` names any.
    pub tearing_down: bool,
}

impl Default for CustomSteps {
    fn default() -> Self {
        let empty: BTreeMap<String, Vec<Component>> =
            (0..STAGES).map(|i| (stage_key(i), Vec::new())).collect();
        Self {
            stages: empty.clone(),
            teardown: empty,
            tearing_down: false,
        }
    }
}

/// The key of create stage `i` in [`CustomSteps`]: `s0` … `s7`.
pub fn stage_key(i: usize) -> String {
    format!("s{i}")
}

impl CustomSteps {
    /// The steps of `standing` (the spec, with any custom component it dropped but whose
    /// resources stand put back from what it applied, so that an `up` destroys it), of which
    /// `recreate` are torn down first.
    pub fn of(standing: &Environment, recreate: &BTreeSet<Component>) -> Self {
        let mut steps = Self::default();
        for (i, stage) in standing.custom_stages().into_iter().enumerate() {
            let torn: Vec<Component> = stage
                .iter()
                .copied()
                .filter(|c| recreate.contains(c))
                .collect();
            steps.tearing_down |= !torn.is_empty();
            steps.teardown.insert(stage_key(i), torn);
            steps.stages.insert(stage_key(i), stage);
        }
        steps
    }
}

/// The rules of `spec.components`, every broken one reported with its field path.
pub(crate) fn validate(env: &Environment, errors: &mut Vec<FieldError>) {
    let mut push = |path: String, message: String| errors.push(FieldError::new(path, message));
    let mut seen = BTreeSet::new();
    let defined: BTreeSet<&str> = env
        .spec
        .components
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let has = |name: &str| match Component::from_name(name) {
        Some(c) => env.includes(c),
        None => defined.contains(name),
    };
    for (i, c) in env.spec.components.iter().enumerate() {
        let at = format!("spec.components[{i}]");
        if let Err(why) = CustomName::new(&c.name) {
            push(format!("{at}.name"), why);
        } else if !seen.insert(c.name.as_str()) {
            push(format!("{at}.name"), format!("{} is defined twice", c.name));
        }
        for (j, d) in c.depends_on.iter().enumerate() {
            if d == &c.name {
                push(
                    format!("{at}.dependsOn[{j}]"),
                    "a component cannot depend on itself".into(),
                );
            } else if !has(d) {
                push(
                    format!("{at}.dependsOn[{j}]"),
                    format!("{d} is not a component of this environment"),
                );
            }
        }
        for (key, input) in &c.inputs {
            let path = format!("{at}.inputs.{}", crate::spec::path_key(key));
            if !is_input_name(key) {
                push(
                    path.clone(),
                    "input names are letters and digits, starting with a letter (CloudFormation's parameter names)".into(),
                );
            }
            match (&input.value, &input.from_output) {
                (Some(_), None) => {}
                (None, Some(reference)) => match OutputRef::parse(reference) {
                    Err(why) => push(format!("{path}.fromOutput"), why),
                    Ok(r) if r.component.name() == c.name => push(
                        format!("{path}.fromOutput"),
                        "a component cannot read its own outputs".into(),
                    ),
                    Ok(r) if !has(r.component.name()) => push(
                        format!("{path}.fromOutput"),
                        format!("{} is not a component of this environment", r.component),
                    ),
                    Ok(_) => {}
                },
                _ => push(path, "must have exactly one of value and fromOutput".into()),
            }
        }
        match (&c.cloud_formation, &c.lambda) {
            (Some(cf), None) => match (&cf.template, &cf.template_url) {
                (Some(body), None) => {
                    if body.trim().is_empty() || body.len() > MAX_TEMPLATE_BYTES {
                        push(
                            format!("{at}.cloudFormation.template"),
                            format!("must be a template of 1 to {MAX_TEMPLATE_BYTES} bytes"),
                        );
                    }
                }
                (None, Some(url)) => {
                    if !is_s3_url(url) {
                        push(
                            format!("{at}.cloudFormation.templateUrl"),
                            "must be an https:// URL of an object in S3".into(),
                        );
                    }
                }
                _ => push(
                    format!("{at}.cloudFormation"),
                    "must have exactly one of template and templateUrl".into(),
                ),
            },
            (None, Some(l)) => {
                if !is_function_arn(&l.function_arn) {
                    push(
                        format!("{at}.lambda.functionArn"),
                        "must be arn:aws:lambda:<region>:<account>:function:<name>".into(),
                    );
                }
            }
            _ => push(
                at.clone(),
                "must have exactly one of cloudFormation and lambda".into(),
            ),
        }
    }
    for (i, service) in env.spec.app.services.iter().enumerate() {
        for (j, var) in service.env.iter().enumerate() {
            let Some(reference) = &var.from_output else {
                continue;
            };
            let path = format!("spec.app.services[{i}].env[{j}].fromOutput");
            match OutputRef::parse(reference) {
                Err(why) => push(path, why),
                Ok(r) if matches!(r.component, Component::App | Component::Dns) => push(
                    path,
                    format!(
                        "the app cannot read {}'s outputs: it comes after the app",
                        r.component
                    ),
                ),
                Ok(r) if !has(r.component.name()) => push(
                    path,
                    format!("{} is not a component of this environment", r.component),
                ),
                Ok(_) => {}
            }
        }
    }
    if env.graph().is_err() {
        push(
            "spec.components".into(),
            "the components' dependencies form a cycle".into(),
        );
    } else if let Some(stages) = env.stages() {
        // The app's stage is fixed: what it reads must be ready in an earlier one.
        let app = stages[&Component::App];
        for (i, j, r) in env.app_reads() {
            if r.component.is_custom() && stages.get(&r.component).is_some_and(|s| *s >= app) {
                push(
                    format!("spec.app.services[{i}].env[{j}].fromOutput"),
                    format!(
                        "{} runs in create stage {}, not before the app's ({app}): it may depend on network, storage, cluster, database and config only",
                        r.component, stages[&r.component]
                    ),
                );
            }
        }
        for (i, c) in env.spec.components.iter().enumerate() {
            let deep = CustomName::new(&c.name)
                .ok()
                .and_then(|n| stages.get(&Component::Custom(n)))
                .is_some_and(|s| *s >= STAGES);
            if deep {
                push(
                    format!("spec.components[{i}].dependsOn"),
                    format!(
                        "its chain of dependencies is too deep: the state machines have {STAGES} stages"
                    ),
                );
            }
        }
    }
}

fn is_input_name(text: &str) -> bool {
    text.len() <= 255
        && text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_s3_url(text: &str) -> bool {
    text.strip_prefix("https://")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(host, key)| {
            !key.is_empty()
                && host.ends_with(".amazonaws.com")
                && (host.starts_with("s3.") || host.contains(".s3.") || host.contains(".s3-"))
        })
}

pub(crate) fn is_function_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    matches!(parts.as_slice(), ["arn", partition, "lambda", region, account, "function", name, rest @ ..]
        if partition.starts_with("aws")
            && !region.is_empty()
            && account.len() == 12
            && account.chars().all(|c| c.is_ascii_digit())
            && !name.is_empty()
            && rest.len() <= 1)
}
