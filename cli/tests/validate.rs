//! `strata validate`, `strata graph` and `strata schema`, run as a user runs them: offline, by
//! exit code and output.

use std::process::Command;

fn strata(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &std::path::Path, name: &str, content: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

#[test]
fn valid_examples_pass() {
    for example in ["staging.yaml", "preview.json"] {
        let path = strata_testkit::examples::path(example)
            .display()
            .to_string();
        let (code, out, _) = strata(&["validate", "-f", &path]);
        assert_eq!(code, 0, "{example}");
        assert!(out.contains("is valid"), "{out}");
    }
}

#[test]
fn every_error_is_printed_with_its_field_path() {
    let dir = tempfile::tempdir().unwrap();
    let staging = strata_testkit::examples::staging_text();
    let broken = staging
        .replace("cidr: 10.40.0.0/16", "cidr: 10.40.0.0/8")
        .replace("storageGiB: 20", "storageGiB: 10");
    let file = write(dir.path(), "broken.yaml", broken.as_bytes());
    let (code, _, err) = strata(&["validate", "-f", &file]);
    assert_eq!(code, 1);
    assert!(
        err.contains("spec.network.cidr: the prefix must be between /16 and /24"),
        "{err}"
    );
    assert!(
        err.contains("spec.database.storageGiB: must be between 20 and 65536"),
        "{err}"
    );
}

#[test]
fn hostile_files_get_a_clear_error_and_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("huge.yaml", vec![b'a'; 4 * 1024 * 1024], "larger than"),
        ("binary.bin", vec![0, 159, 146, 150, 255, 0], "not UTF-8"),
        (
            "nested.yaml",
            "[".repeat(200_000).into_bytes(),
            "nest deeper",
        ),
        ("list.yaml", b"- 1\n- 2\n".to_vec(), "must be a mapping"),
        ("empty.yaml", Vec::new(), "(document)"),
        (
            "bomb.yaml",
            b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n".to_vec(),
            "(document)",
        ),
    ];
    for (name, content, expected) in cases {
        let file = write(dir.path(), name, &content);
        let (code, _, err) = strata(&["validate", "-f", &file]);
        assert_eq!(code, 1, "{name}: {err}");
        assert!(err.contains(expected), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    let (code, _, err) = strata(&["validate", "-f", "/nonexistent/spec.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("No such file"), "{err}");
}

#[test]
fn graph_prints_every_edge_of_the_component_graph() {
    let (code, out, _) = strata(&["graph"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("flowchart TB"));
    for edge in ["cluster --> network", "config --> storage", "dns --> app"] {
        assert!(out.contains(edge), "{edge}");
    }
    let (code, _, err) = strata(&["unknown"]);
    assert_eq!(code, 2);
    assert!(err.contains("Usage:"), "{err}");
}

#[test]
fn schema_prints_the_published_json_schema() {
    let (code, out, _) = strata(&["schema"]);
    assert_eq!(code, 0);
    let published = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../contracts/environment.schema.json"),
    )
    .unwrap();
    assert_eq!(out, published);
    let schema: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        schema["$id"],
        "https://strata.dev/contracts/environment.schema.json"
    );
}
