//! The example specs (`examples/` at the workspace root), by name.

use std::path::{Path, PathBuf};

use strata_core::Environment;

/// The workspace root: the first directory at or above the package cargo runs the test in
/// that holds `examples/staging.yaml`.
pub fn root() -> PathBuf {
    // `CARGO_MANIFEST_DIR` read at run time, not with `env!`: the directory cargo runs the
    // test in, not the one it was compiled in. A build cache shared between clones must not
    // send a test to another clone's files.
    let start = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    Path::new(&start)
        .ancestors()
        .find(|dir| dir.join("examples").join("staging.yaml").is_file())
        .unwrap_or_else(|| {
            panic!(
                "no directory at or above {start} holds examples/staging.yaml (the workspace root)"
            )
        })
        .to_owned()
}

/// `examples/<name>`'s path.
pub fn path(name: &str) -> PathBuf {
    root().join("examples").join(name)
}

/// `examples/<name>`'s text.
pub fn text(name: &str) -> String {
    let path = path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `examples/staging.yaml`'s text.
pub fn staging_text() -> String {
    text("staging.yaml")
}

/// `examples/staging.yaml`, parsed.
pub fn staging() -> Environment {
    Environment::parse(&staging_text()).expect("examples/staging.yaml is valid")
}

/// The staging example as `name`, with a DNS name of its own (`<name>.example.com`): what
/// a test on the local stack applies, so that its environments do not collide.
pub fn example_as(name: &str) -> Environment {
    let mut env = staging();
    env.metadata.name = name.to_owned();
    env.spec.dns.as_mut().unwrap().name = format!("{name}.example.com");
    env
}

/// `examples/staging.yaml` as a JSON value, unchecked: the raw document a test edits to
/// break one field at a time.
pub fn staging_value() -> serde_json::Value {
    serde_yaml_ng::from_str(&staging_text()).expect("examples/staging.yaml is YAML")
}
