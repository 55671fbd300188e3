//! Tables for people; `-o json|yaml` prints the API's own answer instead.

use std::collections::BTreeMap;

use strata_api_types::{CancelView, EnvironmentList, EnvironmentView, PlanView};
use strata_core::drift::Observed;
use strata_core::{EnvironmentStatus, Event};

/// A value as the API writes it (`Ready`, `ready`, `noOp`, `database`, …).
pub fn name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

fn pairs(map: &BTreeMap<String, String>) -> Vec<String> {
    map.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// One environment: state, components with their resources and outputs, ingress URLs and
/// credential references.
pub fn environment(view: &EnvironmentView) {
    let status = view.status.as_ref();
    let or_dash = |s: Option<String>| s.unwrap_or_else(|| "-".to_owned());
    println!("environment  {}", view.name);
    if let Some(preview) = &view.spec.spec.preview {
        let share = match preview.share {
            strata_core::spec::Share::Cluster => "runs on its network and cluster",
            strata_core::spec::Share::None => "a full copy",
        };
        println!("preview      of {} ({share})", preview.base);
    }
    println!("state        {}", or_dash(status.map(|s| name(&s.state))));
    println!(
        "message      {}",
        or_dash(status.map(|s| s.message.clone()))
    );
    println!(
        "generation   {} (observed {})",
        view.generation,
        or_dash(status.map(|s| s.observed_generation.to_string()))
    );
    if let Some(running) = &view.running_execution {
        println!("running      {running}");
    } else if let Some(last) = status.and_then(|s| s.operation.as_ref()) {
        println!("last run     {}", last.execution);
    }
    let Some(status) = status else {
        return;
    };
    println!(
        "\n{:<10} {:<10} {:<4} resources / outputs",
        "COMPONENT", "PHASE", "GEN"
    );
    // Strata's own components in graph order (the order they are created in), then the
    // spec's own: the map's order.
    for (component, c) in &status.components {
        let ids = pairs(&c.resource_ids);
        println!(
            "{:<10} {:<10} {:<4} {}",
            component.name(),
            name(&c.phase),
            c.observed_generation,
            ids.join(" ")
        );
        for output in pairs(&c.outputs).into_iter().filter(|o| !ids.contains(o)) {
            println!("{:<26} {output}", "");
        }
        if let Some(error) = &c.last_error {
            println!("{:<26} error: {} ({})", "", error.cause, error.error);
        }
    }
    rest(status);
    if let Some(cost) = &view.cost {
        crate::cost::running(cost);
    }
    if let Some(sleep) = &view.sleep {
        crate::cost::sleep(sleep);
    }
}

/// The status's lists below the components.
fn rest(status: &EnvironmentStatus) {
    for url in &status.ingress_urls {
        println!("ingress      {url}");
    }
    for credential in &status.credentials {
        println!("credential   {} {}", credential.name(), credential.arn());
    }
    for update in &status.image_updates {
        println!(
            "update       {} {} -> {}",
            update.service, update.deployed, update.available
        );
    }
    if let Some(output) = &status.post_deploy_output {
        println!("post-deploy  {output}");
    }
    if let Some(warning) = &status.post_deploy_warning {
        println!("post-deploy  warning: {warning}");
    }
    for drift in &status.drift {
        println!(
            "drift        {} {}",
            drift.component.name(),
            drift_name(&drift.observed)
        );
    }
    if !status.inventory.is_empty() || status.inventory_omitted > 0 {
        // By type: the whole list is in `-o json`.
        let mut kinds = BTreeMap::<&str, usize>::new();
        for item in &status.inventory {
            *kinds.entry(item.resource_type.as_str()).or_default() += 1;
        }
        let omitted = status.inventory_omitted;
        println!(
            "inventory    {} resources{}: {}",
            status.inventory.len() + omitted,
            if omitted > 0 {
                format!(" ({omitted} not listed)")
            } else {
                String::new()
            },
            kinds
                .iter()
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

fn drift_name(observed: &Observed) -> &'static str {
    match observed {
        Observed::InSync => "inSync",
        Observed::Drifted { .. } => "drifted",
        Observed::Missing { .. } => "missing",
        Observed::Unchecked { .. } => "unchecked",
    }
}

pub fn list(list: &EnvironmentList) {
    println!(
        "{:<26} {:<12} {:<4} {:<20} MESSAGE",
        "NAME", "STATE", "GEN", "UPDATED"
    );
    for item in &list.items {
        println!(
            "{:<26} {:<12} {:<4} {:<20} {}",
            item.name,
            item.state.map_or("-".to_owned(), |s| name(&s)),
            item.generation,
            utc(item.updated_at),
            item.message.as_deref().unwrap_or("-")
        );
    }
}

pub fn history(items: &[Event]) {
    println!("{:<20} {:<18} {:<34} MESSAGE", "AT", "EVENT", "BY");
    for event in items {
        println!(
            "{:<20} {:<18} {:<34} {}",
            utc(event.at),
            event.kind,
            event.actor,
            event.message
        );
    }
}

/// What a cancel stopped.
pub fn cancelled(name_: &str, body: &CancelView) {
    let Some(execution) = &body.cancelled else {
        println!("{name_}: {}", body.message);
        return;
    };
    println!(
        "{name_}: {execution} cancelled ({})",
        body.ended.as_deref().unwrap_or("-")
    );
    for component in &body.in_flight {
        println!(
            "  in flight: {:<9} {}",
            component.component.name(),
            name(&component.phase)
        );
    }
    println!("{name_}: Cancelled; apply or delete resumes from here");
}

/// What one sync found, from its `Synced` event and the status it recorded: drift by field
/// path, newer images, what it started, what it could not read.
pub fn sync(env: &str, event: &Event, status: Option<&EnvironmentStatus>) {
    let message = &event.message;
    let execution = event.execution.as_deref();
    if let Some(ttl) = execution.filter(|e| e.starts_with("ttl-")) {
        println!("{env}: the TTL ran out; environment-down started ({ttl})");
        return;
    }
    if message.starts_with("skipped") {
        println!("{env}: {message}");
        return;
    }
    let drift = status.map_or(&[][..], |s| s.drift.as_slice());
    let updates = status.map_or(&[][..], |s| s.image_updates.as_slice());
    if drift.is_empty() && updates.is_empty() {
        println!("{env}: in sync");
    }
    for component in drift {
        let which = component.component.name();
        match &component.observed {
            Observed::Drifted { fields } => {
                for field in fields {
                    println!(
                        "drifted   {which:<9} {}: expected {}, observed {}",
                        field.path, field.expected, field.observed
                    );
                }
            }
            Observed::Missing { resources } => {
                for resource in resources {
                    println!("missing   {which:<9} {resource}");
                }
            }
            Observed::InSync | Observed::Unchecked { .. } => {}
        }
    }
    for update in updates {
        println!(
            "update    {:<9} {} -> {}",
            update.service, update.deployed, update.available
        );
    }
    match execution {
        Some(repair) if repair.starts_with("repair-") => {
            println!("repairing: environment-up started ({repair})");
        }
        Some(rollout) => {
            println!("rolling out: the app-only environment-up started ({rollout})");
        }
        None => {}
    }
    if let Some((_, unreadable)) = message.split_once("; unreadable: ") {
        println!("unreadable {unreadable}");
    }
}

/// What a change set made for the plan says of a stack's resources.
fn change_set(preview: &strata_core::custom::StackPreview) {
    if let Some(why) = &preview.unavailable {
        println!("      change set: not shown ({why})");
    } else if preview.changes.is_empty() {
        println!("      change set: no resource changes");
    }
    for change in &preview.changes {
        let replacement = match change.replacement.as_deref() {
            Some("True") => " (REPLACED: what it holds is lost)",
            Some("Conditional") => " (may be replaced)",
            _ => "",
        };
        println!(
            "      change set: {} {} {}{replacement}",
            change.action, change.logical_id, change.resource_type
        );
    }
}

pub fn plan(body: &PlanView) {
    println!(
        "{}: {} (stored generation {})",
        body.environment, body.summary, body.generation
    );
    if !body.dependents.is_empty() {
        println!(
            "  previews on its cluster: {} (its delete, and a recreate of its network or cluster, wait for them)",
            body.dependents.join(", ")
        );
    }
    for component in &body.plan.components {
        if component.action == strata_core::Action::NoOp {
            continue;
        }
        let because: Vec<&str> = component.because_of.iter().map(|c| c.name()).collect();
        println!(
            "  {:<9} {}{}",
            component.component.name(),
            name(&component.action),
            if because.is_empty() {
                String::new()
            } else {
                format!(" (because of {})", because.join(", "))
            }
        );
        for change in &component.changes {
            println!(
                "      {}: {} -> {} ({}: {})",
                change.field,
                change.from,
                change.to,
                name(&change.effect),
                change.why
            );
        }
        if let Some(preview) = body.change_sets.get(component.component.name()) {
            change_set(preview);
        }
    }
    if body.deploy_only {
        println!("only the application layer changes");
    }
    if !body.refused.is_empty() {
        let names: Vec<&str> = body.refused.iter().map(|c| c.name()).collect();
        println!(
            "refused: {} would lose data; apply with --allow-recreate {} to go ahead",
            names.join(", "),
            names.join(",")
        );
    }
    crate::cost::plan(&body.cost);
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (civil-from-days, proleptic Gregorian).
pub fn utc(secs: u64) -> String {
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::utc(1_795_320_239), "2026-11-22T04:03:59Z");
    }
}
