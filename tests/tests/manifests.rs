//! Every manifest Strata generates, checked against the official Kubernetes JSON schemas
//! (`kubernetes-validate --strict`, from the local stack's venv): a field misspelt or in the
//! wrong place fails here, not in a cluster.

use std::collections::BTreeMap;

use strata_app::Wiring;
use strata_config::DatabaseConnection;
use strata_core::spec::DatabaseEngine;
use strata_testkit::staging;

#[test]
fn generated_manifests_validate_against_the_kubernetes_schemas() {
    let env = staging();
    let ns = env.name();
    let values: BTreeMap<String, String> = [("PAYMENTS_API_KEY".to_owned(), "x".to_owned())].into();
    let buckets: BTreeMap<String, String> =
        [("assets".to_owned(), "strata-staging-assets".to_owned())].into();
    let mut manifests = vec![
        strata_config::namespace(ns),
        strata_config::ingress_class(ns),
        strata_config::database_secret(
            ns,
            &DatabaseConnection {
                engine: DatabaseEngine::Postgres,
                host: "db.local",
                port: "5432",
                user: "strata",
                password: "p@ss word",
            },
        ),
        strata_config::service_env_secret(ns, "api", &values),
        strata_config::storage_config_map(ns, &buckets),
    ];
    let wiring = Wiring {
        database: true,
        storage: true,
    };
    for service in &env.spec.app.services {
        manifests.push(strata_config::service_account(ns, &service.name));
        for color in [None, Some("blue")] {
            manifests.push(strata_app::deployment(ns, service, color, "1.4.0", wiring));
            manifests.push(strata_app::service(ns, service, color));
        }
        manifests.extend(strata_app::migration_job(ns, service, "2.3.0", wiring));
    }
    assert_eq!(manifests.len(), 5 + 2 * 5 + 1);

    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = manifests
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let path = dir
                .path()
                .join(format!("{i:02}-{}.json", m["kind"].as_str().unwrap()));
            std::fs::write(&path, m.to_string()).unwrap();
            path
        })
        .collect();
    let tool = strata_localstack::python_tool("kubernetes-validate").unwrap();
    let output = std::process::Command::new(&tool)
        .args(["--strict", "--kubernetes-version", "1.33.0"])
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", tool.display()));
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{report}");
    assert_eq!(
        report.matches(" passed for resource ").count(),
        files.len(),
        "{report}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
