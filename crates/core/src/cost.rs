//! What an environment costs a month, from the price table shipped in the repo
//! (`crates/core/prices/aws-on-demand.json`: its date, source and regions are part of
//! every estimate). Money is counted in millionths of a dollar, so a sum is exact; a figure
//! is shown in dollars and cents.
//!
//! What is counted, per component (list prices, 730 hours a month):
//! - network: the NAT gateways (`natGateways`: none, one, one per AZ) and the public IPv4
//!   address of each;
//! - cluster: the EKS control plane, the node group's desired nodes at the first instance
//!   type's on-demand rate (a managed node group prefers its types in order), and each
//!   node's root volume (EBS gp2, `diskGiB`);
//! - database: the RDS instance of its engine and class, and its storage (both doubled
//!   under Multi-AZ);
//! - storage: S3 Standard at a nominal 10 GiB a bucket (a spec says nothing of contents);
//! - app: one internet-facing Network Load Balancer per public service (what the AWS load
//!   balancer controller makes of a `LoadBalancer` Service) and its public IPv4 address in
//!   each AZ;
//! - config and dns: nothing (the hosted zone exists before Strata; queries are usage).
//! - custom components (`spec.components`): nothing. What a team's template or function
//!   makes is not known from the spec, so the estimate and the budget leave them out.
//!
//! Left out: data transfer, LCUs, requests and queries, snapshots, taxes, discounts.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::graph::Component;
use crate::spec::{DatabaseEngine, Environment, NatGateways};
use crate::status::EnvironmentStatus;

/// The nominal size of a bucket's contents.
pub const NOMINAL_BUCKET_GIB: u64 = 10;

const MICROS: f64 = 1_000_000.0;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriceTable {
    /// When the figures were taken.
    pub date: String,
    pub currency: String,
    pub source: String,
    pub hours_per_month: u64,
    pub regions: BTreeMap<String, RegionPrices>,
}

/// One region's list prices in dollars.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegionPrices {
    pub eks_cluster_hour: f64,
    pub nat_gateway_hour: f64,
    pub public_ipv4_hour: f64,
    pub network_load_balancer_hour: f64,
    pub ebs_gp2_gib_month: f64,
    pub rds_storage_gib_month: f64,
    pub s3_standard_gib_month: f64,
    pub ec2_hour: BTreeMap<String, f64>,
    /// By engine (`postgres`, `mysql`), then instance class.
    pub rds_hour: BTreeMap<String, BTreeMap<String, f64>>,
}

/// The shipped price table (parsed once; a test keeps it parseable).
pub fn prices() -> &'static PriceTable {
    static TABLE: OnceLock<PriceTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str(include_str!("../prices/aws-on-demand.json"))
            .expect("the shipped price table parses (cost::tests keeps it so)")
    })
}

/// How a line is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Unit {
    /// By the hour, all month.
    Hour,
    GibMonth,
}

/// One priced thing: `quantity` of it at `unitUsd` per unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CostLine {
    /// e.g. `t3.medium node`, `NAT gateway`.
    pub item: String,
    /// How many (nodes, gateways) or GiB.
    pub quantity: u64,
    pub unit: Unit,
    pub unit_usd: f64,
    pub monthly_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ComponentCost {
    pub component: Component,
    pub monthly_usd: f64,
    pub lines: Vec<CostLine>,
}

/// An environment's monthly estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    pub region: String,
    /// The price table's date.
    pub prices_of: String,
    pub monthly_usd: f64,
    /// Every component counted, in create order (those costing nothing included).
    pub components: Vec<ComponentCost>,
    /// What the table has no price for (an instance type, a class, a region): the estimate
    /// leaves it out and says so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpriced: Vec<String>,
}

fn micros(dollars: f64) -> u64 {
    (dollars * MICROS).round() as u64
}

fn dollars(micros: u64) -> f64 {
    // To the cent: what is shown and compared.
    (micros as f64 / 10_000.0).round() / 100.0
}

/// Lines in millionths of a dollar while they are summed.
struct Lines<'a> {
    hours: u64,
    prices: Option<&'a RegionPrices>,
    lines: Vec<(CostLine, u64)>,
    unpriced: &'a mut Vec<String>,
}

impl Lines<'_> {
    fn add(&mut self, item: &str, quantity: u64, unit: Unit, price: Option<f64>) {
        if quantity == 0 {
            return;
        }
        let Some(price) = price else {
            self.unpriced.push(item.to_owned());
            return;
        };
        let per_unit = micros(price);
        let total = match unit {
            Unit::Hour => per_unit * quantity * self.hours,
            Unit::GibMonth => per_unit * quantity,
        };
        self.lines.push((
            CostLine {
                item: item.to_owned(),
                quantity,
                unit,
                unit_usd: price,
                monthly_usd: dollars(total),
            },
            total,
        ));
    }

    fn price(&self, pick: impl Fn(&RegionPrices) -> Option<f64>) -> Option<f64> {
        self.prices.and_then(pick)
    }
}

/// The monthly estimate of every component the spec includes.
pub fn estimate(env: &Environment) -> Estimate {
    estimate_of(env, false, |_| true).0
}

/// The monthly estimate of the environment asleep ([`crate::sleep`]) the whole month: no
/// nodes, no NAT gateway hours, no database instance hours; the control plane, the load
/// balancers, the kept addresses and all storage still cost.
pub fn estimate_asleep(env: &Environment) -> Estimate {
    estimate_of(env, true, |_| true).0
}

/// What sleeping saves a month: all of it while asleep the whole month, or `share` (in
/// millionths of the time, [`crate::schedule::Schedule::asleep_share`]) of it.
pub fn sleep_saving(env: &Environment, share: u64) -> f64 {
    let awake = estimate_of(env, false, |_| true).1;
    let asleep = estimate_of(env, true, |_| true).1;
    let saved =
        u128::from(awake.saturating_sub(asleep)) * u128::from(share.min(1_000_000)) / 1_000_000;
    dollars(u64::try_from(saved).unwrap_or(u64::MAX))
}

/// The estimate of what runs now: the components the status shows neither never made nor
/// deleted (a retained bucket or database still costs).
pub fn estimate_running(env: &Environment, status: &EnvironmentStatus) -> Estimate {
    estimate_of(env, status.sleeping.is_some(), |component| {
        status
            .components
            .get(&component)
            .is_some_and(|c| c.phase.stands())
    })
    .0
}

/// The estimate, and its exact total in millionths of a dollar.
fn estimate_of(
    env: &Environment,
    asleep: bool,
    counted: impl Fn(Component) -> bool,
) -> (Estimate, u64) {
    let table = prices();
    let spec = &env.spec;
    let prices = table.regions.get(&spec.region);
    let mut unpriced = Vec::new();
    if prices.is_none() {
        unpriced.push(format!("region {}", spec.region));
    }
    let mut components = Vec::new();
    let mut total = 0u64;
    for component in Component::graph().create_stages().into_iter().flatten() {
        if !env.includes(component) || !counted(component) {
            continue;
        }
        let mut lines = Lines {
            hours: table.hours_per_month,
            prices,
            lines: Vec::new(),
            unpriced: &mut unpriced,
        };
        component_lines(env, component, asleep, &mut lines);
        let sum: u64 = lines.lines.iter().map(|(_, m)| m).sum();
        total += sum;
        components.push(ComponentCost {
            component,
            monthly_usd: dollars(sum),
            lines: lines.lines.into_iter().map(|(line, _)| line).collect(),
        });
    }
    if prices.is_none() {
        unpriced.truncate(1);
    }
    let estimate = Estimate {
        region: spec.region.clone(),
        prices_of: table.date.clone(),
        monthly_usd: dollars(total),
        components,
        unpriced,
    };
    (estimate, total)
}

fn component_lines(env: &Environment, component: Component, asleep: bool, lines: &mut Lines<'_>) {
    let spec = &env.spec;
    let azs = u64::from(spec.network.az_count);
    // Asleep, hourly compute stops; what is kept (addresses, storage) still costs.
    let running = u64::from(!asleep);
    match component {
        Component::Network => {
            let nat = match spec.network.nat_gateways {
                NatGateways::None => 0,
                NatGateways::Single => 1,
                NatGateways::PerAz => azs,
            };
            lines.add(
                "NAT gateway",
                nat * running,
                Unit::Hour,
                lines.price(|p| Some(p.nat_gateway_hour)),
            );
            lines.add(
                "public IPv4 address (NAT)",
                nat,
                Unit::Hour,
                lines.price(|p| Some(p.public_ipv4_hour)),
            );
        }
        Component::Cluster => {
            let group = &spec.cluster.node_group;
            lines.add(
                "EKS control plane",
                1,
                Unit::Hour,
                lines.price(|p| Some(p.eks_cluster_hour)),
            );
            let first = group.instance_types.first().map_or("", String::as_str);
            let nodes = u64::from(group.desired_size) * running;
            lines.add(
                &format!("{first} node"),
                nodes,
                Unit::Hour,
                lines.price(|p| p.ec2_hour.get(first).copied()),
            );
            lines.add(
                "node root volume (EBS gp2)",
                nodes * u64::from(group.disk_gib),
                Unit::GibMonth,
                lines.price(|p| Some(p.ebs_gp2_gib_month)),
            );
        }
        Component::Database => {
            let Some(db) = &spec.database else { return };
            let engine = match db.engine {
                DatabaseEngine::Postgres => "postgres",
                DatabaseEngine::Mysql => "mysql",
            };
            let copies = if db.multi_az { 2 } else { 1 };
            let class = db.instance_class.as_str();
            lines.add(
                &format!("{class} {engine} instance"),
                copies * running,
                Unit::Hour,
                lines.price(|p| p.rds_hour.get(engine)?.get(class).copied()),
            );
            lines.add(
                "database storage",
                copies * u64::from(db.storage_gib),
                Unit::GibMonth,
                lines.price(|p| Some(p.rds_storage_gib_month)),
            );
        }
        Component::Storage => {
            let buckets = spec.storage.as_ref().map_or(0, |s| s.buckets.len() as u64);
            lines.add(
                "S3 Standard (nominal 10 GiB a bucket)",
                buckets * NOMINAL_BUCKET_GIB,
                Unit::GibMonth,
                lines.price(|p| Some(p.s3_standard_gib_month)),
            );
        }
        Component::App => {
            let public = spec.app.services.iter().filter(|s| s.public).count() as u64;
            lines.add(
                "Network Load Balancer",
                public,
                Unit::Hour,
                lines.price(|p| Some(p.network_load_balancer_hour)),
            );
            lines.add(
                "public IPv4 address (load balancer, one per AZ)",
                public * azs,
                Unit::Hour,
                lines.price(|p| Some(p.public_ipv4_hour)),
            );
        }
        Component::Config | Component::Dns | Component::Custom(_) => {}
    }
}

/// `after` less `before` (nothing before: all of `after`), to the cent.
pub fn change(before: Option<&Estimate>, after: &Estimate) -> f64 {
    let was = before.map_or(0, |b| micros(b.monthly_usd));
    let is = micros(after.monthly_usd);
    let (sign, diff) = if is >= was {
        (1.0, is - was)
    } else {
        (-1.0, was - is)
    };
    sign * dollars(diff)
}

/// Why a spec's estimate is refused by its own budget.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BudgetError {
    #[error(
        "the estimate is ${estimate:.2} a month, above spec.budget.monthlyUSD (${budget}); raise the budget or shrink the environment"
    )]
    Over { estimate: f64, budget: u32 },
    #[error(
        "spec.budget.monthlyUSD cannot be checked: the price table of {prices_of} has no price for {}",
        .unpriced.join(", ")
    )]
    Unpriced {
        prices_of: String,
        unpriced: Vec<String>,
    },
}

impl BudgetError {
    /// The field the refusal is about.
    pub const PATH: &'static str = "spec.budget.monthlyUSD";
}

/// The spec's budget against its estimate: none set passes.
pub fn check_budget(env: &Environment, estimate: &Estimate) -> Result<(), BudgetError> {
    let Some(budget) = env.spec.budget.as_ref().map(|b| b.monthly_usd) else {
        return Ok(());
    };
    if !estimate.unpriced.is_empty() {
        return Err(BudgetError::Unpriced {
            prices_of: estimate.prices_of.clone(),
            unpriced: estimate.unpriced.clone(),
        });
    }
    if estimate.monthly_usd > f64::from(budget) {
        return Err(BudgetError::Over {
            estimate: estimate.monthly_usd,
            budget,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::ComponentPhase;

    fn staging() -> Environment {
        Environment::parse(include_str!("../../../examples/staging.yaml")).unwrap()
    }

    #[test]
    fn the_shipped_table_parses_and_prices_every_region_alike() {
        let table = prices();
        assert_eq!(table.currency, "USD");
        assert_eq!(table.hours_per_month, 730);
        let types: Vec<_> = table
            .regions
            .values()
            .map(|r| r.ec2_hour.keys().collect::<Vec<_>>())
            .collect();
        assert!(
            types.windows(2).all(|w| w[0] == w[1]),
            "every region prices the same types"
        );
    }

    /// Asleep, staging keeps the EKS control plane 73.00, the NAT's address 3.65, the
    /// database's storage 2.54, the buckets 0.46 and the app's load balancer 25.696:
    /// 105.346, so sleeping saves 224.502 − 105.346 = 119.156 a month: 35.04 of NAT,
    /// 66.576 + 4.40 of nodes and 13.14 of database instance.
    #[test]
    fn asleep_staging_costs_only_what_it_keeps() {
        let env = staging();
        assert_eq!(estimate_asleep(&env).monthly_usd, 105.35);
        assert_eq!(sleep_saving(&env, 1_000_000), 119.16);
        assert_eq!(sleep_saving(&env, 500_000), 59.58);
        assert_eq!(sleep_saving(&env, 0), 0.0);
    }

    /// examples/staging.yaml by hand, eu-west-1 list prices, 730 h:
    /// network   1 NAT 0.048 × 730 = 35.04; its IPv4 0.005 × 730 = 3.65          → 38.69
    /// cluster   EKS 0.10 × 730 = 73.00; 2 × t3.medium 0.0456 × 730 = 66.576;
    ///           2 × 20 GiB gp2 × 0.11 = 4.40                                    → 143.976
    /// database  db.t4g.micro postgres 0.018 × 730 = 13.14; 20 GiB × 0.127 = 2.54 → 15.68
    /// storage   2 buckets × 10 GiB × 0.023                                      → 0.46
    /// app       1 NLB 0.0252 × 730 = 18.396; 2 AZ IPv4 2 × 3.65 = 7.30           → 25.696
    /// total                                                                     → 224.502
    #[test]
    fn the_staging_example_costs_what_the_hand_computation_says() {
        let estimate = estimate(&staging());
        assert!(estimate.unpriced.is_empty(), "{:?}", estimate.unpriced);
        let by: BTreeMap<Component, f64> = estimate
            .components
            .iter()
            .map(|c| (c.component, c.monthly_usd))
            .collect();
        assert_eq!(by[&Component::Network], 38.69);
        assert_eq!(by[&Component::Cluster], 143.98);
        assert_eq!(by[&Component::Database], 15.68);
        assert_eq!(by[&Component::Storage], 0.46);
        assert_eq!(by[&Component::App], 25.70);
        assert_eq!(by[&Component::Config], 0.0);
        assert_eq!(by[&Component::Dns], 0.0);
        assert_eq!(estimate.monthly_usd, 224.50);
        assert_eq!(estimate.region, "eu-west-1");
    }

    #[test]
    fn per_az_nat_and_multi_az_database_count_each_copy() {
        let mut env = staging();
        env.spec.network.nat_gateways = NatGateways::PerAz;
        env.spec.network.az_count = 3;
        env.spec.database.as_mut().unwrap().multi_az = true;
        let estimate = estimate(&env);
        let network = &estimate.components[0];
        assert_eq!(network.component, Component::Network);
        assert_eq!(network.monthly_usd, 3.0 * 38.69);
        let database = estimate
            .components
            .iter()
            .find(|c| c.component == Component::Database)
            .unwrap();
        assert_eq!(database.monthly_usd, 2.0 * 15.68);
    }

    #[test]
    fn what_the_table_does_not_price_is_named_and_left_out() {
        let mut env = staging();
        env.spec.cluster.node_group.instance_types = vec!["x9.huge".into()];
        let estimate = estimate(&env);
        assert_eq!(estimate.unpriced, ["x9.huge node"]);
        // 224.502 - 66.576 (the nodes) = 157.926
        assert_eq!(estimate.monthly_usd, 157.93);
        env.spec.region = "ap-south-2".into();
        let elsewhere = super::estimate(&env);
        assert_eq!(elsewhere.unpriced, ["region ap-south-2"]);
        assert_eq!(elsewhere.monthly_usd, 0.0);
    }

    #[test]
    fn the_budget_refuses_an_estimate_above_it_with_the_figure() {
        let mut env = staging();
        env.spec.budget = Some(crate::spec::BudgetSpec { monthly_usd: 200 });
        let refused = check_budget(&env, &estimate(&env)).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "the estimate is $224.50 a month, above spec.budget.monthlyUSD ($200); raise the budget or shrink the environment"
        );
        env.spec.budget = Some(crate::spec::BudgetSpec { monthly_usd: 225 });
        assert_eq!(check_budget(&env, &estimate(&env)), Ok(()));
        env.spec.region = "ap-south-2".into();
        assert!(matches!(
            check_budget(&env, &estimate(&env)),
            Err(BudgetError::Unpriced { .. })
        ));
    }

    #[test]
    fn what_runs_counts_neither_deleted_nor_never_made_components() {
        let env = staging();
        let mut status = EnvironmentStatus::new(crate::EnvironmentState::Deleted, "down done", 0);
        for component in Component::BUILT_IN {
            status.components.insert(
                component,
                crate::status::ComponentStatus::new(ComponentPhase::Deleted, 1, 0),
            );
        }
        status
            .components
            .get_mut(&Component::Storage)
            .unwrap()
            .phase = ComponentPhase::Retained;
        let running = estimate_running(&env, &status);
        assert_eq!(running.monthly_usd, 0.46);
        assert_eq!(running.components.len(), 1);
    }
}
