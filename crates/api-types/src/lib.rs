//! The API's request and response bodies: one set of Rust types that the api function
//! writes and the CLI (and the console) read, so a renamed field breaks the build on both
//! sides. `functions/api/openapi.yaml`'s `components.schemas` are generated from them
//! (feature `schema`; `tests/openapi.rs` keeps the document and the types in step).
//! Response bodies accept fields they do not know (a newer control plane's); request
//! bodies refuse them ([`contract`]).

use serde::{Deserialize, Serialize};
use strata_core::cost::Estimate;
use strata_core::status::ComponentPhase;
use strata_core::{
    Component, Environment, EnvironmentState, EnvironmentStatus, Event, Plan, Scope,
};

pub mod contract;
#[cfg(feature = "schema")]
pub mod reference;
#[cfg(feature = "schema")]
pub mod schema;

/// `GET /environments`: one page, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentList {
    pub items: Vec<EnvironmentListItem>,
    /// The cursor of the next page; absent on the last.
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentListItem {
    pub name: String,
    pub generation: u64,
    /// When the spec was last stored (seconds since the epoch).
    pub updated_at: u64,
    /// Absent before the first operation began.
    pub state: Option<EnvironmentState>,
    pub message: Option<String>,
}

/// `GET /environments/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentView {
    pub name: String,
    pub generation: u64,
    pub updated_at: u64,
    /// The stored spec.
    pub spec: Environment,
    /// Absent before the first operation began.
    pub status: Option<EnvironmentStatus>,
    /// The execution holding the environment's lease, if one does.
    pub running_execution: Option<String>,
    /// What runs now costs a month (the components neither never made nor deleted);
    /// absent before the first operation began.
    pub cost: Option<Estimate>,
    /// Sleep: whether the environment sleeps now and what sleeping saves. Absent before the
    /// first operation began.
    #[serde(default)]
    pub sleep: Option<SleepView>,
}

/// The `sleeping` condition (the state stays Ready) and what sleep saves, at the shipped
/// price table's list prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SleepView {
    /// Since when it sleeps (seconds since the epoch); absent while awake.
    pub asleep_since: Option<u64>,
    /// What a whole month asleep saves: nodes, NAT gateway hours and database instance
    /// hours stop; the control plane, load balancers, kept addresses and storage go on.
    #[serde(rename = "savesPerMonthAsleepUSD")]
    pub saves_per_month_asleep_usd: f64,
    /// With `spec.schedule`: the share of a week it sleeps, in percent.
    pub scheduled_asleep_percent: Option<f64>,
    /// With `spec.schedule`: what the schedule saves a month.
    #[serde(rename = "scheduleSavesMonthlyUSD")]
    pub schedule_saves_monthly_usd: Option<f64>,
}

/// 202: an operation was started (or this same request's operation already runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub environment: String,
    /// `up` or `down`.
    pub operation: String,
    pub generation: u64,
    /// The execution's name, e.g. `up-staging-1-0`.
    pub execution: String,
    /// Absent when the request found its operation already running.
    pub execution_arn: Option<String>,
    /// `application` is the deploy fast path (app and dns only); absent when found running.
    pub scope: Option<Scope>,
    /// Where the operation's progress shows, e.g. `/environments/staging`.
    pub status_url: String,
}

/// 200: already in the requested state; nothing was started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct NothingToDo {
    pub environment: String,
    pub generation: u64,
    pub state: EnvironmentState,
    pub message: String,
}

/// `PUT /environments/{name}`: 202 [`Accepted`], or 200 [`NothingToDo`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Applied {
    Started(Accepted),
    Unchanged(NothingToDo),
}

/// `POST /environments/{name}/plan`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PlanView {
    pub environment: String,
    /// The stored generation (0 for none).
    pub generation: u64,
    /// One line: which components change, and how.
    pub summary: String,
    pub noop: bool,
    /// Only the application layer changes.
    pub deploy_only: bool,
    /// Stateful components it would recreate or delete that were not allowed.
    pub refused: Vec<Component>,
    pub plan: Plan,
    pub cost: PlanCost,
    /// Previews that share this environment's cluster: its `down`, and a plan that
    /// recreates its network or cluster, are refused while they exist.
    #[serde(default)]
    pub dependents: Vec<String>,
    /// For each cloudFormation component changed in place on a standing stack: what a change
    /// set made for the change (and deleted) says, replacements included.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub change_sets: std::collections::BTreeMap<String, strata_core::custom::StackPreview>,
}

/// `POST /environments/{base}/previews`: a preview of `base` (`strata apply --from`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreviewRequest {
    /// The preview's name (a new environment).
    pub name: String,
    /// Required: a preview is destroyed when it runs out, e.g. `4h`.
    pub ttl: String,
    /// `cluster` (default): a namespace on the base's cluster; `none`: a full copy.
    #[serde(default)]
    pub share: strata_core::spec::Share,
    /// `snapshot` (default): restored from a snapshot of the base's database; `empty`.
    #[serde(default)]
    pub database: strata_core::spec::PreviewDatabase,
    /// Overrides of the base's spec by field path, e.g.
    /// `spec.app.services[api].version` → `2.4.0-pr.42`.
    #[serde(default)]
    pub set: std::collections::BTreeMap<String, String>,
}

/// What a plan does to the monthly bill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PlanCost {
    /// What runs now; absent before the first operation.
    pub before: Option<Estimate>,
    /// The spec once applied.
    pub after: Estimate,
    /// `after` less `before`, in dollars a month.
    pub change_usd: f64,
    /// Why an apply would be refused by `spec.budget.monthlyUSD` (BudgetExceeded).
    pub over_budget: Option<String>,
}

/// `POST /environments/{name}/ttl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct TtlExtended {
    pub environment: String,
    /// When the TTL now expires (seconds since the epoch).
    pub expires_at: u64,
    /// Every extension so far, in seconds.
    pub extended_by: u64,
}

/// `POST /environments/{name}/sync`: 202, handed to the sync function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SyncRequested {
    pub environment: String,
    /// Always `sync`.
    pub operation: String,
    pub run: String,
    /// The actor of the history event (`Synced` or `SyncFailed`) that gives the result.
    pub result_actor: String,
    pub history_url: String,
    pub status_url: String,
}

/// `POST /environments/{name}/cancel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CancelView {
    pub environment: String,
    /// The execution cancelled; absent when nothing was running.
    pub cancelled: Option<String>,
    /// How Step Functions says it ended: `ABORTED`, how it had ended already,
    /// `NOT_STARTED` or `RUNNING` (the stop did not take yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// The components it was still working on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_flight: Vec<InFlight>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct InFlight {
    pub component: Component,
    pub phase: ComponentPhase,
}

/// `GET /environments/{name}/history`: newest first, a page at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    pub items: Vec<Event>,
    pub next: Option<String>,
}

/// Every 4xx and 5xx.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// Every field error (InvalidRequest), each with its path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldProblem>,
    /// The running execution (OperationInProgress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// The refused plan (RecreateRefused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldProblem {
    /// e.g. `spec.network.cidr`.
    pub path: String,
    pub message: String,
}

/// The stable codes clients match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ErrorCode {
    InvalidRequest,
    NoSuchRoute,
    EnvironmentNotFound,
    MethodNotAllowed,
    OperationInProgress,
    RecreateRefused,
    /// The plan's estimate is above `spec.budget.monthlyUSD` (or cannot be priced).
    BudgetExceeded,
    SpecChanged,
    RollbackRefused,
    /// Sleep or wake of an environment that is not Ready.
    SleepRefused,
    /// A delete (or a network or cluster recreate) of a base while previews run on it; or
    /// a preview that cannot be made from this base.
    PreviewsDepend,
    PayloadTooLarge,
    UnsupportedMediaType,
    NoIdentity,
    /// The caller's IAM principal does not carry the environment's team (`strata:team`), or
    /// the environment names none and the caller is no admin (`strata:admin`).
    NotYourTeam,
    ServiceUnavailable,
    InternalError,
    /// The client speaks an API contract older than this control plane serves
    /// ([`contract`]).
    ClientTooOld,
    /// A code this client does not know: a newer control plane's (read the message).
    #[serde(other)]
    Unknown,
}

/// The component graph as the console draws it: the create stages in order (each stage's
/// components run in parallel), each component with its layer and what it depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphView {
    pub stages: Vec<Vec<GraphNode>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphNode {
    pub component: Component,
    pub layer: strata_core::graph::Layer,
    pub depends_on: Vec<Component>,
    /// Recreating or deleting it loses data.
    pub stateful: bool,
}

impl GraphView {
    /// Strata's component graph.
    pub fn of_strata() -> Self {
        let stages = Component::graph()
            .create_stages()
            .into_iter()
            .map(|stage| {
                stage
                    .into_iter()
                    .map(|component| GraphNode {
                        component,
                        layer: component.layer(),
                        depends_on: component.depends_on().to_vec(),
                        stateful: component.is_stateful(),
                    })
                    .collect()
            })
            .collect();
        Self { stages }
    }
}
