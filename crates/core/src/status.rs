//! What an environment looks like now, as recorded by the handlers. Credentials appear only
//! as references (ARNs): [`CredentialRef`] cannot be built from anything else.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::graph::Component;
use crate::spec::Environment;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum EnvironmentState {
    Progressing,
    Ready,
    Failed,
    Deleting,
    Deleted,
    /// Its operation was stopped on request; a following `up` or `delete` resumes.
    Cancelled,
}

impl EnvironmentState {
    /// An operation runs (its steps may act).
    pub fn is_running(self) -> bool {
        matches!(
            self,
            EnvironmentState::Progressing | EnvironmentState::Deleting
        )
    }
}

/// The flows that change an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum OperationKind {
    Up,
    Down,
}

impl OperationKind {
    pub fn name(self) -> &'static str {
        match self {
            OperationKind::Up => "up",
            OperationKind::Down => "down",
        }
    }

    /// The state an environment is in while this operation runs.
    pub fn running_state(self) -> EnvironmentState {
        match self {
            OperationKind::Up => EnvironmentState::Progressing,
            OperationKind::Down => EnvironmentState::Deleting,
        }
    }

    /// The state an environment reaches when this operation succeeds.
    pub fn done_state(self) -> EnvironmentState {
        match self {
            OperationKind::Up => EnvironmentState::Ready,
            OperationKind::Down => EnvironmentState::Deleted,
        }
    }
}

/// Which components an `up` runs: all of them, or only the application layer (app, dns) —
/// the deploy fast path, for a spec change the plan shows touches nothing below — or the
/// application layer switching every blue-green service back to its previous colour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    #[default]
    All,
    Application,
    Rollback,
}

impl Scope {
    pub fn includes(self, component: Component) -> bool {
        match self {
            Scope::All => true,
            Scope::Application | Scope::Rollback => {
                component.layer() == crate::graph::Layer::Application
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scope::All => "all",
            Scope::Application => "application",
            Scope::Rollback => "rollback",
        }
    }

    pub fn is_all(&self) -> bool {
        *self == Scope::All
    }

    /// The rule of a scoped `up` (the deploy fast path): it skips the components outside
    /// its scope, the layers below, which must stand Ready. These are the components of
    /// `environment` outside this scope that `status` does not show Ready (one never
    /// recorded is not Ready), in the spec's order; none means the scope may run alone.
    pub fn not_ready_outside(
        self,
        environment: &Environment,
        status: Option<&EnvironmentStatus>,
    ) -> Vec<Component> {
        environment
            .components()
            .into_iter()
            .filter(|c| !self.includes(*c))
            .filter(|c| {
                status
                    .and_then(|s| s.components.get(c))
                    .is_none_or(|cs| cs.phase != ComponentPhase::Ready)
            })
            .collect()
    }
}

/// What `begin` hands to every later step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OperationContext {
    pub environment: String,
    pub operation: OperationKind,
    pub execution: String,
    pub generation: u64,
    pub poll_seconds: u64,
    /// How many of AWS's seconds one second of this execution stands for: 1 on AWS (and for
    /// executions begun before it existed), 0 on the plain local stack ([`crate::Clock`]).
    #[serde(default = "one")]
    pub clock_scale: u32,
    pub deadline_seconds: u64,
    /// When the operation began (seconds since the epoch); deadlines count from here.
    pub started_at: u64,
    /// Always written: the state machine's `Scope?` Choice reads it.
    #[serde(default)]
    pub scope: Scope,
    /// Per component, whether a recreate tears it down before the create stages. An `up`
    /// names every component (the state machine's Choices read each; moto's interpreter
    /// fails on a missing path even under `IsPresent`).
    #[serde(default)]
    pub teardown: BTreeMap<Component, bool>,
    /// Whether this `up` converges the environment to its sleeping shape
    /// ([`crate::sleep`]): a sleep sets it, a wake clears it, any other `up` keeps what the
    /// environment was.
    #[serde(default)]
    pub asleep: bool,
    /// The custom components each stage's map runs ([`crate::custom`]).
    #[serde(default)]
    pub custom: crate::custom::CustomSteps,
    /// Whether this `up` ends with the post-deploy step (always written: the state
    /// machine's Choice reads it).
    #[serde(default)]
    pub post_deploy: bool,
    /// How the post-deploy step went: its Task's result, for `finish`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_deployed: Option<crate::post_deploy::PostDeployOutcome>,
}

fn one() -> u32 {
    1
}

impl OperationContext {
    /// `operation` on `environment` as `execution`, at `generation`, begun at `started_at`,
    /// everything else at its zero: no wait between polls, no deadline, the whole scope,
    /// nothing torn down, awake, no custom components, no post-deploy step. Enough for what
    /// reads a context without running an operation (observing, the handlers' tests).
    pub fn new(
        environment: &str,
        operation: OperationKind,
        execution: String,
        generation: u64,
        started_at: u64,
    ) -> Self {
        Self {
            environment: environment.to_owned(),
            operation,
            execution,
            generation,
            poll_seconds: 0,
            clock_scale: 0,
            deadline_seconds: 0,
            started_at,
            scope: Default::default(),
            teardown: Default::default(),
            asleep: false,
            custom: Default::default(),
            post_deploy: false,
            post_deployed: None,
        }
    }

    /// The clock its waits run on.
    pub fn clock(&self) -> crate::Clock {
        crate::Clock {
            poll_seconds: self.poll_seconds,
            scale: self.clock_scale,
        }
    }

    /// Whether the operation has run past its deadline.
    pub fn is_past_deadline(&self, now: u64) -> bool {
        now > self.started_at.saturating_add(self.deadline_seconds)
    }
}

/// A service whose repository has a newer tag within its constraint than the one serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdate {
    pub service: String,
    pub deployed: String,
    pub available: String,
    /// Seconds since the Unix epoch.
    pub found_at: u64,
}

/// The operation that last ran (or runs) on an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub kind: OperationKind,
    /// The Step Functions execution name; it also holds the lease lock.
    pub execution: String,
    pub generation: u64,
    pub started_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentStatus {
    pub state: EnvironmentState,
    pub message: String,
    /// The spec generation the last finished operation converged to.
    pub observed_generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    /// Per-component status; stored as separate items, assembled on read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub components: BTreeMap<Component, ComponentStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<CredentialRef>,
    /// Newer image versions than the ones serving, found by sync (`sync.images: report`
    /// leaves them here; under `deploy` they are being rolled out). Cleared once served.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_updates: Vec<ImageUpdate>,
    /// The components sync last found drifted or missing (empty: all in sync, or never
    /// checked). Cleared once a sync finds them in sync again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<crate::drift::ComponentDrift>,
    /// The environment's tagged resources as sync last found them, by type and id: at most
    /// [`INVENTORY_LIMIT`], the rest counted in `inventory_omitted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inventory: Vec<InventoryItem>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inventory_omitted: usize,
    /// Which control plane made this incarnation of the name, and its id: minted by the
    /// first `up`, and again by an `up` after the environment was Deleted. Absent in
    /// statuses written before incarnations existed; the next `up` mints one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incarnation: Option<Incarnation>,
    /// The sleeping condition: present while the environment is asleep (its state stays
    /// Ready). Absent in statuses written before sleep existed: awake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleeping: Option<Sleeping>,
    /// The post-deploy step's answer from the last `up` that ran it and succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_deploy_output: Option<serde_json::Value>,
    /// Why the last `up`'s post-deploy step failed, when it is not required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_deploy_warning: Option<String>,
    /// Seconds since the Unix epoch.
    pub updated_at: u64,
}

/// Since when an environment sleeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Sleeping {
    /// Seconds since the Unix epoch.
    pub since: u64,
    /// When the sleep was last carried out (the sync re-asserts it: AWS starts a stopped
    /// database again after seven days).
    pub asserted_at: u64,
}

/// One incarnation of an environment's name: see [`crate::tags`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Incarnation {
    /// The control plane's CloudFormation stack id.
    pub control_plane: String,
    pub id: String,
    /// When it was minted (seconds since the epoch).
    pub since: u64,
}

impl EnvironmentStatus {
    pub fn new(state: EnvironmentState, message: impl Into<String>, now: u64) -> Self {
        Self {
            state,
            message: message.into(),
            observed_generation: 0,
            operation: None,
            components: BTreeMap::new(),
            ingress_urls: Vec::new(),
            credentials: Vec::new(),
            image_updates: Vec::new(),
            drift: Vec::new(),
            inventory: Vec::new(),
            inventory_omitted: 0,
            incarnation: None,
            sleeping: None,
            post_deploy_output: None,
            post_deploy_warning: None,
            updated_at: now,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum ComponentPhase {
    Pending,
    Creating,
    Updating,
    Ready,
    Deleting,
    Deleted,
    /// Left in place on delete by policy (`onDelete: retain`, or a final snapshot kept).
    Retained,
    Failed,
}

impl ComponentPhase {
    /// Its resources stand in AWS: made and not deleted (a retained bucket or a kept final
    /// snapshot stands, and still costs).
    pub fn stands(self) -> bool {
        !matches!(self, ComponentPhase::Pending | ComponentPhase::Deleted)
    }

    /// It no longer holds up what it depends on: never made, deleted, or retained (what is
    /// kept is out of the environment's lifecycle).
    pub fn is_gone(self) -> bool {
        matches!(
            self,
            ComponentPhase::Deleted | ComponentPhase::Retained | ComponentPhase::Pending
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    pub phase: ComponentPhase,
    /// AWS or Kubernetes identifiers, e.g. `vpcId`, `clusterArn`, `dbInstanceIdentifier`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resource_ids: BTreeMap<String, String>,
    /// Values the components above read, e.g. `endpoint`, `loadBalancerHostname`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<ComponentError>,
    pub observed_generation: u64,
    pub updated_at: u64,
    /// The part of the spec it last converged to (`Environment::section`): what a plan
    /// compares a new spec with, and what a destroy acts on. Gone once it is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<serde_json::Value>,
    /// What its steps wait on while AWS works, and for how long so far: what the next
    /// wait is computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<crate::Waiting>,
}

impl ComponentStatus {
    /// A status in `phase` at `generation`, with no ids, outputs or error yet.
    pub fn new(phase: ComponentPhase, observed_generation: u64, now: u64) -> Self {
        Self {
            phase,
            resource_ids: BTreeMap::new(),
            outputs: BTreeMap::new(),
            last_error: None,
            observed_generation,
            updated_at: now,
            applied: None,
            waiting: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ComponentError {
    /// The handler's stable error name, as matched by the state machines.
    pub error: String,
    pub cause: String,
}

/// A reference to a credential: an ARN, never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", try_from = "RawCredentialRef")]
pub struct CredentialRef {
    /// What the credential is for, e.g. `database-master`.
    name: String,
    arn: String,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
struct RawCredentialRef {
    name: String,
    arn: String,
}

impl TryFrom<RawCredentialRef> for CredentialRef {
    type Error = String;
    fn try_from(raw: RawCredentialRef) -> Result<Self, String> {
        CredentialRef::new(raw.name, raw.arn)
    }
}

impl CredentialRef {
    /// Accepts only ARNs of services that hold secrets by reference.
    pub fn new(name: impl Into<String>, arn: impl Into<String>) -> Result<Self, String> {
        let arn = arn.into();
        let service = arn.split(':').nth(2).unwrap_or_default();
        let is_arn = arn.starts_with("arn:") && arn.split(':').count() >= 6;
        if !is_arn || !matches!(service, "secretsmanager" | "ssm" | "kms" | "iam") {
            return Err(format!(
                "a credential reference must be an ARN, got {arn:?}"
            ));
        }
        Ok(Self {
            name: name.into(),
            arn,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }
}

/// The most resources an environment's status lists (its item stays far below DynamoDB's
/// 400 KB).
pub const INVENTORY_LIMIT: usize = 100;

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One tagged resource of the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct InventoryItem {
    /// The resource's own id (a VPC id, a bucket name, a record name).
    pub id: String,
    /// `<service>:<type>`, as in ARNs: `ec2:vpc`, `rds:db`, `eks:cluster`.
    pub resource_type: String,
    /// Where the resource's own call reports one (EKS, addresses); the Tagging API reports
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// One entry of an environment's history: who did what, when, with which execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub at: u64,
    /// What happened, e.g. `SpecApplied`, `OperationStarted`, `Ready`, `Failed`.
    pub kind: String,
    pub message: String,
    /// The caller's identity (an IAM ARN) or the execution that acted.
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_retained_component_stands_and_is_gone() {
        use ComponentPhase::*;
        let standing: Vec<_> = [Pending, Creating, Ready, Deleted, Retained, Failed]
            .into_iter()
            .filter(|p| p.stands())
            .collect();
        assert_eq!(standing, [Creating, Ready, Retained, Failed]);
        let gone: Vec<_> = [Pending, Creating, Ready, Deleting, Deleted, Retained]
            .into_iter()
            .filter(|p| p.is_gone())
            .collect();
        assert_eq!(gone, [Pending, Deleted, Retained]);
    }
    use super::*;

    #[test]
    fn credential_refs_are_arns_only() {
        let ok = CredentialRef::new(
            "database-master",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234",
        );
        assert!(ok.is_ok());
        assert!(CredentialRef::new("database-master", "hunter2").is_err());
        assert!(CredentialRef::new("x", "arn:aws:s3:::bucket").is_err());
        // The same rule holds when a stored status is read back.
        let forged = serde_json::json!({"name": "x", "arn": "p4ssw0rd"});
        assert!(serde_json::from_value::<CredentialRef>(forged).is_err());
    }

    #[test]
    fn a_scoped_up_needs_every_layer_below_ready() {
        let env = Environment::parse(include_str!("../../../examples/staging.yaml")).unwrap();
        let below = [
            Component::Network,
            Component::Cluster,
            Component::Database,
            Component::Storage,
            Component::Config,
        ];
        assert_eq!(Scope::Application.not_ready_outside(&env, None), below);

        let mut status = EnvironmentStatus::new(EnvironmentState::Ready, "", 0);
        for c in below {
            status
                .components
                .insert(c, ComponentStatus::new(ComponentPhase::Ready, 1, 0));
        }
        // The application layer's own phase does not matter: it is what the scope runs.
        status.components.insert(
            Component::App,
            ComponentStatus::new(ComponentPhase::Failed, 1, 0),
        );
        assert!(
            Scope::Application
                .not_ready_outside(&env, Some(&status))
                .is_empty()
        );

        status
            .components
            .get_mut(&Component::Database)
            .unwrap()
            .phase = ComponentPhase::Failed;
        status.components.remove(&Component::Config);
        assert_eq!(
            Scope::Application.not_ready_outside(&env, Some(&status)),
            [Component::Database, Component::Config]
        );
        assert!(Scope::All.not_ready_outside(&env, None).is_empty());
    }
}
