//! The monthly estimates the API answers, as tables: a plan's (now, planned, change per
//! component, and each priced line) and what runs now (`get`).

use std::collections::BTreeMap;

use strata_api_types::PlanCost;
use strata_core::Component;
use strata_core::cost::{ComponentCost, CostLine, Estimate, Unit};

fn by_component(estimate: Option<&Estimate>) -> BTreeMap<Component, &ComponentCost> {
    estimate
        .map(|e| e.components.iter().map(|c| (c.component, c)).collect())
        .unwrap_or_default()
}

fn line(line: &CostLine) -> String {
    let unit = match line.unit {
        Unit::Hour => "h",
        Unit::GibMonth => "GiB-month",
    };
    let quantity = match line.unit {
        Unit::Hour => format!("{} ×", line.quantity),
        Unit::GibMonth => format!("{} GiB", line.quantity),
    };
    format!("{quantity} {} at ${}/{unit}", line.item, line.unit_usd)
}

fn signed(change: f64) -> String {
    if change > 0.0 {
        format!("+{change:.2}")
    } else {
        format!("{change:.2}")
    }
}

/// The plan's cost table; the budget refusal an apply would meet.
pub fn plan(cost: &PlanCost) {
    let after = &cost.after;
    println!(
        "\ncost, USD a month (list prices of {}, {}):",
        after.prices_of, after.region
    );
    println!(
        "  {:<9} {:>9} {:>9} {:>9}  priced",
        "COMPONENT", "NOW", "PLANNED", "CHANGE"
    );
    let before = by_component(cost.before.as_ref());
    let planned = by_component(Some(after));
    // Custom components are not estimated (strata_core::cost).
    for component in Component::BUILT_IN {
        let (was, is) = (before.get(&component), planned.get(&component));
        if was.is_none() && is.is_none() {
            continue;
        }
        let now = was.map_or(0.0, |c| c.monthly_usd);
        let then = is.map_or(0.0, |c| c.monthly_usd);
        let lines: Vec<String> = is.map_or_else(Vec::new, |c| c.lines.iter().map(line).collect());
        println!(
            "  {:<9} {now:>9.2} {then:>9.2} {:>9}  {}",
            component.name(),
            // Both are whole cents: their difference rounded is exact.
            signed(((then - now) * 100.0).round() / 100.0),
            lines.join("; ")
        );
    }
    println!(
        "  {:<9} {:>9.2} {:>9.2} {:>9}",
        "total",
        cost.before.as_ref().map_or(0.0, |b| b.monthly_usd),
        after.monthly_usd,
        signed(cost.change_usd)
    );
    if !after.unpriced.is_empty() {
        println!("  not priced (left out): {}", after.unpriced.join(", "));
    }
    if let Some(refused) = &cost.over_budget {
        println!("refused: {refused}");
    }
}

/// One line for `get`: what runs now costs a month, by component.
/// The sleeping condition and what sleep saves.
pub fn sleep(sleep: &strata_api_types::SleepView) {
    let now = match sleep.asleep_since {
        Some(since) => format!("asleep since {}", crate::show::utc(since)),
        None => "awake".to_owned(),
    };
    let schedule = match (
        sleep.scheduled_asleep_percent,
        sleep.schedule_saves_monthly_usd,
    ) {
        (Some(percent), Some(saves)) => {
            format!("; its schedule sleeps {percent:.1}% of the week, saving ${saves:.2} a month")
        }
        _ => String::new(),
    };
    println!(
        "sleep        {now}; asleep it saves ${:.2} a month{schedule}",
        sleep.saves_per_month_asleep_usd
    );
}

pub fn running(estimate: &Estimate) {
    let parts: Vec<String> = estimate
        .components
        .iter()
        .filter(|c| c.monthly_usd > 0.0)
        .map(|c| format!("{} {:.2}", c.component.name(), c.monthly_usd))
        .collect();
    println!(
        "cost         ${:.2} a month running (list prices of {}, {}){}{}",
        estimate.monthly_usd,
        estimate.prices_of,
        estimate.region,
        if parts.is_empty() {
            String::new()
        } else {
            format!(": {}", parts.join(", "))
        },
        if estimate.unpriced.is_empty() {
            String::new()
        } else {
            format!("; not priced: {}", estimate.unpriced.join(", "))
        }
    );
}
