//! The crate graph the layout promises (ARCHITECTURE.md): every crate is named `strata-*`;
//! a Lambda crate (functions/) links only libraries (crates/), never another Lambda's crate,
//! and nothing but the end-to-end tests depends on a Lambda crate — no library, not even for
//! its tests.

use serde_json::Value;
use std::path::Path;

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(cargo)
        .current_dir(&root)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata answers JSON")
}

#[test]
fn lambda_crates_depend_on_libraries_only() {
    let metadata = metadata();
    let root = metadata["workspace_root"].as_str().unwrap().to_owned();
    let packages = metadata["packages"].as_array().unwrap();
    let folder = |p: &Value| {
        let manifest = p["manifest_path"].as_str().unwrap();
        let relative = manifest
            .strip_prefix(&root)
            .unwrap()
            .trim_start_matches('/');
        relative.split('/').next().unwrap().to_owned()
    };
    let in_folder = |name: &str| -> Vec<&str> {
        packages
            .iter()
            .filter(|p| folder(p) == name)
            .map(|p| p["name"].as_str().unwrap())
            .collect()
    };
    let lambdas = in_folder("functions");
    let libraries = in_folder("crates");
    let workspace: Vec<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        lambdas.len() >= 11,
        "the Lambda crates under functions/: {lambdas:?}"
    );

    let mut wrong = Vec::new();
    for package in packages {
        let name = package["name"].as_str().unwrap();
        if !name.starts_with("strata-") {
            wrong.push(format!("{name}: not named strata-*"));
        }
        let home = folder(package);
        for dependency in package["dependencies"].as_array().unwrap() {
            let on = dependency["name"].as_str().unwrap();
            let kind = dependency["kind"].as_str().unwrap_or("normal");
            // What a function ships links libraries only (its tests may use the local stack).
            if home == "functions"
                && kind != "dev"
                && workspace.contains(&on)
                && !libraries.contains(&on)
            {
                wrong.push(format!(
                    "{name} (functions/) links {on}, which is not a library"
                ));
            }
            // Fixtures reach tests only: a dev-dependency, or behind a `testing` feature.
            let optional = dependency["optional"].as_bool().unwrap_or(false);
            if on == "strata-testkit" && kind != "dev" && !optional {
                wrong.push(format!("{name} links the test kit ({kind})"));
            }
            if !lambdas.contains(&on) {
                continue;
            }
            // The end-to-end tests drive the app and config handlers directly (manifests, a rollback).
            // A Lambda crate's own tests may turn on its own `testing` feature (its in-memory
            // fakes) by a dev-dependency on itself: that is no other Lambda's crate.
            let allowed = kind == "dev" && (home == "tests" || on == name);
            if !allowed {
                wrong.push(format!(
                    "{name} ({home}/) depends on the Lambda crate {on} ({kind})"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the crate graph breaks the layout:\n{}",
        wrong.join("\n")
    );
}
