//! The example specs (`examples/` at the workspace root), by name.

use std::path::{Path, PathBuf};

use strata_core::Environment;
use strata_core::spec::{DatabaseOnDelete, StorageOnDelete};

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
    Staging::new().side_by_side(name).build()
}

/// The staging example with a few fields changed, said in one expression instead of a
/// clone of [`staging`] and then a line per field:
/// `Staging::new().named("x").ttl(Some("2h")).build()`. [`with`](Self::with) makes any
/// other change.
#[derive(Debug, Clone)]
pub struct Staging(Environment);

impl Default for Staging {
    fn default() -> Self {
        Self::new()
    }
}

impl Staging {
    /// `examples/staging.yaml` as it is.
    pub fn new() -> Self {
        Self(staging())
    }

    /// Named `name` (`metadata.name`); its DNS name stays the example's.
    pub fn named(mut self, name: &str) -> Self {
        self.0.metadata.name = name.to_owned();
        self
    }

    /// Named `name` with a DNS name of its own (`<name>.example.com`), to stand side by
    /// side with other environments on one local stack ([`example_as`]).
    pub fn side_by_side(self, name: &str) -> Self {
        self.named(name).dns(&format!("{name}.example.com"))
    }

    /// The DNS name (`spec.dns.name`).
    pub fn dns(mut self, name: &str) -> Self {
        self.0.spec.dns.as_mut().unwrap().name = name.to_owned();
        self
    }

    /// The lifetime (`spec.ttl`); `None` for none.
    pub fn ttl(mut self, ttl: Option<&str>) -> Self {
        self.0.spec.ttl = ttl.map(str::to_owned);
        self
    }

    /// How often sync looks at it (`spec.sync.every`).
    pub fn sync_every(mut self, every: &str) -> Self {
        self.0.spec.sync.every = every.to_owned();
        self
    }

    /// The network's CIDR (`spec.network.cidr`).
    pub fn cidr(mut self, cidr: &str) -> Self {
        self.0.spec.network.cidr = cidr.to_owned();
        self
    }

    /// What a delete does to the buckets (`spec.storage.onDelete`).
    pub fn storage_on_delete(mut self, on_delete: StorageOnDelete) -> Self {
        self.0.spec.storage.as_mut().unwrap().on_delete = on_delete;
        self
    }

    /// What a delete does to the database (`spec.database.onDelete`).
    pub fn database_on_delete(mut self, on_delete: DatabaseOnDelete) -> Self {
        self.0.spec.database.as_mut().unwrap().on_delete = on_delete;
        self
    }

    /// Any other change.
    pub fn with(mut self, change: impl FnOnce(&mut Environment)) -> Self {
        change(&mut self.0);
        self
    }

    pub fn build(self) -> Environment {
        self.0
    }
}

/// `examples/staging.yaml` as a JSON value, unchecked: the raw document a test edits to
/// break one field at a time.
pub fn staging_value() -> serde_json::Value {
    serde_yaml_ng::from_str(&staging_text()).expect("examples/staging.yaml is YAML")
}

/// The largest spec the API accepts: the staging example with every list at its most
/// (`strata_core::MAX_SERVICES` services of `MAX_ENV_VARS` variables each, `MAX_BUCKETS`
/// buckets, `MAX_CUSTOM_COMPONENTS` custom components, all in one stage) and every name at
/// its longest. What the quota tests measure state data and payloads against.
pub fn largest() -> Environment {
    use strata_core::custom::{CloudFormationSpec, CustomComponentSpec};
    use strata_core::spec::{BucketSpec, EnvVar};
    let padded = |prefix: String, len: usize, fill: char| {
        let mut name = prefix;
        while name.len() < len {
            name.push(fill);
        }
        name
    };
    let name = "largest-spec-environment";
    assert_eq!(name.len(), strata_core::MAX_ENVIRONMENT_NAME);
    Staging::new()
        .side_by_side(name)
        .with(|env| {
            let storage = env.spec.storage.as_mut().unwrap();
            // strata-<environment>-<bucket> is at most 63 characters.
            let bucket_len = 63 - format!("strata-{name}-").len();
            storage.buckets = (0..strata_core::MAX_BUCKETS)
                .map(|i| BucketSpec {
                    name: padded(format!("b{i:02}"), bucket_len, 'x'),
                    versioning: true,
                })
                .collect();
            let template = env.spec.app.services[1].clone();
            let services = &mut env.spec.app.services;
            for service in services.iter_mut() {
                service.env.clear();
            }
            while services.len() < strata_core::MAX_SERVICES {
                let mut service = template.clone();
                service.name = padded(format!("s{:02}-", services.len()), 30, 'x');
                services.push(service);
            }
            for service in services.iter_mut() {
                service.env = (0..strata_core::MAX_ENV_VARS)
                    .map(|j| EnvVar {
                        name: padded(format!("VAR_{j:02}_"), 40, 'X'),
                        value: Some("v".repeat(32)),
                        secret_arn: None,
                        from_output: None,
                    })
                    .collect();
            }
            env.spec.components = (0..strata_core::MAX_CUSTOM_COMPONENTS)
                .map(|i| CustomComponentSpec {
                    name: padded(format!("c{i:02}-"), 24, 'x'),
                    depends_on: vec!["dns".into()],
                    inputs: Default::default(),
                    cloud_formation: Some(CloudFormationSpec {
                        template: None,
                        template_url: Some(
                            "https://s3.amazonaws.com/strata-templates/queue.yaml".into(),
                        ),
                    }),
                    lambda: None,
                })
                .collect();
        })
        .build()
}
