use serde_json::{Value, json};
use strata_core::{Environment, SpecError};
use strata_testkit::examples;

/// Sets (or, with `None`, removes) the value at a path such as `spec.app.services[1].port`.
fn set(doc: &mut Value, path: &str, value: Option<Value>) {
    let mut parts: Vec<String> = Vec::new();
    for part in path.split('.') {
        match part.split_once('[') {
            Some((key, index)) => {
                parts.push(key.to_owned());
                parts.push(index.trim_end_matches(']').to_owned());
            }
            None => parts.push(part.to_owned()),
        }
    }
    let last = parts.pop().unwrap();
    let mut node = doc;
    for part in &parts {
        node = match part.parse::<usize>() {
            Ok(i) => &mut node[i],
            Err(_) => &mut node[part.as_str()],
        };
    }
    match value {
        Some(v) => match last.parse::<usize>() {
            Ok(i) => node[i] = v,
            Err(_) => node[last.as_str()] = v,
        },
        None => {
            node.as_object_mut().unwrap().remove(&last);
        }
    }
}

fn errors_of(doc: Value) -> Vec<(String, String)> {
    match Environment::from_value(doc) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .field_errors()
            .into_iter()
            .map(|f| (f.path, f.message))
            .collect(),
    }
}

#[test]
fn the_examples_are_valid() {
    let staging = strata_testkit::staging();
    assert_eq!(staging.name(), "staging");
    assert_eq!(staging.spec.app.services.len(), 2);
    let preview = Environment::parse(&examples::text("preview.json")).unwrap();
    assert_eq!(preview.name(), "pr-1234");
    assert!(preview.spec.database.is_none());
    // Defaults are filled in.
    assert_eq!(preview.spec.sync.every, "15m");
    assert_eq!(staging.spec.cluster.node_group.disk_gib, 20);
}

#[test]
fn a_parsed_spec_round_trips_through_json() {
    let staging = strata_testkit::staging();
    let again = Environment::from_value(staging.to_json()).unwrap();
    assert_eq!(staging, again);
}

#[test]
fn each_invalid_field_is_reported_at_its_path() {
    let cases: Vec<(&str, Option<Value>, &str, &str)> = vec![
        (
            "apiVersion",
            Some(json!("strata.dev/v2")),
            "apiVersion",
            "must be",
        ),
        (
            "kind",
            Some(json!("Cluster")),
            "kind",
            "must be Environment",
        ),
        (
            "metadata.name",
            Some(json!("Staging_1")),
            "metadata.name",
            "lowercase",
        ),
        (
            "metadata.name",
            Some(json!("a-very-long-environment-name")),
            "metadata.name",
            "1 to 24",
        ),
        (
            "metadata.name",
            Some(json!("a--b")),
            "metadata.name",
            "two hyphens",
        ),
        (
            "spec.region",
            Some(json!("europe")),
            "spec.region",
            "AWS region",
        ),
        (
            "spec.network.cidr",
            Some(json!("10.40.0.0/8")),
            "spec.network.cidr",
            "/16 and /24",
        ),
        (
            "spec.network.cidr",
            Some(json!("10.40.1.0/16")),
            "spec.network.cidr",
            "host bits",
        ),
        (
            "spec.network.cidr",
            Some(json!("not-a-cidr")),
            "spec.network.cidr",
            "IPv4 CIDR",
        ),
        (
            "spec.network.azCount",
            Some(json!(1)),
            "spec.network.azCount",
            "between 2 and 6",
        ),
        (
            "spec.network.azCount",
            Some(json!(300)),
            "spec.network.azCount",
            "u8",
        ),
        (
            "spec.network.natGateways",
            Some(json!("many")),
            "spec.network.natGateways",
            "unknown variant",
        ),
        (
            "spec.cluster.version",
            Some(json!("2.0")),
            "spec.cluster.version",
            "MAJOR.MINOR",
        ),
        (
            "spec.cluster.version",
            Some(json!(1.31)),
            "spec.cluster.version",
            "invalid type",
        ),
        (
            "spec.cluster.nodeGroup.instanceTypes",
            Some(json!([])),
            "spec.cluster.nodeGroup.instanceTypes",
            "at least one",
        ),
        (
            "spec.cluster.nodeGroup.instanceTypes[0]",
            Some(json!("huge")),
            "spec.cluster.nodeGroup.instanceTypes[0]",
            "instance type",
        ),
        (
            "spec.cluster.nodeGroup.desiredSize",
            Some(json!(9)),
            "spec.cluster.nodeGroup.desiredSize",
            "between minSize and maxSize",
        ),
        (
            "spec.cluster.nodeGroup.minSize",
            Some(json!(-1)),
            "spec.cluster.nodeGroup.minSize",
            "invalid value",
        ),
        (
            "spec.database.storageGiB",
            Some(json!(10)),
            "spec.database.storageGiB",
            "must be between 20 and 65536",
        ),
        (
            "spec.database.instanceClass",
            Some(json!("t3.micro")),
            "spec.database.instanceClass",
            "RDS instance class",
        ),
        (
            "spec.database.engine",
            Some(json!("oracle")),
            "spec.database.engine",
            "unknown variant",
        ),
        (
            "spec.database.engineVersion",
            Some(json!("latest")),
            "spec.database.engineVersion",
            "version",
        ),
        (
            "spec.database.backupRetentionDays",
            Some(json!(40)),
            "spec.database.backupRetentionDays",
            "0 and 35",
        ),
        (
            "spec.database.onDelete",
            Some(json!("forget")),
            "spec.database.onDelete",
            "unknown variant",
        ),
        (
            "spec.storage.buckets[1].name",
            Some(json!("assets")),
            "spec.storage.buckets[1].name",
            "another bucket",
        ),
        (
            "spec.storage.buckets[0].name",
            Some(json!("Assets")),
            "spec.storage.buckets[0].name",
            "lowercase",
        ),
        (
            "spec.storage.buckets[0].name",
            Some(json!("x".repeat(60))),
            "spec.storage.buckets[0].name",
            "63",
        ),
        (
            "spec.app.services",
            Some(json!([])),
            "spec.app.services",
            "at least one",
        ),
        (
            "spec.app.services[1].name",
            Some(json!("ui")),
            "spec.app.services[1].name",
            "another service",
        ),
        (
            "spec.app.services[0].image",
            Some(json!("shop/ui:1.2.3")),
            "spec.app.services[0].image",
            "tag",
        ),
        (
            "spec.app.services[0].version",
            Some(json!(">>1")),
            "spec.app.services[0].version",
            "semver",
        ),
        (
            "spec.app.services[0].port",
            Some(json!(0)),
            "spec.app.services[0].port",
            "between 1 and 65535",
        ),
        (
            "spec.app.services[0].port",
            Some(json!(70000)),
            "spec.app.services[0].port",
            "u16",
        ),
        (
            "spec.app.services[0].replicas",
            Some(json!(1000)),
            "spec.app.services[0].replicas",
            "0 and 100",
        ),
        (
            "spec.app.services[1].public",
            Some(json!(true)),
            "spec.app.services",
            "at most one",
        ),
        (
            "spec.app.services[0].public",
            Some(json!(false)),
            "spec.dns",
            "public service",
        ),
        (
            "spec.app.services[1].env[0].name",
            Some(json!("1BAD")),
            "spec.app.services[1].env[0].name",
            "C identifier",
        ),
        (
            "spec.app.services[1].env[1].secretArn",
            Some(json!("s3cr3t")),
            "spec.app.services[1].env[1].secretArn",
            "Secrets Manager ARN",
        ),
        (
            "spec.app.services[1].env[0].secretArn",
            Some(json!("arn:aws:secretsmanager:eu-west-1:1:secret:x")),
            "spec.app.services[1].env[0].value",
            "exactly one",
        ),
        (
            "spec.app.services[1].migrate",
            Some(json!([])),
            "spec.app.services[1].migrate",
            "non-empty",
        ),
        (
            "spec.app.services[0].strategy",
            Some(json!("canary")),
            "spec.app.services[0].strategy",
            "unknown variant",
        ),
        (
            "spec.dns.name",
            Some(json!("staging.example.org")),
            "spec.dns.name",
            "inside the zone",
        ),
        (
            "spec.dns.zone",
            Some(json!("localhost")),
            "spec.dns.zone",
            "domain name",
        ),
        (
            "spec.sync.every",
            Some(json!("10s")),
            "spec.sync.every",
            "between 1m and 24h",
        ),
        (
            "spec.ttl",
            Some(json!("forever")),
            "spec.ttl",
            "between 10m and 90d",
        ),
        ("spec.network", None, "spec", "missing field `network`"),
        (
            "spec.network.colour",
            Some(json!("blue")),
            "spec.network.colour",
            "unknown field",
        ),
        (
            "spec.app.services[0].replicaz",
            Some(json!(3)),
            "spec.app.services[0].replicaz",
            "unknown field",
        ),
        (
            "spec.cluster",
            Some(json!("big")),
            "spec.cluster",
            "invalid type: string \"big\", expected struct ClusterSpec",
        ),
        // serde reads a struct from a sequence positionally, so the error lands on the element.
        (
            "spec.cluster",
            Some(json!(["1.31", "a list where a map belongs"])),
            "spec.cluster[1]",
            "expected struct NodeGroupSpec",
        ),
    ];
    for (path, value, expected_path, expected_message) in cases {
        let mut doc = examples::staging_value();
        set(&mut doc, path, value.clone());
        let errors = errors_of(doc);
        assert!(
            errors
                .iter()
                .any(|(p, m)| p == expected_path && m.contains(expected_message)),
            "setting {path} to {value:?}: expected `{expected_path}: ..{expected_message}..`, got {errors:?}"
        );
    }
}

#[test]
fn all_errors_are_reported_at_once() {
    let mut doc = examples::staging_value();
    set(&mut doc, "spec.database.storageGiB", Some(json!(10)));
    set(&mut doc, "spec.network.cidr", Some(json!("10.0.0.1/16")));
    set(&mut doc, "spec.app.services[0].port", Some(json!(0)));
    set(&mut doc, "spec.extra", Some(json!(1)));
    set(&mut doc, "metadata.owner", Some(json!("me")));
    let paths: Vec<String> = errors_of(doc).into_iter().map(|(p, _)| p).collect();
    for expected in [
        "spec.database.storageGiB",
        "spec.network.cidr",
        "spec.app.services[0].port",
        "spec.extra",
        "metadata.owner",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} not in {paths:?}"
        );
    }
}

#[test]
fn the_error_message_reads_path_colon_message() {
    let mut doc = examples::staging_value();
    set(&mut doc, "spec.database.storageGiB", Some(json!(10)));
    let err = Environment::from_value(doc).unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec.database.storageGiB: must be between 20 and 65536"
    );
}

#[test]
fn hostile_documents_fail_cleanly() {
    let huge = "a: ".to_owned() + &"x".repeat(300 * 1024);
    let nested = "[".repeat(100_000);
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n".to_owned()
        + &(b'b'..=b'z')
            .map(|c| {
                let prev = (c - 1) as char;
                format!("{}: &{} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n", c as char, c as char)
            })
            .collect::<String>();
    let binary = String::from_utf8_lossy(&[0u8, 159, 146, 150, 0, 1, 2, 255]).into_owned();
    for (what, text) in [
        ("huge", huge.as_str()),
        ("nested", nested.as_str()),
        ("alias bomb", bomb.as_str()),
        ("binary", binary.as_str()),
        ("a list", "- 1\n- 2\n"),
        ("a scalar", "hello"),
        ("empty", ""),
    ] {
        let result = Environment::parse(text);
        assert!(
            matches!(result, Err(SpecError::Syntax(_) | SpecError::Invalid(_))),
            "{what}: {result:?}"
        );
    }
}

#[test]
fn every_type_error_is_reported_at_once_with_its_path() {
    let mut doc = examples::staging_value();
    set(&mut doc, "spec.database.storageGiB", Some(json!("big")));
    set(&mut doc, "spec.network.azCount", Some(json!([3])));
    set(&mut doc, "spec.app.services[1].replicas", Some(json!(-1)));
    set(&mut doc, "spec.extra", Some(json!(1)));
    let errors = errors_of(doc);
    let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    for expected in [
        "spec.database.storageGiB",
        "spec.network.azCount",
        "spec.app.services[1].replicas",
        "spec.extra",
    ] {
        assert!(paths.contains(&expected), "{expected} not in {errors:?}");
    }
    // Taking a required field out to go on finds nothing more: no "missing field" for it.
    assert!(
        errors.iter().all(|(_, m)| !m.contains("missing field")),
        "{errors:?}"
    );
}
