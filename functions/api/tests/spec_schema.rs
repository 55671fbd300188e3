//! The spec's JSON Schema (`contracts/environment.schema.json`) and its reference page
//! (`docs/spec-reference.md`) are generated from the types, and every example spec passes
//! an independent validator (PyPI's check-jsonschema) against it; a spec the API refuses
//! for a rule the schema states is refused by that validator too.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Keeps `relative` equal to `generated`; `STRATA_WRITE_OPENAPI=1` rewrites it.
fn in_step(relative: &str, generated: &str) {
    let path = root().join(relative);
    if std::env::var_os("STRATA_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{relative}: differs from the spec's types; run STRATA_WRITE_OPENAPI=1 cargo test -p strata-api --test spec_schema"
    );
}

fn schema_text() -> String {
    serde_json::to_string_pretty(&strata_api_types::schema::environment()).unwrap() + "\n"
}

#[test]
fn the_schema_and_the_reference_page_are_generated_from_the_types() {
    let schema = strata_api_types::schema::environment();
    in_step("contracts/environment.schema.json", &schema_text());
    let page = strata_api_types::reference::markdown(&schema);
    in_step("docs/spec-reference.md", &page);
    // Every section of the spec has its table, with the rules the API enforces.
    for needle in [
        "## EnvironmentSpec",
        "## ServiceSpec",
        "## CustomComponentSpec",
        "| `services` | array of [ServiceSpec](#servicespec) | required | items ≥ 1; items ≤ 25 |",
        "| `azCount` | integer | `2` | ≥ 2; ≤ 6 |",
        "| `perAz` |",
    ] {
        assert!(
            page.contains(needle),
            "docs/spec-reference.md lacks {needle:?}"
        );
    }
}

/// check-jsonschema from its pinned venv (installed on first use, as the template linters
/// are): a missing validator fails the test.
fn check_jsonschema(files: &[&Path]) -> std::process::Output {
    let root = root();
    let bin = Command::new("bash")
        .current_dir(&root)
        .args([
            "-c",
            ". scripts/lib/venv.sh && venv check-jsonschema contracts/check-jsonschema.txt",
        ])
        .output()
        .expect("bash runs");
    assert!(
        bin.status.success(),
        "installing check-jsonschema: {}",
        String::from_utf8_lossy(&bin.stderr)
    );
    let bin = String::from_utf8(bin.stdout).unwrap();
    Command::new(format!("{}/check-jsonschema", bin.trim()))
        .arg("--schemafile")
        .arg(root.join("contracts/environment.schema.json"))
        .args(files)
        .output()
        .expect("check-jsonschema runs")
}

#[test]
fn every_example_passes_an_independent_validator_and_a_broken_one_does_not() {
    let examples = root().join("examples");
    let dir = tempfile::tempdir().unwrap();
    let largest = dir.path().join("largest.json");
    std::fs::write(
        &largest,
        strata_testkit::examples::largest().to_json().to_string(),
    )
    .unwrap();
    let staging = examples.join("staging.yaml");
    let preview = examples.join("preview.json");
    let out = check_jsonschema(&[&staging, &preview, &largest]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Each example names the schema for editors (yaml-language-server's modeline).
    let text = std::fs::read_to_string(&staging).unwrap();
    assert!(
        text.starts_with("# yaml-language-server: $schema=../contracts/environment.schema.json"),
        "examples/staging.yaml has no schema modeline"
    );

    // What the schema states, the validator refuses: a 26th service, an unknown enum value,
    // an environment name too long, a missing region.
    let mut spec = strata_testkit::examples::largest().to_json();
    let first = spec["spec"]["app"]["services"][0].clone();
    spec["spec"]["app"]["services"]
        .as_array_mut()
        .unwrap()
        .push(first);
    spec["spec"]["network"]["natGateways"] = "everywhere".into();
    spec["metadata"]["name"] = "a-name-longer-than-twenty-four".into();
    spec["spec"].as_object_mut().unwrap().remove("region");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, spec.to_string()).unwrap();
    let out = check_jsonschema(&[&broken]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{said}");
    for field in ["services", "natGateways", "name", "region"] {
        assert!(
            said.contains(field),
            "check-jsonschema did not name {field}: {said}"
        );
    }
}
