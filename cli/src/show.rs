//! Tables for people; `-o json|yaml` prints the API's own answer instead.

use serde_json::Value;

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn pairs(map: &Value) -> Vec<String> {
    map.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect()
}

/// One environment: state, components with their resources and outputs, ingress URLs and
/// credential references.
pub fn environment(body: &Value) {
    let status = &body["status"];
    println!("environment  {}", text(&body["name"]));
    println!("state        {}", text(&status["state"]));
    println!("message      {}", text(&status["message"]));
    println!(
        "generation   {} (observed {})",
        text(&body["generation"]),
        text(&status["observedGeneration"])
    );
    if let Some(running) = body["runningExecution"].as_str() {
        println!("running      {running}");
    } else if let Some(last) = status["operation"]["execution"].as_str() {
        println!("last run     {last}");
    }
    println!(
        "\n{:<10} {:<10} {:<4} resources / outputs",
        "COMPONENT", "PHASE", "GEN"
    );
    // In graph order, the order they are created in.
    for component in strata_core::Component::ALL.map(|c| c.name()) {
        let c = &status["components"][component];
        if c.is_null() {
            continue;
        }
        let ids = pairs(&c["resourceIds"]);
        println!(
            "{component:<10} {:<10} {:<4} {}",
            text(&c["phase"]),
            text(&c["observedGeneration"]),
            ids.join(" ")
        );
        for output in pairs(&c["outputs"])
            .into_iter()
            .filter(|o| !ids.contains(o))
        {
            println!("{:<26} {output}", "");
        }
        if let Some(error) = c["lastError"].as_str() {
            println!("{:<26} error: {error}", "");
        }
    }
    for url in status["ingressUrls"].as_array().into_iter().flatten() {
        println!("ingress      {}", text(url));
    }
    for credential in status["credentials"].as_array().into_iter().flatten() {
        println!(
            "credential   {} {}",
            text(&credential["name"]),
            text(&credential["arn"])
        );
    }
    for update in status["imageUpdates"].as_array().into_iter().flatten() {
        println!(
            "update       {} {} -> {}",
            text(&update["service"]),
            text(&update["deployed"]),
            text(&update["available"])
        );
    }
    for drift in status["drift"].as_array().into_iter().flatten() {
        println!(
            "drift        {} {}",
            text(&drift["component"]),
            text(&drift["drift"])
        );
    }
    if let Some(items) = status["inventory"].as_array() {
        // By type: the whole list is in `-o json`.
        let mut kinds = std::collections::BTreeMap::<String, usize>::new();
        for item in items {
            *kinds.entry(text(&item["resourceType"])).or_default() += 1;
        }
        let omitted = status["inventoryOmitted"].as_u64().unwrap_or(0);
        println!(
            "inventory    {} resources{}: {}",
            items.len() as u64 + omitted,
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

pub fn list(items: &Value) {
    println!(
        "{:<26} {:<12} {:<4} {:<20} MESSAGE",
        "NAME", "STATE", "GEN", "UPDATED"
    );
    for item in items.as_array().into_iter().flatten() {
        println!(
            "{:<26} {:<12} {:<4} {:<20} {}",
            text(&item["name"]),
            text(&item["state"]),
            text(&item["generation"]),
            item["updatedAt"].as_u64().map_or("-".to_owned(), utc),
            text(&item["message"])
        );
    }
}

pub fn history(items: &Value) {
    println!("{:<20} {:<18} {:<34} MESSAGE", "AT", "EVENT", "BY");
    for event in items.as_array().into_iter().flatten() {
        println!(
            "{:<20} {:<18} {:<34} {}",
            event["at"].as_u64().map_or("-".to_owned(), utc),
            text(&event["kind"]),
            text(&event["actor"]),
            text(&event["message"])
        );
    }
}

/// What a cancel stopped.
pub fn cancelled(name: &str, body: &Value) {
    let Some(execution) = body["cancelled"].as_str() else {
        println!("{name}: {}", text(&body["message"]));
        return;
    };
    println!("{name}: {execution} cancelled ({})", text(&body["ended"]));
    for component in body["inFlight"].as_array().into_iter().flatten() {
        println!(
            "  in flight: {:<9} {}",
            text(&component["component"]),
            text(&component["phase"])
        );
    }
    println!("{name}: Cancelled; apply or delete resumes from here");
}

/// What one sync found, from its `Synced` event and the status it recorded: drift by field
/// path, newer images, what it started, what it could not read.
pub fn sync(name: &str, event: &Value, status: &Value) {
    let message = text(&event["message"]);
    let execution = event["execution"].as_str();
    if let Some(ttl) = execution.filter(|e| e.starts_with("ttl-")) {
        println!("{name}: the TTL ran out; environment-down started ({ttl})");
        return;
    }
    if message.starts_with("skipped") {
        println!("{name}: {message}");
        return;
    }
    let drift = status["drift"].as_array().map_or(&[][..], Vec::as_slice);
    let updates = status["imageUpdates"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    if drift.is_empty() && updates.is_empty() {
        println!("{name}: in sync");
    }
    for component in drift {
        let which = text(&component["component"]);
        for field in component["fields"].as_array().into_iter().flatten() {
            println!(
                "drifted   {which:<9} {}: expected {}, observed {}",
                text(&field["path"]),
                text(&field["expected"]),
                text(&field["observed"])
            );
        }
        for resource in component["resources"].as_array().into_iter().flatten() {
            println!("missing   {which:<9} {}", text(resource));
        }
    }
    for update in updates {
        println!(
            "update    {:<9} {} -> {}",
            text(&update["service"]),
            text(&update["deployed"]),
            text(&update["available"])
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

pub fn plan(body: &Value) {
    println!(
        "{}: {} (stored generation {})",
        text(&body["environment"]),
        text(&body["summary"]),
        text(&body["generation"])
    );
    for component in body["plan"]["components"].as_array().into_iter().flatten() {
        if component["action"] == "noOp" {
            continue;
        }
        let because: Vec<String> = component["becauseOf"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        println!(
            "  {:<9} {}{}",
            text(&component["component"]),
            text(&component["action"]),
            if because.is_empty() {
                String::new()
            } else {
                format!(" (because of {})", because.join(", "))
            }
        );
        for change in component["changes"].as_array().into_iter().flatten() {
            println!(
                "      {}: {} -> {} ({}: {})",
                text(&change["field"]),
                text(&change["from"]),
                text(&change["to"]),
                text(&change["effect"]),
                text(&change["why"])
            );
        }
    }
    if body["deployOnly"] == true {
        println!("only the application layer changes");
    }
    if let Some(refused) = body["refused"].as_array().filter(|r| !r.is_empty()) {
        let names: Vec<String> = refused.iter().map(text).collect();
        println!(
            "refused: {} would lose data; apply with --allow-recreate {} to go ahead",
            names.join(", "),
            names.join(",")
        );
    }
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
